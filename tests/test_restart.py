"""A full restart of `sluice dev` (SIGTERM, exit 0, start again on the same data dir)
loses nothing, and new records continue exactly at the old high watermarks."""

import signal

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from helpers import DeliveryLog, admin, consume_exact, create_topic, produce_all, producer, watermarks

PARTS = 3


def batch(topic, start, n):
    return [(i, topic, i % PARTS, f"k{i}".encode(), f"v{i}".encode() * 3, [("i", str(i).encode())], None)
            for i in range(start, start + n)]


def check(bs, topic, recs):
    by_part = {q: [r for r in recs if r[2] == q] for q in range(PARTS)}
    for q, rs in by_part.items():
        assert watermarks(bs, topic, q) == (0, len(rs)), f"partition {q}"
    got = consume_exact(bs, topic, {q: len(rs) for q, rs in by_part.items()})
    for q, rs in by_part.items():
        assert [m.offset() for m in got[q]] == list(range(len(rs)))
        assert [(m.key(), m.value(), m.headers()) for m in got[q]] == [(r[3], r[4], r[5]) for r in rs]


def test_restart_keeps_records_and_offsets_continue(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "restart-t"
    create_topic(bs, topic, PARTS)

    first = batch(topic, 0, 3000)
    log = DeliveryLog()
    produce_all(producer(bs, **{"compression.type": "lz4"}), first, log)
    assert log.errors() == {}
    check(bs, topic, first)

    sluice_dev.restart()  # SIGTERM, asserts exit 0, same data dir and port
    check(bs, topic, first)

    second = batch(topic, 3000, 1500)
    log2 = DeliveryLog()
    produce_all(producer(bs), second, log2)
    assert log2.errors() == {}
    # offsets continue exactly where they stopped: partition q had 1000 records
    for q in range(PARTS):
        offs = [log2.results[r[0]][2] for r in second if r[2] == q]
        assert offs == list(range(1000, 1500)), f"partition {q}"
    check(bs, topic, first + second)

    # a second restart, this time with SIGINT (Ctrl-C), still exits 0 and keeps everything
    sluice_dev.stop(sig=signal.SIGINT)
    sluice_dev.start()
    check(bs, topic, first + second)


def test_restart_keeps_topics_and_configs(sluice_dev):
    """Topics (auto-created ones too), partition counts and topic configs survive a restart."""
    bs = sluice_dev.bootstrap
    create_topic(bs, "cfg-restart", 5, config={"retention.ms": "123456"})
    a = admin(bs)
    res = ConfigResource(ResourceType.TOPIC, "cfg-restart", incremental_configs=[
        ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(timeout=30)
    recs = [(i, "auto-restart", 0, None, f"v{i}".encode(), None, None) for i in range(10)]
    log = DeliveryLog()
    produce_all(producer(bs), recs, log)
    assert log.errors() == {}
    assert sorted(r[2] for r in log.results.values()) == list(range(10))
    sluice_dev.restart()
    a = admin(bs)
    assert len(a.list_topics(topic="cfg-restart", timeout=30).topics["cfg-restart"].partitions) == 5
    res = ConfigResource(ResourceType.TOPIC, "cfg-restart")
    cfg = a.describe_configs([res])[res].result(timeout=30)
    assert cfg["retention.ms"].value == "123456"
    assert cfg["message.timestamp.type"].value == "LogAppendTime"
    assert watermarks(bs, "auto-restart", 0) == (0, 10)
    got = consume_exact(bs, "auto-restart", {0: 10})
    assert [(m.offset(), m.key(), m.value()) for m in got[0]] == [(i, None, f"v{i}".encode()) for i in range(10)]
