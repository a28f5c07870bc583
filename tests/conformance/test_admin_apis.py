"""Issue 10, items 4 and 10, against Apache Kafka: the topic config table as DescribeConfigs,
AlterConfigs (legacy) and the validators show it, and the cluster-operation APIs (OffsetForLeaderEpoch,
DescribeTopicPartitions, DescribeLogDirs, DescribeQuorum, UpdateFeatures, ElectLeaders, the partition
reassignment APIs), raw and through Kafka's tools."""

from __future__ import annotations

import json
import re
import time

from conformance.test_kafka_tools import tool


def describe_topic(t, topic: str, **flags) -> dict:
    r = t.call("DescribeConfigs", 4, resources=[{"resource_type": 2, "resource_name": topic,
                                                 "configuration_keys": None}], **flags)
    [res] = r["results"]
    return res


def test_describe_configs_every_topic_config(both):
    """Every topic config with value, source, synonyms, type and flags; documentation present when asked."""
    def scenario(t):
        topic = t.topic("all", config={"retention.ms": "1000", "retention.bytes": "5000",
                                       "compression.type": "zstd"})
        res = describe_topic(t, topic, include_synonyms=True, include_documentation=True)
        configs = {c["name"]: {"value": c["value"], "source": c["config_source"], "type": c["config_type"],
                               "read_only": c["read_only"], "sensitive": c["is_sensitive"],
                               "synonyms": [[s["name"], s["value"], s["source"]] for s in c["synonyms"]],
                               "documented": bool(c["documentation"])}
                   for c in res["configs"]}
        bare = describe_topic(t, topic)
        return {"error": t.err(res["error_code"]), "configs": configs,
                "bare": sorted({(bool(c["synonyms"]), c["documentation"]) for c in bare["configs"]}),
                "cluster_defaults": {c["name"]: [c["value"], c["config_source"]] for c in t.call(
                    "DescribeConfigs", 4, resources=[{"resource_type": 4, "resource_name": "",
                                                      "configuration_keys": None}],
                    include_synonyms=False, include_documentation=False)["results"][0]["configs"]}}
    both.compare(scenario)


def test_config_validation_messages(both):
    """Invalid values, as IncrementalAlterConfigs (validate only), legacy AlterConfigs and CreateTopics
    refuse them."""
    cases = [("retention.ms", "-2"), ("retention.ms", "abc"), ("segment.bytes", "100"),
             ("min.cleanable.dirty.ratio", "2"), ("cleanup.policy", "foo"), ("cleanup.policy", ""),
             ("compression.type", "brotli"), ("preallocate", "yes"), ("compression.gzip.level", "0"),
             ("compression.lz4.level", "18"), ("compression.zstd.level", "23"), ("remote.storage.enable", "true"),
             ("local.retention.ms", "-3"), ("leader.replication.throttled.replicas", "0:1,*"),
             ("follower.replication.throttled.replicas", "*"), ("message.timestamp.type", "Now"),
             ("max.message.bytes", "99999999999"), ("segment.ms", "0"), ("no.such", "1"),
             ("min.insync.replicas", "0"), ("max.compaction.lag.ms", "0"), ("flush.messages", "0")]

    def scenario(t):
        topic = t.topic("valid")
        out = {}
        for name, value in cases:
            inc = t.call("IncrementalAlterConfigs", 1, validate_only=True, resources=[{
                "resource_type": 2, "resource_name": topic,
                "configs": [{"name": name, "config_operation": 0, "value": value}]}])["responses"][0]
            legacy = t.call("AlterConfigs", 2, validate_only=True, resources=[{
                "resource_type": 2, "resource_name": topic,
                "configs": [{"name": name, "value": value}]}])["responses"][0]
            create = t.call("CreateTopics", 7, timeout_ms=30000, validate_only=True, topics=[{
                "name": t.name("new"), "num_partitions": 1, "replication_factor": 1, "assignments": [],
                "configs": [{"name": name, "value": value}]}])["topics"][0]
            out[f"{name}={value}"] = {
                "incremental": [t.err(inc["error_code"]), inc["error_message"]],
                "legacy": [t.err(legacy["error_code"]), legacy["error_message"]],
                "create": [t.err(create["error_code"]), create["error_message"]]}
        return out
    both.compare(scenario)


def test_legacy_alter_configs(both):
    """AlterConfigs (33) replaces a topic's overrides with the set given; its error paths."""
    def scenario(t):
        topic = t.topic("legacy", config={"retention.bytes": "1000", "segment.ms": "5000"})

        def alter(version, name, configs, validate_only=False):
            r = t.call("AlterConfigs", version, validate_only=validate_only, resources=[{
                "resource_type": 2, "resource_name": name,
                "configs": [{"name": k, "value": v} for k, v in configs.items()]}])["responses"][0]
            return [t.err(r["error_code"]), r["error_message"]]

        def overrides():
            return {c["name"]: c["value"] for c in describe_topic(t, topic)["configs"] if c["config_source"] == 1}
        out = {"replace": alter(2, topic, {"retention.ms": "5000", "compression.zstd.level": "7"}),
               "after_replace": overrides(),
               "null": alter(1, topic, {"retention.ms": None}),
               "bad": alter(0, topic, {"retention.ms": "-5"}),
               "unknown_topic": alter(2, t.name("nosuch"), {"retention.ms": "1"}),
               "default_topic": alter(2, "", {"retention.ms": "1"}),
               "lag_conflict": alter(2, topic, {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}),
               "validate_only_empty": alter(2, topic, {}, validate_only=True),
               "after_validate_only": overrides(),
               "empty": alter(2, topic, {}),
               "after_empty": overrides()}
        return out
    both.compare(scenario)


def test_offset_for_leader_epoch(both):
    """End offsets of leader epochs as a consumer asks for them (replica id -1)."""
    def scenario(t):
        topic = t.topic("ofle", partitions=2)
        p = t.producer()
        for i in range(5):
            p.produce(topic, value=b"v", partition=0)
        assert p.flush(30) == 0

        def ask(name, parts):
            r = t.call("OffsetForLeaderEpoch", 4, replica_id=-1, topics=[{"topic": name, "partitions": [
                {"partition": p, "current_leader_epoch": cur, "leader_epoch": ep} for p, cur, ep in parts]}])
            return [[x["partition"], t.err(x["error_code"]), x["leader_epoch"], x["end_offset"]]
                    for x in r["topics"][0]["partitions"]]
        return {"known": ask(topic, [(0, 0, 0), (1, -1, 0), (0, -1, 1), (0, -1, -1)]),
                "fenced": ask(topic, [(0, 1, 0), (2, -1, 0)]),
                "unknown_topic": ask(t.name("nosuch"), [(0, -1, 0)])}
    both.compare(scenario)


def test_describe_topic_partitions(both):
    """DescribeTopicPartitions (the Java Admin's describeTopics): pagination, unknown topics."""
    def scenario(t):
        a = t.topic("a", partitions=3)
        b = t.topic("b", partitions=1)
        missing = t.name("missing")

        def page(limit, cursor=None):
            r = t.call("DescribeTopicPartitions", 0, topics=[{"name": n} for n in (b, a, missing)],
                       response_partition_limit=limit, cursor=cursor)
            return {"topics": [[x["name"], t.err(x["error_code"]), x["is_internal"],
                                [[p["partition_index"], t.err(p["error_code"]), len(p["replica_nodes"]),
                                  p["leader_id"] in p["isr_nodes"], p["eligible_leader_replicas"],
                                  p["last_known_elr"], p["offline_replicas"]] for p in x["partitions"]]]
                               for x in r["topics"]],
                    "next_cursor": r["next_cursor"]}
        first = page(2)
        return {"all": page(100), "first": first,
                "second": page(2, first["next_cursor"]) if first["next_cursor"] else None}
    both.compare(scenario)


def test_describe_log_dirs(both):
    """DescribeLogDirs: one log dir holding the requested partitions."""
    def scenario(t):
        topic = t.topic("dirs", partitions=1)
        time.sleep(1)  # Kafka creates a new partition's log a moment after Metadata shows it
        r = t.call("DescribeLogDirs", 4, topics=[{"topic": topic, "partitions": [0, 7]}])
        dirs = [{"error": t.err(d["error_code"]),
                 "topics": {x["name"]: [[p["partition_index"], p["partition_size"], p["offset_lag"],
                                         p["is_future_key"]] for p in x["partitions"]] for x in d["topics"]},
                 "total_bytes_known": d["total_bytes"] >= 0, "usable_bytes_known": d["usable_bytes"] >= 0}
                for d in r["results"]]
        return {"error": t.err(r["error_code"]), "dirs": dirs}
    both.compare(scenario)


def test_describe_quorum(both):
    """DescribeQuorum of the metadata quorum (one voter in both setups), and of a wrong partition."""
    def scenario(t):
        r = t.call("DescribeQuorum", 2, topics=[{"topic_name": "__cluster_metadata",
                                                  "partitions": [{"partition_index": 0}]}])
        [p] = r["topics"][0]["partitions"]
        voters = p["current_voters"]
        wrong = t.call("DescribeQuorum", 2, topics=[{"topic_name": "__cluster_metadata",
                                                      "partitions": [{"partition_index": 1}]}])
        return {"error": t.err(r["error_code"]), "topic": r["topics"][0]["topic_name"],
                "partition": [p["partition_index"], t.err(p["error_code"])],
                "leader_is_a_voter": p["leader_id"] in [v["replica_id"] for v in voters],
                "voters": len(voters), "observers": len(p["observers"]),
                "hw_positive": p["high_watermark"] > 0, "epoch_positive": p["leader_epoch"] > 0,
                "leader_caught_up": [v["log_end_offset"] >= p["high_watermark"] for v in voters],
                "node_listeners": [[ls["name"] for ls in n["listeners"]] for n in r["nodes"]],
                "wrong_partition": [[x["partition_index"], t.err(x["error_code"])]
                                    for x in wrong["topics"][0]["partitions"]]}
    both.compare(scenario)


def test_update_features(both):
    """UpdateFeatures: the finalized level is accepted; beyond the supported range or an unknown
    feature is INVALID_UPDATE_VERSION (the controller's id is masked)."""
    def scenario(t):
        def update(version, feature, level, validate_only=False):
            r = t.call("UpdateFeatures", version, timeout_ms=30000, validate_only=validate_only,
                       feature_updates=[{"feature": feature, "max_version_level": level, "upgrade_type": 1,
                                         "allow_downgrade": False}])
            msg = re.sub(r"Local controller \d+", "Local controller N", r["error_message"] or "")
            return [t.err(r["error_code"]), msg,
                    [[x["feature"], t.err(x["error_code"])] for x in r.get("results") or []]]
        return {"same": update(1, "group.version", 1), "same_v2": update(2, "group.version", 1, True),
                "too_high": update(1, "group.version", 5), "unknown": update(2, "nosuch.version", 1)}
    both.compare(scenario)


def test_elect_leaders(both):
    """ElectLeaders: every partition already has its preferred leader."""
    def scenario(t):
        topic = t.topic("elect", partitions=2)

        def elect(election_type, partitions):
            r = t.call("ElectLeaders", 2, election_type=election_type, timeout_ms=30000,
                       topic_partitions=partitions)
            return [t.err(r["error_code"]),
                    {x["topic"]: [[p["partition_id"], t.err(p["error_code"]), p["error_message"]]
                                  for p in x["partition_result"]] for x in r["replica_election_results"]}]
        # Every partition of the cluster: which topics exist depends on what other scenarios (and, on
        # Kafka, its internal topics) made before, so only this scenario's topic and the answers count.
        code, everything = elect(0, None)
        return {"preferred": elect(0, [{"topic": topic, "partitions": [0, 1, 5]},
                                       {"topic": t.name("nosuch"), "partitions": [0]}]),
                "unclean": elect(1, [{"topic": topic, "partitions": [1]}]),
                "all": [code, everything.get(topic), sorted({str(v) for v in everything.values()})]}
    both.compare(scenario)


def test_partition_reassignments(both):
    """Nothing is being reassigned; reassigning to the current replica completes at once; cancelling
    nothing, an unknown broker and a duplicated broker are refused as Kafka refuses them."""
    def scenario(t):
        topic = t.topic("move", partitions=1)
        leader = t.admin().list_topics(topic=topic, timeout=30).topics[topic].partitions[0].leader

        def alter(replicas, partition=0, name=topic):
            r = t.call("AlterPartitionReassignments", 0, timeout_ms=30000, topics=[{
                "name": name, "partitions": [{"partition_index": partition, "replicas": replicas}]}])
            # broker ids differ by design (Sluice's dev agent is 0, the reference broker 1)
            return [t.err(r["error_code"])] + [[t.err(p["error_code"]),
                                                re.sub(r"broker \d+", "broker N", p["error_message"] or "")]
                                               for x in r["responses"] for p in x["partitions"]]
        listed = t.call("ListPartitionReassignments", 0, timeout_ms=30000, topics=None)
        return {"list": [t.err(listed["error_code"]), listed["topics"]],
                "same": alter([leader]), "cancel": alter(None), "unknown_broker": alter([99]),
                "duplicate": alter([leader, leader]), "empty": alter([]),
                "unknown_partition": alter([leader], partition=3),
                "unknown_topic": alter([leader], name=t.name("nosuch"))}
    both.compare(scenario)


def test_kafka_cluster_tools(both):
    """kafka-log-dirs, kafka-metadata-quorum, kafka-leader-election, kafka-reassign-partitions (output
    normalized: paths, sizes, ids, offsets and times masked)."""
    def scenario(t):
        topic = t.topic("tools", partitions=2)
        out = {}
        rc, lines, _ = tool(t, "kafka-log-dirs", "--describe", "--topic-list", topic)
        doc = json.loads(lines[-1]) if rc == 0 else {}
        out["log_dirs"] = [rc, [re.sub(r"brokers \d+", "brokers N", ln) for ln in lines[:-1]], [[[p["partition"], p["offsetLag"], p["isFuture"]]
                                             for d in b["logDirs"] for p in d["partitions"]]
                                            for b in doc.get("brokers", [])]]
        rc, lines, _ = tool(t, "kafka-metadata-quorum", "describe", "--status")
        out["quorum_status"] = [rc, sorted(ln.split(":", 1)[0] for ln in lines)]
        rc, lines, _ = tool(t, "kafka-metadata-quorum", "describe", "--replication")
        out["quorum_replication"] = [rc, lines[0].split() if lines else [], [ln.split()[-1] for ln in lines[1:]]]
        rc, lines, _ = tool(t, "kafka-leader-election", "--election-type", "preferred", "--topic", topic,
                            "--partition", "1")
        out["elect"] = [rc, lines]
        rc, lines, _ = tool(t, "kafka-leader-election", "--election-type", "preferred", "--all-topic-partitions")
        out["elect_all"] = [rc, lines]
        rc, lines, _ = tool(t, "kafka-reassign-partitions", "--list")
        out["reassign_list"] = [rc, lines]
        return out
    both.compare(scenario)
