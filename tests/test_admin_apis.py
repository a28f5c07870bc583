"""Kafka's config and cluster-operation APIs as Kafka's own clients and tools use them.

- DescribeConfigs lists every topic config of Kafka 4.1 (`LogConfig`), each with Kafka's
  source, synonyms, type and documentation; AlterConfigs (legacy, what confluent-kafka's
  `alter_configs` sends) replaces a topic's overrides; every config API validates with Kafka's
  messages.
- OffsetForLeaderEpoch answers as a Kafka leader with a single leader epoch.
- The cluster-operation APIs (DescribeTopicPartitions, DescribeLogDirs, DescribeQuorum,
  UpdateFeatures, ElectLeaders, the partition-reassignment APIs) through Kafka's tools
  (kafka-topics, kafka-log-dirs, kafka-metadata-quorum, kafka-leader-election,
  kafka-reassign-partitions, kafka-features), whose output is checked.

Expected values were observed on Apache Kafka 4.1.2 (KRaft, one combined node).
"""

from __future__ import annotations

import json
import re

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

import kafkawire as kw
from helpers import DeliveryLog, admin, create_topic, produce_all, producer
from kafkatools import run_tool

# Kafka 4.1.2's topic configs, as DescribeConfigs lists them.
KAFKA_41_TOPIC_CONFIGS = sorted("""
cleanup.policy compression.gzip.level compression.lz4.level compression.type compression.zstd.level
delete.retention.ms file.delete.delay.ms flush.messages flush.ms follower.replication.throttled.replicas
index.interval.bytes leader.replication.throttled.replicas local.retention.bytes local.retention.ms
max.compaction.lag.ms max.message.bytes message.timestamp.after.max.ms message.timestamp.before.max.ms
message.timestamp.type min.cleanable.dirty.ratio min.compaction.lag.ms min.insync.replicas preallocate
remote.log.copy.disable remote.log.delete.on.disable remote.storage.enable retention.bytes retention.ms
segment.bytes segment.index.bytes segment.jitter.ms segment.ms unclean.leader.election.enable
""".split())

DYNAMIC_TOPIC_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, DEFAULT_CONFIG = 1, 3, 5
BOOLEAN, STRING, INT, LONG, DOUBLE, LIST = 1, 2, 3, 5, 6, 7


def raw_topic_configs(bootstrap: str, topic: str, **kw_args) -> dict:
    host, port = bootstrap.rsplit(":", 1)
    with kw.KafkaConn(host, int(port)) as c:
        [res] = kw.describe_configs_v4(c, [(kw.RESOURCE_TOPIC, topic, None)], **kw_args)
    assert res["error_code"] == 0, res
    return res["configs"]


def test_describe_configs_lists_every_topic_config_like_kafka(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "dc-all", 1, {"retention.ms": "1000", "retention.bytes": "5000"})
    a = admin(bs)
    got = a.describe_configs([ConfigResource("topic", "dc-all")])
    cfgs = list(got.values())[0].result()
    assert sorted(cfgs) == KAFKA_41_TOPIC_CONFIGS
    assert cfgs["compression.zstd.level"].value == "3"
    assert cfgs["local.retention.ms"].value == "-2"
    assert cfgs["remote.storage.enable"].value == "false"

    raw = raw_topic_configs(bs, "dc-all", synonyms=True, docs=True)
    seen = {k: (v["value"], v["source"], v["type"], v["read_only"], v["sensitive"],
                [tuple(s) for s in v["synonyms"]]) for k, v in raw.items()}
    # as Kafka 4.1.2 answers for the same topic
    assert seen["retention.ms"] == ("1000", DYNAMIC_TOPIC_CONFIG, LONG, False, False,
                                    [("retention.ms", "1000", DYNAMIC_TOPIC_CONFIG)])
    assert seen["retention.bytes"] == ("5000", DYNAMIC_TOPIC_CONFIG, LONG, False, False,
                                       [("retention.bytes", "5000", DYNAMIC_TOPIC_CONFIG),
                                        ("log.retention.bytes", "-1", DEFAULT_CONFIG)])
    assert seen["cleanup.policy"] == ("delete", DEFAULT_CONFIG, LIST, False, False,
                                      [("log.cleanup.policy", "delete", DEFAULT_CONFIG)])
    assert seen["segment.ms"] == ("604800000", DEFAULT_CONFIG, LONG, False, False, [])
    assert seen["min.insync.replicas"] == ("1", DYNAMIC_DEFAULT_BROKER_CONFIG, INT, False, False,
                                           [("min.insync.replicas", "1", DYNAMIC_DEFAULT_BROKER_CONFIG),
                                            ("min.insync.replicas", "1", DEFAULT_CONFIG)])
    assert seen["compression.gzip.level"] == ("-1", DEFAULT_CONFIG, INT, False, False,
                                              [("compression.gzip.level", "-1", DEFAULT_CONFIG)])
    assert seen["min.cleanable.dirty.ratio"][2] == DOUBLE
    assert seen["preallocate"][2] == BOOLEAN and seen["compression.type"][2] == STRING
    assert seen["remote.log.copy.disable"] == ("false", DEFAULT_CONFIG, BOOLEAN, False, False, [])
    assert all(v["doc"] for v in raw.values()), "documentation was asked for"
    # without synonyms and documentation: neither
    bare = raw_topic_configs(bs, "dc-all")
    assert all(v["synonyms"] == [] and v["doc"] is None for v in bare.values())
    # broker "" is the cluster-wide dynamic defaults
    host, port = bs.rsplit(":", 1)
    with kw.KafkaConn(host, int(port)) as c:
        [res] = kw.describe_configs_v4(c, [(kw.RESOURCE_BROKER, "", None)], synonyms=True)
    assert {k: (v["value"], v["source"]) for k, v in res["configs"].items()} == {
        "min.insync.replicas": ("1", DYNAMIC_DEFAULT_BROKER_CONFIG)}


@pytest.mark.parametrize("name,value,message", [
    ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
    ("retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
    ("segment.bytes", "100", "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576"),
    ("min.cleanable.dirty.ratio", "2",
     "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("cleanup.policy", "foo", "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"),
    ("compression.gzip.level", "10",
     "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
    ("compression.lz4.level", "0", "Invalid value 0 for configuration compression.lz4.level: Value must be at least 1"),
    ("remote.storage.enable", "true",
     "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."),
    ("preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"),
    ("no.such", "1", "Unknown topic config name: no.such"),
])
def test_config_validation_uses_kafkas_messages(sluice_dev, name, value, message):
    bs = sluice_dev.bootstrap
    create_topic(bs, "dc-valid", 1)
    a = admin(bs)
    r = ConfigResource("topic", "dc-valid",
                       incremental_configs=[ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        list(a.incremental_alter_configs([r], validate_only=True).values())[0].result()
    assert (e.value.args[0].code(), e.value.args[0].str()) == (40, message)
    # the same check on CreateTopics
    with pytest.raises(KafkaException) as e:
        create_topic(bs, "dc-valid-new", 1, {name: value})
    assert (e.value.args[0].code(), e.value.args[0].str()) == (40, message)


def test_legacy_alter_configs_replaces_the_overrides(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "dc-legacy", 1, {"retention.bytes": "1000", "segment.ms": "5000"})
    a = admin(bs)
    # confluent-kafka's alter_configs sends AlterConfigs (33): the set given replaces the overrides
    r = ConfigResource("topic", "dc-legacy", set_config={"retention.ms": "5000", "compression.zstd.level": "7"})
    list(a.alter_configs([r]).values())[0].result()
    overrides = {k: v["value"] for k, v in raw_topic_configs(bs, "dc-legacy").items()
                 if v["source"] == DYNAMIC_TOPIC_CONFIG}
    assert overrides == {"retention.ms": "5000", "compression.zstd.level": "7"}
    host, port = bs.rsplit(":", 1)
    with kw.KafkaConn(host, int(port)) as c:
        for version in (0, 1, 2):
            assert kw.alter_configs(c, [(2, "dc-legacy", {"retention.ms": None})], version=version) == [
                (42, "Null value not supported for : retention.ms", 2, "dc-legacy")]
        assert kw.alter_configs(c, [(2, "dc-legacy", {"retention.ms": "-5"})]) == [
            (40, "Invalid value -5 for configuration retention.ms: Value must be at least -1", 2, "dc-legacy")]
        assert kw.alter_configs(c, [(2, "nosuch", {"retention.ms": "1"})]) == [
            (3, "The topic 'nosuch' does not exist.", 2, "nosuch")]
        assert kw.alter_configs(c, [(2, "", {"retention.ms": "1"})]) == [
            (42, "Default topic resources are not allowed.", 2, "")]
        assert kw.alter_configs(c, [(2, "dc-legacy", {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})]) == [
            (40, "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)", 2, "dc-legacy")]
        # validate_only changes nothing; an empty set removes every override
        assert kw.alter_configs(c, [(2, "dc-legacy", {})], validate_only=True) == [(0, None, 2, "dc-legacy")]
        assert kw.alter_configs(c, [(2, "dc-legacy", {})], version=0) == [(0, None, 2, "dc-legacy")]
    assert all(v["source"] != DYNAMIC_TOPIC_CONFIG for v in raw_topic_configs(bs, "dc-legacy").values())


def test_offset_for_leader_epoch_as_a_single_epoch_leader(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "ofle", 2)
    log = DeliveryLog()
    produce_all(producer(bs), [(i, "ofle", 0, None, b"v", None, None) for i in range(5)], log)
    assert log.errors() == {}
    host, port = bs.rsplit(":", 1)
    with kw.KafkaConn(host, int(port)) as c:
        # (partition, current_leader_epoch, leader_epoch) -> (error, partition, epoch, end offset)
        assert kw.offset_for_leader_epoch_v4(c, "ofle", [(0, 0, 0), (1, -1, 0), (0, -1, 1), (0, -1, -1)]) == [
            (0, 0, 0, 5), (0, 1, 0, 0), (0, 0, -1, -1), (0, 0, -1, -1)]
        assert kw.offset_for_leader_epoch_v4(c, "ofle", [(0, 1, 0), (2, -1, 0)]) == [
            (75, 0, -1, -1), (3, 2, -1, -1)]  # UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION
        assert kw.offset_for_leader_epoch_v4(c, "nosuch", [(0, -1, 0)]) == [(3, 0, -1, -1)]


def test_every_cluster_api_is_advertised(sluice_dev):
    host, port = sluice_dev.bootstrap.rsplit(":", 1)
    with kw.KafkaConn(host, int(port)) as c:
        keys = kw.api_versions(c)
    # the ranges Kafka 4.1 advertises
    assert {k: keys.get(k) for k in (33, 23, 75, 35, 55, 57, 43, 45, 46)} == {
        33: (0, 2), 23: (2, 4), 75: (0, 0), 35: (1, 4), 55: (0, 2), 57: (0, 2), 43: (0, 2), 45: (0, 1), 46: (0, 0)}


# ---------------------------------------------------------------- Kafka's tools


def broker_id(bootstrap: str) -> int:
    [b] = admin(bootstrap).list_topics(timeout=30).brokers
    return b


def tool(name: str, bootstrap: str, *args: str) -> str:
    return run_tool(name, "--bootstrap-server", bootstrap, *args, check=True).stdout


def test_kafka_topics_describe_uses_describe_topic_partitions(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "tools-a", 3)
    out = tool("kafka-topics", bs, "--describe", "--topic", "tools-a")
    assert re.search(r"Topic: tools-a\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1", out), out
    leaders = re.findall(r"Partition: (\d)\tLeader: (\d+)\tReplicas: (\d+)\tIsr: (\d+)", out)
    assert [p for p, *_ in leaders] == ["0", "1", "2"], out
    assert all(l == r == i for _, l, r, i in leaders), out


def test_kafka_log_dirs(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "tools-logdirs", 2)
    log = DeliveryLog()
    produce_all(producer(bs), [(i, "tools-logdirs", 0, None, b"x" * 100, None, None) for i in range(10)], log)
    assert log.errors() == {}
    out = tool("kafka-log-dirs", bs, "--describe", "--topic-list", "tools-logdirs")
    doc = json.loads(out.strip().splitlines()[-1])
    [broker] = doc["brokers"]
    [d] = broker["logDirs"]
    assert d["error"] is None and d["logDir"].startswith("file://"), d
    parts = {p["partition"]: p for p in d["partitions"]}
    assert sorted(parts) == ["tools-logdirs-0", "tools-logdirs-1"]
    assert parts["tools-logdirs-0"]["size"] > 1000 and parts["tools-logdirs-1"]["size"] == 0
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in parts.values())


def test_kafka_metadata_quorum(sluice_dev):
    bs = sluice_dev.bootstrap
    out = tool("kafka-metadata-quorum", bs, "describe", "--status")
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", out, re.M))
    assert fields["LeaderId"] == "1", out
    assert int(fields["LeaderEpoch"]) >= 1 and int(fields["HighWatermark"]) > 0, out
    assert fields["MaxFollowerLag"] == "0", out
    voters = json.loads(fields["CurrentVoters"])
    assert [v["id"] for v in voters] == [1] and voters[0]["endpoints"][0].startswith("CONTROLLER://"), out
    assert fields["CurrentObservers"] == "[]"
    out = tool("kafka-metadata-quorum", bs, "describe", "--replication")
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert len(rows) == 1 and rows[0][0] == "1" and rows[0][-1] == "Leader", out


def test_kafka_three_node_quorum_status(cluster, tmp_path):
    nodes = cluster.meta_quorum(3)
    objects = tmp_path / "objects"
    objects.mkdir()
    a = cluster.agent(",".join(n.url for n in nodes), objects, 1, "agent-q")
    out = tool("kafka-metadata-quorum", a.bootstrap, "describe", "--replication")
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert sorted(r[0] for r in rows) == ["1", "2", "3"], out
    assert sorted(r[-1] for r in rows) == ["Follower", "Follower", "Leader"], out


def test_kafka_leader_election(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "tools-elect", 2)
    out = tool("kafka-leader-election", bs, "--election-type", "preferred",
               "--topic", "tools-elect", "--partition", "1")
    assert out.strip() == "Valid replica already elected for partitions tools-elect-1"
    out = tool("kafka-leader-election", bs, "--election-type", "unclean",
               "--all-topic-partitions")
    assert out.strip() == ""  # nothing needed electing
    r = run_tool("kafka-leader-election", "--bootstrap-server", bs,
                 "--election-type", "preferred", "--topic", "nosuch", "--partition", "0")
    assert ("Error completing leader election (PREFERRED) for partition: nosuch-0: "
            "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such topic as nosuch") in r.stdout + r.stderr


def test_kafka_reassign_partitions(sluice_dev, tmp_path):
    bs = sluice_dev.bootstrap
    create_topic(bs, "tools-move", 1)
    assert tool("kafka-reassign-partitions", bs, "--list").strip() == \
        "No partition reassignments found."
    same = tmp_path / "same.json"
    same.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": "tools-move", "partition": 0, "replicas": [broker_id(bs)]}]}))
    out = tool("kafka-reassign-partitions", bs, "--execute",
               "--reassignment-json-file", str(same))
    assert "Successfully started partition reassignment for tools-move-0" in out
    out = tool("kafka-reassign-partitions", bs, "--verify",
               "--reassignment-json-file", str(same))
    assert "Reassignment of partition tools-move-0 is completed." in out
    out = tool("kafka-reassign-partitions", bs, "--cancel",
               "--reassignment-json-file", str(same))
    assert "None of the specified partition reassignments are active." in out


def test_kafka_features(sluice_dev):
    bs = sluice_dev.bootstrap
    out = tool("kafka-features", bs, "describe")
    assert re.search(r"Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\t"
                     r"FinalizedVersionLevel: 1", out), out
    out = tool("kafka-features", bs, "upgrade", "--feature", "group.version=1")
    assert out.strip() == "group.version was upgraded to 1."
    me = broker_id(bs)
    r = run_tool("kafka-features", "--bootstrap-server", bs, "upgrade",
                 "--feature", "group.version=5")
    assert ("Could not upgrade group.version to 5. The update failed for all features since the following "
            f"feature had an error: Invalid update version 5 for feature group.version. Local controller {me} "
            "only supports versions 0-1") in r.stdout
    r = run_tool("kafka-features", "--bootstrap-server", bs, "upgrade",
                 "--feature", "nosuch.version=1")
    assert (f"Invalid update version 1 for feature nosuch.version. Local controller {me} does not support "
            "this feature.") in r.stdout
