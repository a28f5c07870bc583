"""Conformance scenarios for the group APIs: classic groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
OffsetCommit/OffsetFetch, DescribeGroups, ListGroups, DeleteGroups), KIP-848 consumer groups, KIP-932
share groups, and producer state (InitProducerId, DescribeProducers)."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

import kafkawire as kw
from conformance.harness import error_name
from conformance.test_basics import BASE_TS, admin_error, produce_and_wait


def fill(t, topic: str, n: int, partitions: int = 1):
    produce_and_wait(t, topic, [{"value": f"v{i}".encode(), "partition": i % partitions, "timestamp": BASE_TS + i}
                                for i in range(n)])


def consume_n(c, n: int, timeout: float = 60.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append((m.partition(), m.offset(), m.value()))
    return sorted(got)


def describe_group(t, group: str) -> dict:
    d = t.admin().describe_consumer_groups([group], request_timeout=30)[group].result(30)
    return {"state": str(d.state), "type": str(getattr(d, "type", None)), "simple": d.is_simple_consumer_group,
            "assignor": d.partition_assignor,
            "members": sorted(sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions)
                              for m in d.members)}


def test_classic_group_lifecycle(both):
    """A classic consumer joins, consumes, commits; the group is Stable with the range assignor and one
    member owning both partitions; after close it is Empty with its offsets kept; DeleteGroups works
    then, and a second delete is GROUP_ID_NOT_FOUND."""
    def scenario(t):
        topic = t.topic("classic", partitions=2)
        group = t.name("classic-group")
        fill(t, topic, 6, partitions=2)
        c = t.consumer(**{"group.id": group, "group.protocol": "classic", "partition.assignment.strategy": "range"})
        c.subscribe([topic])
        got = consume_n(c, 6)
        c.commit(asynchronous=False)
        out = {"consumed": got, "stable": describe_group(t, group)}
        out["non_empty_delete"] = admin_error(lambda: t.admin().delete_consumer_groups([group])[group].result(30))
        c.close()
        out["after_close"] = describe_group(t, group)
        from confluent_kafka import ConsumerGroupTopicPartitions
        offs = t.admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
        out["committed"] = sorted((tp.topic, tp.partition, tp.offset) for tp in offs.topic_partitions)
        out["delete"] = admin_error(lambda: t.admin().delete_consumer_groups([group])[group].result(30))
        out["delete_again"] = admin_error(lambda: t.admin().delete_consumer_groups([group])[group].result(30))
        return out
    both.compare(scenario)


def test_consumer_group_kip848(both):
    """A KIP-848 consumer (group.protocol=consumer) gets both partitions; the group describes as type
    CONSUMER, Stable, with the uniform assignor."""
    def scenario(t):
        topic = t.topic("kip848", partitions=2)
        group = t.name("kip848-group")
        fill(t, topic, 4, partitions=2)
        c = t.consumer(**{"group.id": group, "group.protocol": "consumer"})
        c.subscribe([topic])
        got = consume_n(c, 4)
        out = {"consumed": got, "described": describe_group(t, group)}
        c.close()
        out["after_close"] = describe_group(t, group)["state"]
        return out
    both.compare(scenario)


def test_offset_commit_unknown_topic_and_fetch_unknown_group(both):
    """Committing offsets of a topic that does not exist, and fetching offsets of a group that never
    committed (-1 per partition, no error)."""
    def scenario(t):
        from confluent_kafka import ConsumerGroupTopicPartitions
        topic = t.topic("committed")
        group = t.name("never")
        offs = t.admin().list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(30)
        fetched = [(tp.partition, tp.offset, error_name(tp.error.code()) if tp.error else None)
                   for tp in offs.topic_partitions]
        c = t.consumer(**{"group.id": t.name("committer")})
        try:
            res = c.commit(offsets=[TopicPartition(t.name("no-such-topic"), 0, 5)], asynchronous=False)
            unknown = [error_name(tp.error.code()) if tp.error else None for tp in res]
        except KafkaException as e:
            unknown = error_name(e.args[0].code())
        c.close()
        return {"fetch_unknown_group": fetched, "commit_unknown_topic": unknown}
    both.compare(scenario)


def test_share_group_consume_once(both):
    """A ShareConsumer (KIP-932) with share.auto.offset.reset=earliest gets every record once, delivery
    count 1; the share group describes as Stable with one member."""
    def scenario(t):
        from confluent_kafka import ShareConsumer
        topic = t.topic("share", partitions=2)
        group = t.name("share-group")
        fill(t, topic, 8, partitions=2)
        res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
        t.admin().incremental_alter_configs([res])[res].result(30)
        c = ShareConsumer(t.conf(**{"group.id": group}))
        c.subscribe([topic])
        got, deadline = [], time.monotonic() + 60
        while len(got) < 8 and time.monotonic() < deadline:
            for m in c.poll(1.0) or []:
                if m.error() is None:
                    got.append((m.partition(), m.offset(), m.value(), m.delivery_count()
                                if hasattr(m, "delivery_count") else None))
        d = t.admin().describe_share_groups([group])[group].result(30) \
            if hasattr(t.admin(), "describe_share_groups") else None
        c.close()
        return {"records": sorted(got),
                "described": None if d is None else {"state": str(d.state), "members": len(d.members)}}
    both.compare(scenario)


def test_init_producer_id_idempotent_and_describe_producers(both):
    """InitProducerId without a transactional id; the idempotent producer's first batch; DescribeProducers
    shows its epoch and last sequence."""
    def scenario(t):
        topic = t.topic("pid")
        with t.conn() as c:
            err, pid, epoch = kw.init_producer_id_v1(c)
            batch = kw.encode_batch([kw.Record(None, b"a"), kw.Record(None, b"b")], BASE_TS,
                                    producer_id=pid, producer_epoch=epoch, base_sequence=0)
            perr, base, _ = kw.produce_v3(c, topic, 0, batch)
            perr0, prods = kw.describe_producers_v0(c, topic, [0])[(topic, 0)]
        producers = {"error": error_name(perr0),
                     "producers": [{k: v for k, v in p.items() if k != "producer_id"} | {"same_id": p["producer_id"] == pid}
                                   for p in prods]}
        return {"init": [error_name(err), epoch, pid >= 0], "produce": [error_name(perr), base],
                "producers": producers}
    both.compare(scenario)


def test_init_producer_id_transactional(both):
    """InitProducerId with a transactional id (v4): a producer id and epoch 0 on the first call, the
    epoch bumped on the second."""
    def scenario(t):
        tid = t.name("txn")
        first = t.call("InitProducerId", 4, transactional_id=tid, transaction_timeout_ms=60000,
                       producer_id=-1, producer_epoch=-1)
        second = t.call("InitProducerId", 4, transactional_id=tid, transaction_timeout_ms=60000,
                        producer_id=-1, producer_epoch=-1)
        return {"first": [error_name(first["error_code"]), first["producer_epoch"]],
                "second": [error_name(second["error_code"]), second["producer_epoch"]],
                "same_producer": first["producer_id"] == second["producer_id"]}
    both.compare(scenario)


def test_offset_delete(both):
    """OffsetDelete (v0): refused with GROUP_SUBSCRIBED_TO_TOPIC while a member is subscribed, done once the
    group is empty, GROUP_ID_NOT_FOUND for a group that does not exist."""
    def scenario(t):
        topic = t.topic("offdel")
        group = t.name("offdel-group")
        fill(t, topic, 3)
        c = t.consumer(**{"group.id": group, "group.protocol": "classic"})
        c.subscribe([topic])
        consume_n(c, 3)
        c.commit(asynchronous=False)

        def delete(g):
            r = t.call("OffsetDelete", 0, group_id=g, topics=[{"name": topic, "partitions": [{"partition_index": 0}]}])
            parts = [(p["partition_index"], error_name(p["error_code"])) for tp in r["topics"] for p in tp["partitions"]]
            return {"error": error_name(r["error_code"]), "partitions": parts}
        out = {"while_subscribed": delete(group)}
        c.close()
        out["empty"] = delete(group)
        out["unknown_group"] = delete(t.name("no-group"))
        return out
    both.compare(scenario)
