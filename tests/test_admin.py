"""Admin APIs through confluent-kafka's AdminClient (CreateTopics, CreatePartitions,
DeleteTopics, DescribeConfigs, IncrementalAlterConfigs, DescribeCluster, ListOffsets),
offset lookups, and DescribeProducers over a raw socket.

These run `sluice dev --auto-create-topics false` so that "unknown topic" is deterministic
(librdkafka's producer would otherwise re-create a deleted topic through Metadata)."""

import time

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, KafkaError, KafkaException,
                             TopicPartition)
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic,
                                   OffsetSpec, ResourceType)

import kafkawire as kw
from helpers import (BASE_TS, DeliveryLog, admin, consume_exact, consumer, create_topic, err_code, produce_all,
                     producer, wait_until, watermarks)

T0 = BASE_TS


@pytest.fixture
def dev(cluster):
    return cluster.dev("--auto-create-topics", "false")


def topic_configs(a, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res], request_timeout=30)[res].result(timeout=30)


def alter(a, topic, **settings):
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET)
        for k, v in settings.items()])
    a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=30)


def partition_count(a, topic):
    md = a.list_topics(topic=topic, timeout=30)
    return len(md.topics[topic].partitions)


def test_create_topics_and_already_exists(dev):
    a = admin(dev.bootstrap)
    fs = a.create_topics([NewTopic("adm-a", 3), NewTopic("adm-b", 1, config={"retention.ms": "1000000"})])
    for f in fs.values():
        assert f.result(timeout=30) is None
    assert partition_count(a, "adm-a") == 3
    assert partition_count(a, "adm-b") == 1
    assert topic_configs(a, "adm-b")["retention.ms"].value == "1000000"

    with pytest.raises(KafkaException) as ei:
        a.create_topics([NewTopic("adm-a", 3)])["adm-a"].result(timeout=30)
    assert err_code(ei.value) == KafkaError.TOPIC_ALREADY_EXISTS  # 36
    assert partition_count(a, "adm-a") == 3


def test_create_partitions(dev):
    bs = dev.bootstrap
    a = admin(bs)
    create_topic(bs, "adm-parts", 2)
    recs = [(i, "adm-parts", i % 2, None, f"old{i}".encode(), None, None) for i in range(10)]
    log = DeliveryLog()
    produce_all(producer(bs), recs, log)
    assert log.errors() == {}

    assert a.create_partitions([NewPartitions("adm-parts", 5)])["adm-parts"].result(timeout=30) is None
    wait_until("adm-parts to show 5 partitions", lambda: partition_count(a, "adm-parts") == 5, timeout=30,
               every=0.1, context=lambda: f"it shows {partition_count(a, 'adm-parts')}")

    # new partitions are usable from offset 0; old ones keep their records
    recs2 = [(100 + i, "adm-parts", 2 + i % 3, None, f"new{i}".encode(), None, None) for i in range(9)]
    log2 = DeliveryLog()
    produce_all(producer(bs), recs2, log2)
    assert log2.errors() == {}
    got = consume_exact(bs, "adm-parts", {0: 5, 1: 5, 2: 3, 3: 3, 4: 3})
    for q in (2, 3, 4):
        assert [(m.offset(), m.value()) for m in got[q]] == \
            [(j, f"new{i}".encode()) for j, i in enumerate(i for i in range(9) if 2 + i % 3 == q)]
    assert [m.value() for m in got[0]] == [f"old{i}".encode() for i in range(0, 10, 2)]

    # shrinking is refused
    with pytest.raises(KafkaException) as ei:
        a.create_partitions([NewPartitions("adm-parts", 3)])["adm-parts"].result(timeout=30)
    assert err_code(ei.value) == KafkaError.INVALID_PARTITIONS  # 37
    assert partition_count(a, "adm-parts") == 5


def test_delete_topics(dev):
    bs = dev.bootstrap
    a = admin(bs)
    create_topic(bs, "adm-del", 2)
    log = DeliveryLog()
    produce_all(producer(bs), [(i, "adm-del", 0, None, b"x", None, None) for i in range(5)], log)
    assert log.errors() == {}

    assert a.delete_topics(["adm-del"], operation_timeout=30)["adm-del"].result(timeout=30) is None
    wait_until("adm-del to leave Metadata", lambda: "adm-del" not in a.list_topics(timeout=30).topics,
               timeout=30, every=0.1)

    md = a.list_topics(topic="adm-del", timeout=30)
    assert md.topics["adm-del"].error is not None
    assert md.topics["adm-del"].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART  # 3

    with kw.KafkaConn("127.0.0.1", dev.port) as c:
        md4 = kw.metadata_v4(c, ["adm-del"], allow_auto_create=True)
        assert md4["topics"]["adm-del"][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
        batch = kw.encode_batch([kw.Record(None, b"after-delete")], T0)
        assert kw.produce_v3(c, "adm-del", 0, batch)[0] == kw.UNKNOWN_TOPIC_OR_PARTITION

    with pytest.raises(KafkaException) as ei:
        a.delete_topics(["adm-del"], operation_timeout=30)["adm-del"].result(timeout=30)
    assert err_code(ei.value) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # re-creating the name gives an empty topic: the old records never come back
    create_topic(bs, "adm-del", 1)
    assert watermarks(bs, "adm-del", 0) == (0, 0)
    log2 = DeliveryLog()
    produce_all(producer(bs), [(0, "adm-del", 0, None, b"fresh", None, None)], log2)
    assert log2.results[0][2] == 0
    got = consume_exact(bs, "adm-del", {0: 1})
    assert [(m.offset(), m.value()) for m in got[0]] == [(0, b"fresh")]


def test_describe_and_alter_configs(dev):
    bs = dev.bootstrap
    a = admin(bs)
    create_topic(bs, "adm-cfg", 1)
    cfg = topic_configs(a, "adm-cfg")
    # Kafka's defaults
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["max.message.bytes"].value == "1048588"
    assert cfg["message.timestamp.type"].value == "CreateTime"

    alter(a, "adm-cfg", retention_ms="3600000")
    cfg = topic_configs(a, "adm-cfg")
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].is_default is False
    assert cfg["max.message.bytes"].value == "1048588"  # untouched

    res = ConfigResource(ResourceType.TOPIC, "no-such-topic")
    with pytest.raises(KafkaException) as ei:
        a.describe_configs([res], request_timeout=30)[res].result(timeout=30)
    assert err_code(ei.value) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_log_append_time(dev):
    bs = dev.bootstrap
    a = admin(bs)
    create_topic(bs, "adm-lat", 1)
    log = DeliveryLog()
    produce_all(producer(bs), [(0, "adm-lat", 0, None, b"before", None, T0)], log)
    assert log.errors() == {}

    alter(a, "adm-lat", message_timestamp_type="LogAppendTime")
    assert topic_configs(a, "adm-lat")["message.timestamp.type"].value == "LogAppendTime"

    t_before = int(time.time() * 1000)
    log2 = DeliveryLog()
    produce_all(producer(bs), [(i, "adm-lat", 0, None, f"after{i}".encode(), None, T0 + i) for i in range(5)], log2)
    t_after = int(time.time() * 1000)
    assert log2.errors() == {}

    got = consume_exact(bs, "adm-lat", {0: 6})[0]
    assert got[0].timestamp() == (TIMESTAMP_CREATE_TIME, T0)
    for i, m in enumerate(got[1:]):
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME, f"offset {m.offset()}"
        assert t_before <= ts <= t_after, f"offset {m.offset()}: {ts} not in [{t_before}, {t_after}]"
        # the producer learns the broker's time from the Produce response
        assert log2.results[i][3] == (TIMESTAMP_LOG_APPEND_TIME, ts)


def test_max_message_bytes(dev):
    bs = dev.bootstrap
    a = admin(bs)
    create_topic(bs, "adm-max", 1)
    alter(a, "adm-max", max_message_bytes="1024")
    assert topic_configs(a, "adm-max")["max.message.bytes"].value == "1024"

    p = producer(bs, **{"compression.type": "none", "linger.ms": 0})
    log = DeliveryLog()
    produce_all(p, [(0, "adm-max", 0, None, b"small", None, None)], log)
    produce_all(p, [(1, "adm-max", 0, None, b"B" * 4000, None, None)], log)
    produce_all(p, [(2, "adm-max", 0, None, b"small again", None, None)], log)
    assert log.results[0][0] is None and log.results[0][2] == 0
    assert log.results[1][0] is not None and log.results[1][0].code() == KafkaError.MSG_SIZE_TOO_LARGE  # 10
    assert log.results[2][0] is None and log.results[2][2] == 1
    got = consume_exact(bs, "adm-max", {0: 2})
    assert [(m.offset(), m.value()) for m in got[0]] == [(0, b"small"), (1, b"small again")]


def test_describe_cluster(dev):
    a = admin(dev.bootstrap)
    d = a.describe_cluster(request_timeout=30).result(timeout=30)
    assert [(n.host, n.port) for n in d.nodes] == [("127.0.0.1", dev.port)]
    assert isinstance(d.cluster_id, str) and d.cluster_id
    assert d.cluster_id == a.list_topics(timeout=30).cluster_id


def test_list_offsets_and_offsets_for_times(dev):
    bs = dev.bootstrap
    topic = "adm-offsets"
    create_topic(bs, topic, 1)
    # offsets 0..9 at T0, T0+10, ..., T0+90; then two older timestamps at offsets 10, 11
    stamps = [T0 + 10 * i for i in range(10)] + [T0 + 5, T0 + 6]
    p = producer(bs, **{"linger.ms": 0})
    log = DeliveryLog()
    for i, ts in enumerate(stamps):  # one batch each
        produce_all(p, [(i, topic, 0, None, f"v{i}".encode(), None, ts)], log)
    assert log.errors() == {}
    assert [log.results[i][2] for i in range(12)] == list(range(12))

    assert watermarks(bs, topic, 0) == (0, 12)

    c = consumer(bs)
    try:
        def by_time(ts):
            return c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=30)[0].offset
        assert by_time(T0) == 0
        assert by_time(T0 + 1) == 1
        assert by_time(T0 + 15) == 2
        assert by_time(T0 + 90) == 9
        assert by_time(T0 + 91) == -1  # nothing that late
        assert by_time(T0 - 1000) == 0
    finally:
        c.close()

    a = admin(bs)
    tp = TopicPartition(topic, 0)

    def lo(spec):
        return a.list_offsets({tp: spec}, request_timeout=30)[tp].result(timeout=30)
    assert lo(OffsetSpec.earliest()).offset == 0
    assert lo(OffsetSpec.latest()).offset == 12
    mx = lo(OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (9, T0 + 90)
    ft = lo(OffsetSpec.for_timestamp(T0 + 15))
    assert (ft.offset, ft.timestamp) == (2, T0 + 20)


def test_describe_producers(dev):
    # confluent-kafka 2.16 has no describe_producers(); DescribeProducers v0 goes over a raw socket.
    bs = dev.bootstrap
    topic = "adm-producers"
    create_topic(bs, topic, 2)
    p = producer(bs, **{"enable.idempotence": True, "linger.ms": 50})
    log = DeliveryLog()
    produce_all(p, [(i, topic, 0, None, f"v{i}".encode(), None, T0 + i) for i in range(7)], log)
    assert log.errors() == {}
    with kw.KafkaConn("127.0.0.1", dev.port) as c:
        res = kw.describe_producers_v0(c, topic, [0, 1, 99])
    err, prods = res[(topic, 0)]
    assert err == kw.NONE
    assert len(prods) == 1
    pr = prods[0]
    assert pr["producer_id"] >= 0
    assert pr["producer_epoch"] >= 0
    assert pr["last_sequence"] == 6
    assert pr["last_timestamp"] == T0 + 6
    assert pr["coordinator_epoch"] == -1
    assert pr["current_txn_start_offset"] == -1
    assert res[(topic, 1)] == (kw.NONE, [])
    assert res[(topic, 99)][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
