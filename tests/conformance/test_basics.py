"""Conformance scenarios for the core APIs as confluent-kafka (librdkafka) uses them: ApiVersions,
Metadata, CreateTopics/DeleteTopics/CreatePartitions, Produce, Fetch, ListOffsets, configs, ACLs with no
authorizer, SCRAM credentials. Each runs against Apache Kafka and Sluice and compares (harness.py)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion)

import kafkawire as kw
from conformance.harness import error_name
from helpers import BASE_TS


def admin_error(fn) -> str:
    """Runs an admin call expected to fail; returns the broker's error as NAME(code), or NONE(0)."""
    try:
        fn()
    except KafkaException as e:
        return error_name(e.args[0].code())
    return error_name(0)


def produce_and_wait(t, topic: str, records: list[dict]) -> list[tuple]:
    """Produces `records` (dicts of key/value/headers/timestamp/partition) one by one, in order;
    returns (error, partition, offset) per record."""
    p = t.producer(**{"enable.idempotence": True, "acks": "all"})
    out = [None] * len(records)
    for i, r in enumerate(records):
        def cb(err, msg, i=i):
            out[i] = (error_name(err.code()) if err else None, msg.partition(), msg.offset())
        p.produce(topic, value=r.get("value"), key=r.get("key"), headers=r.get("headers"),
                  timestamp=r.get("timestamp", 0), partition=r.get("partition", -1), on_delivery=cb)
    assert p.flush(60) == 0
    return out


def consume_all(t, topic: str, n: int, partitions: int = 1, **conf) -> list[dict]:
    c = t.consumer(**conf)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got, deadline = [], time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        ts_type, ts = m.timestamp()
        got.append({"partition": m.partition(), "offset": m.offset(), "key": m.key(), "value": m.value(),
                    "headers": [(k, v) for k, v in (m.headers() or [])], "timestamp": ts,
                    "timestamp_type": ts_type})
    c.close()
    return sorted(got, key=lambda r: (r["partition"], r["offset"]))




def test_produce_then_fetch_records(both):
    """Keys, values, null values, headers (repeated and empty) and CreateTime timestamps round-trip at
    dense offsets from 0."""
    def scenario(t):
        topic = t.topic("records", partitions=2)
        recs = [{"key": f"k{i}".encode(), "value": (None if i == 3 else f"v{i}".encode()),
                 "headers": [("h", b"1"), ("h", b"2"), ("empty", b"")] if i % 2 else None,
                 "timestamp": BASE_TS + i, "partition": i % 2} for i in range(10)]
        acks = produce_and_wait(t, topic, recs)
        return {"acks": acks, "records": consume_all(t, topic, 10, partitions=2)}
    both.compare(scenario)


def test_list_offsets_specs(both):
    """ListOffsets earliest, latest, max-timestamp and by-timestamp (exact, between, after the last)."""
    def scenario(t):
        topic = t.topic("offsets")
        ts = [BASE_TS + d for d in (10, 30, 20, 40, 40)]
        produce_and_wait(t, topic, [{"value": b"x", "timestamp": x} for x in ts])
        tp = TopicPartition(topic, 0)
        specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
                 "max_timestamp": OffsetSpec.max_timestamp(), "ts_exact_30": OffsetSpec.for_timestamp(BASE_TS + 30),
                 "ts_between_25": OffsetSpec.for_timestamp(BASE_TS + 25),
                 "ts_after_last": OffsetSpec.for_timestamp(BASE_TS + 41)}
        out = {}
        for name, spec in specs.items():
            r = t.admin().list_offsets({tp: spec}, request_timeout=30)[tp].result(timeout=30)
            out[name] = {"offset": r.offset, "timestamp": r.timestamp}
        return out
    both.compare(scenario)


def test_metadata_unknown_topic_no_auto_create(both):
    def scenario(t):
        with t.conn() as c:
            md = kw.metadata_v4(c, [t.name("missing")], allow_auto_create=False)
        err, parts = md["topics"][t.name("missing")]
        return {"error": error_name(err), "partitions": parts, "brokers": len(md["brokers"])}
    both.compare(scenario)


def test_create_topics_errors(both):
    """TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG (unknown name and
    bad value), INVALID_TOPIC_EXCEPTION (bad name)."""
    def scenario(t):
        topic = t.topic("exists")

        def create(name, **kw_):
            return admin_error(lambda: t.admin().create_topics([NewTopic(name, **kw_)])[name].result(30))
        return {
            "already_exists": create(topic, num_partitions=1, replication_factor=1),
            "zero_partitions": create(t.name("zero"), num_partitions=0, replication_factor=1),
            "replication_3": create(t.name("rf3"), num_partitions=1, replication_factor=3),
            "replication_0": create(t.name("rf0"), num_partitions=1, replication_factor=0),
            "replication_default": create(t.name("rf-default"), num_partitions=1, replication_factor=-1),
            "unknown_config": create(t.name("cfg1"), num_partitions=1, replication_factor=1,
                                     config={"no.such.config": "1"}),
            "bad_config_value": create(t.name("cfg2"), num_partitions=1, replication_factor=1,
                                       config={"retention.ms": "soon"}),
            "bad_name": create("bad/name", num_partitions=1, replication_factor=1),
            "dot_name": create(".", num_partitions=1, replication_factor=1),
        }
    both.compare(scenario)


def test_delete_topics(both):
    """Deleting a topic removes it from Metadata; deleting an unknown one is UNKNOWN_TOPIC_OR_PARTITION."""
    def scenario(t):
        topic = t.topic("doomed")
        ok = admin_error(lambda: t.admin().delete_topics([topic])[topic].result(30))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = t.admin().list_topics(timeout=10)
            if topic not in md.topics:
                break
            time.sleep(0.2)
        unknown = admin_error(lambda: t.admin().delete_topics([t.name("never")])[t.name("never")].result(30))
        return {"delete": ok, "gone": topic not in t.admin().list_topics(timeout=10).topics, "unknown": unknown}
    both.compare(scenario)


def test_create_partitions(both):
    """Growing 1 -> 3 works; shrinking and "growing" to the same count are INVALID_PARTITIONS; an unknown
    topic is UNKNOWN_TOPIC_OR_PARTITION."""
    def scenario(t):
        topic = t.topic("grow")

        def grow(name, n):
            return admin_error(lambda: t.admin().create_partitions([NewPartitions(name, n)])[name].result(30))
        out = {"grow_to_3": grow(topic, 3)}
        t.wait_for_topic(topic, 3)
        out.update({"same": grow(topic, 3), "shrink": grow(topic, 2), "unknown": grow(t.name("nope"), 2)})
        return out
    both.compare(scenario)


def test_fetch_offset_out_of_range(both):
    """A fetch past the high watermark answers OFFSET_OUT_OF_RANGE with the partition's offsets."""
    def scenario(t):
        topic = t.topic("oor")
        produce_and_wait(t, topic, [{"value": b"a", "timestamp": BASE_TS}] * 3)
        out = {}
        with t.conn() as c:
            for name, off in (("at_hw", 3), ("past_hw", 100), ("negative", -5)):
                r = kw.fetch_v11(c, 0, -1, {topic: {0: off}}, max_wait_ms=0)
                p = r.partitions[(topic, 0)]
                out[name] = {"error": error_name(p.error_code), "high_watermark": p.high_watermark,
                             "log_start_offset": p.log_start_offset, "records": len(kw.decode_batches(p.records))}
        return out
    both.compare(scenario)


def test_produce_to_unknown_partition(both):
    def scenario(t):
        topic = t.topic("onepart")
        batch = kw.encode_batch([kw.Record(key=None, value=b"v")], BASE_TS)
        with t.conn() as c:
            err, base, _ = kw.produce_v3(c, topic, 5, batch)
            err2, base2, _ = kw.produce_v3(c, t.name("no-topic-here"), 0, batch)
        return {"unknown_partition": [error_name(err), base], "unknown_topic": [error_name(err2), base2]}
    both.compare(scenario)


def test_topic_configs_alter_and_describe(both):
    """IncrementalAlterConfigs sets and deletes a topic override; DescribeConfigs shows value and source
    for the configs touched; bad values and unknown names are INVALID_CONFIG."""
    def scenario(t):
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
        topic = t.topic("cfg", config={"retention.ms": "3600000"})
        res = ConfigResource(ResourceType.TOPIC, topic)

        def describe():
            entries = t.admin().describe_configs([res])[res].result(30)
            return {n: {"value": entries[n].value, "source": str(entries[n].source),
                        "is_default": entries[n].is_default}
                    for n in ("retention.ms", "cleanup.policy", "segment.bytes", "max.message.bytes")}

        def alter(*entries):
            r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
            return admin_error(lambda: t.admin().incremental_alter_configs([r])[r].result(30))
        out = {"created": describe(),
               "set_cleanup": alter(ConfigEntry("cleanup.policy", "compact",
                                                incremental_operation=AlterConfigOpType.SET)),
               "delete_retention": alter(ConfigEntry("retention.ms", None,
                                                     incremental_operation=AlterConfigOpType.DELETE))}
        out["after"] = describe()
        out["bad_value"] = alter(ConfigEntry("retention.ms", "forever", incremental_operation=AlterConfigOpType.SET))
        out["unknown_name"] = alter(ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET))
        return out
    both.compare(scenario)


def test_acls_without_authorizer(both):
    """With no authorizer configured (both brokers' default), the ACL APIs answer SECURITY_DISABLED."""
    def scenario(t):
        binding = AclBinding(ResourceType.TOPIC, t.name("t"), ResourcePatternType.LITERAL, "User:alice", "*",
                             AclOperation.READ, AclPermissionType.ALLOW)
        flt = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                               AclPermissionType.ANY)
        return {"create": admin_error(lambda: t.admin().create_acls([binding])[binding].result(30)),
                "describe": admin_error(lambda: t.admin().describe_acls(flt).result(30)),
                "delete": admin_error(lambda: t.admin().delete_acls([flt])[flt].result(30))}
    both.compare(scenario)


def test_scram_credentials(both):
    """AlterUserScramCredentials then DescribeUserScramCredentials: mechanism and iterations, never the
    secret; describing an unknown user is RESOURCE_NOT_FOUND."""
    def scenario(t):
        user = t.name("alice")
        up = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192),
                                          b"secret", b"salt-salt-salt")
        altered = admin_error(lambda: t.admin().alter_user_scram_credentials([up])[user].result(30))
        desc = t.admin().describe_user_scram_credentials([user])[user].result(30)
        infos = [(str(i.mechanism), i.iterations) for i in desc.scram_credential_infos]
        unknown = admin_error(lambda: t.admin().describe_user_scram_credentials([t.name("nobody")])
                              [t.name("nobody")].result(30))
        return {"alter": altered, "infos": infos, "unknown_user": unknown}
    both.compare(scenario)


def test_describe_cluster_shape(both):
    """DescribeCluster through the AdminClient: one broker, a controller, a cluster id."""
    def scenario(t):
        d = t.admin().describe_cluster(request_timeout=30).result(30)
        return {"brokers": len(d.nodes), "has_cluster_id": bool(d.cluster_id),
                "controller_is_a_broker": d.controller is not None and d.controller.id in {n.id for n in d.nodes}}
    both.compare(scenario)


@pytest.mark.parametrize("version", [0, 3])
def test_api_versions_error_free(both, version):
    """ApiVersions v0 (non-flexible) and v3 answer NONE and list ApiVersions itself up to v3 or more."""
    def scenario(t):
        with t.conn() as c:
            if version == 0:
                r = c.request(kw.API_VERSIONS, 0, kw.api_versions_v0_body(), flexible=False)
                err, keys = kw.decode_api_versions_v0(r)
            else:
                r = c.request(kw.API_VERSIONS, 3, kw.api_versions_v3_body(), flexible=True)
                err, keys = kw.decode_api_versions_v3(r)
        return {"error": error_name(err), "api_versions_max_at_least_3": keys[kw.API_VERSIONS][1] >= 3}
    both.compare(scenario)


# Kafka's ApiKeys (org.apache.kafka.common.protocol.ApiKeys), for readable observation paths
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate",
    37: "CreatePartitions", 38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 55: "DescribeQuorum",
    57: "UpdateFeatures", 60: "DescribeCluster", 61: "DescribeProducers", 64: "UnregisterBroker",
    65: "DescribeTransactions", 66: "ListTransactions", 68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions", 72: "PushTelemetry",
    74: "ListConfigResources", 75: "DescribeTopicPartitions", 76: "ShareGroupHeartbeat",
    77: "ShareGroupDescribe", 78: "ShareFetch", 79: "ShareAcknowledge", 80: "AddRaftVoter",
    81: "RemoveRaftVoter", 83: "InitializeShareGroupState", 84: "ReadShareGroupState",
    85: "WriteShareGroupState", 86: "DeleteShareGroupState", 87: "ReadShareGroupStateSummary",
    88: "StreamsGroupHeartbeat", 89: "StreamsGroupDescribe", 90: "DescribeShareGroupOffsets",
    91: "AlterShareGroupOffsets", 92: "DeleteShareGroupOffsets",
}


def test_api_versions_table(both):
    """Every API the broker advertises to clients, with its version range. Where Sluice differs, the
    allow-list says why (an API not built yet names its issue)."""
    def scenario(t):
        r = t.call("ApiVersions", 3, client_software_name="sluice-tests", client_software_version="1")
        apis = {API_NAMES.get(k["api_key"], str(k["api_key"])): [k["min_version"], k["max_version"]]
                for k in r["api_keys"]}
        return {"error": error_name(r["error_code"]), "apis": apis,
                "finalized_features": {f["name"]: f["max_version_level"] for f in r.get("finalized_features") or []}}
    both.compare(scenario)
