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


def commit_retrying(c, offsets, timeout: float = 30.0):
    """Commits `offsets` synchronously, retrying while a rebalance is in progress."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            if time.monotonic() > deadline or not e.args[0].retriable() and e.args[0].name() not in (
                    "REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "_NO_OFFSET"):
                raise
            c.poll(0.5)


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
        # Explicit offsets: librdkafka forgets its stored offsets when a rebalance revokes the
        # partitions after they were consumed (Kafka's coordinator sometimes rebalances a fresh group
        # twice), and a bare commit() then fails with _NO_OFFSET.
        ends = {}
        for p, off, _ in got:
            ends[p] = max(ends.get(p, 0), off + 1)
        commit_retrying(c, [TopicPartition(topic, p, o) for p, o in sorted(ends.items())])
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


def test_share_group_consume_once(both_newest):
    both = both_newest  # share groups are GA from Kafka 4.2: the newest 4.x is the oracle
    """A KafkaShareConsumer (KIP-932, Java client) with share.auto.offset.reset=earliest gets every record
    once, delivery count 1, and acknowledges them; the group is then Empty with its start offsets past
    every record. (librdkafka 2.16's share consumer is not used here: its member ids are standard base64,
    which Kafka 4.1's ShareFetch rejects with an internal error, so the oracle could not run it.)"""
    def scenario(t):
        import subprocess
        from reference.kafka_ref import clients_classpath
        topic = t.topic("share", partitions=2)
        group = t.name("share-group")
        fill(t, topic, 8, partitions=2)
        res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
        t.admin().incremental_alter_configs([res])[res].result(30)
        r = subprocess.run(["java", "-cp", clients_classpath(), "ShareConsume", t.bootstrap, group, topic, "1", "8"],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
        rows = sorted(tuple(ln.split()[1:]) for ln in r.stdout.splitlines() if not ln.startswith("TOTAL"))
        return {"records": rows, "total": r.stdout.splitlines()[-1]}
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
    """FindCoordinator(TRANSACTION) then InitProducerId with a transactional id (v4): a producer id and epoch
    0 on the first call, the same id with the epoch bumped on the second."""
    def scenario(t):
        tid = t.name("txn")
        retriable = {14, 15, 16, 51}  # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS

        def until_settled(api, version, **fields):
            deadline = time.monotonic() + 60
            while True:
                r = t.call(api, version, **fields)
                code = r.get("error_code", 0) if "coordinators" not in r else r["coordinators"][0]["error_code"]
                if code not in retriable or time.monotonic() > deadline:
                    return r, code
                time.sleep(0.2)
        _, find = until_settled("FindCoordinator", 4, key_type=1, coordinator_keys=[tid])
        first, e1 = until_settled("InitProducerId", 4, transactional_id=tid, transaction_timeout_ms=60000,
                                  producer_id=-1, producer_epoch=-1)
        second, e2 = until_settled("InitProducerId", 4, transactional_id=tid, transaction_timeout_ms=60000,
                                   producer_id=-1, producer_epoch=-1)
        return {"find_coordinator": error_name(find), "first": [error_name(e1), first["producer_epoch"]],
                "second": [error_name(e2), second["producer_epoch"]],
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


def test_share_group_offsets_admin(both_newest):
    both = both_newest  # share groups are GA from Kafka 4.2: the newest 4.x is the oracle
    """The Java Admin's share-group calls (ListGroups by type, DescribeShareGroups, DescribeShareGroupOffsets,
    AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteShareGroups) on an empty share group that
    consumed 4 records."""
    def scenario(t):
        import subprocess
        from reference.kafka_ref import clients_classpath
        topic = t.topic("share-admin")
        group = t.name("share-admin-group")
        fill(t, topic, 4)
        res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
        t.admin().incremental_alter_configs([res])[res].result(30)
        cp = clients_classpath()
        r = subprocess.run(["java", "-cp", cp, "ShareConsume", t.bootstrap, group, topic, "1", "4"],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
        r = subprocess.run(["java", "-cp", cp, "ShareAdmin", t.bootstrap, group, topic],
                           capture_output=True, text=True, timeout=180)
        lines = [ln.replace(topic, "TOPIC") for ln in r.stdout.splitlines()]
        errors = [ln for ln in r.stderr.splitlines() if "Exception" in ln][:1]
        return {"rc": r.returncode, "steps": lines, "error": errors}
    both.compare(scenario)
