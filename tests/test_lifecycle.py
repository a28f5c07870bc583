"""Storage lifecycle on one meta node and two agents sharing a file:// store (issue 14): retention by the
broker default with the objects actually deleted, segment compaction with readers looping on both agents
through it, and log compaction of a cleanup.policy=compact topic.

The agents run every duty fast (retention checks, compaction passes and the janitor's delete delay are
fractions of a second) and keep topics without overrides for 3 s by default (--log-retention-ms)."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import TopicPartition

from conftest import Cluster, free_port
from helpers import (DeliveryLog, consume_exact, consumer, create_topic, produce_all, producer,
                     scrape_metrics, wait_for_line, wait_until, watermarks)

FAST = ["--log-retention-ms", "3000", "--log-retention-check-interval-ms", "300",
        "--file-delete-delay-ms", "500", "--orphan-grace-secs", "4", "--compaction-interval-ms", "300",
        "--compaction-target-bytes", str(4 << 20), "--compaction-min-age-ms", "0"]


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    c = Cluster(tmp)
    objects = tmp / "objects"
    objects.mkdir()
    meta = c.meta(1)
    mport = free_port()
    a = c.agent(meta.url, objects, 1, "agent-a", *FAST, "--metrics-listen", f"127.0.0.1:{mport}")
    a.metrics_url = f"http://127.0.0.1:{mport}/metrics"
    b = c.agent(meta.url, objects, 2, "agent-b", *FAST)
    yield a, b, objects
    c.close()


def seg_files(objects) -> set[str]:
    return {p.name for p in (objects / "segments").glob("*.seg")}


def test_default_retention_deletes_old_data_and_frees_its_objects(agents):
    a, b, objects = agents
    create_topic(a.bootstrap, "lc-default", 2)
    create_topic(a.bootstrap, "lc-forever", 2, config={"retention.ms": "-1"})
    # given: both topics' records in the same flush objects
    log = DeliveryLog()
    recs = [(i, t, i % 2, None, f"{t}-{i}".encode(), None, None)
            for i in range(400) for t in ("lc-default", "lc-forever")]
    produce_all(producer(a.bootstrap, **{"linger.ms": 20}), [(n, *r[1:]) for n, r in enumerate(recs)], log)
    assert log.errors() == {}
    flushed = {f for f in seg_files(objects) if not f.startswith("c-")}
    assert flushed
    # then: the default topic empties (3 s default), the -1 topic keeps everything ...
    for p in (0, 1):
        wait_until("default retention", lambda: watermarks(b.bootstrap, "lc-default", p) == (200, 200))
        assert watermarks(b.bootstrap, "lc-forever", p) == (0, 200)
    # ... and every flush object goes: the -1 topic's bytes were rewritten, the rest deleted
    wait_until("flush objects deleted", lambda: not (flushed & seg_files(objects)))
    got = consume_exact(b.bootstrap, "lc-forever", {0: 200, 1: 200})
    for p in (0, 1):
        assert [(m.offset(), m.value()) for m in got[p]] == \
            [(o, f"lc-forever-{2 * o + p}".encode()) for o in range(200)]


def read_all(bootstrap: str, topics: list[str], partitions: int, per_partition: int) -> dict:
    """Every record of every partition from offset 0 (raises on any consumer error)."""
    c = consumer(bootstrap)
    try:
        c.assign([TopicPartition(t, p, 0) for t in topics for p in range(partitions)])
        got: dict = {}
        total = len(topics) * partitions * per_partition
        n = 0
        deadline = time.monotonic() + 60
        while n < total:
            assert time.monotonic() < deadline, f"read {n} of {total}"
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    raise AssertionError(f"consumer error: {m.error()}")
                got.setdefault((m.topic(), m.partition()), []).append((m.offset(), m.value()))
                n += 1
        return got
    finally:
        c.close()


def test_segment_compaction_leaves_per_partition_objects_and_readers_never_see_a_gap(agents):
    a, b, objects = agents
    topics = [f"lc-seg{i}" for i in range(5)]
    for t in topics:
        create_topic(a.bootstrap, t, 10, config={"retention.ms": "-1"})
    before = seg_files(objects)
    # given: 50 partitions written in 20 small flushes (each flush object holds all 50)
    p = producer(a.bootstrap, **{"linger.ms": 50})
    log = DeliveryLog()
    n = 0
    for rnd in range(20):
        recs = []
        for t in topics:
            for part in range(10):
                recs.append((n, t, part, None, f"{t}/{part}/{rnd}".encode(), None, None))
                n += 1
        produce_all(p, recs, log)
    assert log.errors() == {}
    expected = {(t, part): [(o, f"{t}/{part}/{o}".encode()) for o in range(20)]
                for t in topics for part in range(10)}

    # when: compaction runs, readers loop on both agents
    errors, passes = [], {"a": 0, "b": 0}
    stop = threading.Event()

    def reader(name, bootstrap):
        while not stop.is_set():
            try:
                got = read_all(bootstrap, topics, 10, 20)
                if got != expected:
                    errors.append(f"{name}: wrong records")
                passes[name] += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{name}: {e}")
                return

    threads = [threading.Thread(target=reader, args=(k, x.bootstrap)) for k, x in (("a", a), ("b", b))]
    for t in threads:
        t.start()

    def compacted():
        files = seg_files(objects) - before
        return files and all(f.startswith("c-") for f in files) and len(files) <= 2 * 50

    try:
        wait_until("segment compaction", compacted)
        wait_until("readers to pass after compaction", lambda: min(passes.values()) >= 2 or errors)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == []
    # then: at most a few objects per partition, every record at its offset from both agents
    print(f"objects after compaction: {len(seg_files(objects) - before)} for 50 partitions; "
          f"reader passes {passes}")
    for x in (a, b):
        assert read_all(x.bootstrap, topics, 10, 20) == expected
    m = scrape_metrics(a.metrics_url)
    names = {k[0] for k in m}
    assert "sluice_storage_amplification" in names


def test_fetches_from_any_offset_of_compacted_objects_cross_block_boundaries_exactly(agents):
    """Batches of 100 B to 700 KiB, merged by compaction into objects whose index entries are about
    one cache block (1 MiB) long and whose batches straddle block boundaries: reading from offsets
    in the middle of entries, with fetch limits below one batch, gives every record exactly."""
    a, _b, objects = agents
    topic = "lc-blocks"
    create_topic(a.bootstrap, topic, 1, config={"retention.ms": "-1"})
    before = seg_files(objects)
    sizes = [100, 50 << 10, 700 << 10, 3 << 10, 250 << 10, 10]
    values = [bytes([i % 251]) * 8 + i.to_bytes(4, "big") * (sizes[i % len(sizes)] // 4) for i in range(60)]
    p = producer(a.bootstrap, **{"linger.ms": 20})
    log = DeliveryLog()
    for start in range(0, 60, 6):  # ten flushes, each of six batches or fewer
        produce_all(p, [(i, topic, 0, None, values[i], None, None) for i in range(start, start + 6)], log)
    assert log.errors() == {}
    assert sorted(o for (_e, _part, o, _t) in log.results.values()) == list(range(60))

    def compacted():
        files = seg_files(objects) - before
        return files and all(f.startswith("c-") for f in files)
    wait_until("segment compaction", compacted)
    for start in (0, 1, 2, 7, 20, 33, 58, 59):
        c = consumer(a.bootstrap, **{"max.partition.fetch.bytes": 65536, "fetch.max.bytes": 300000,
                                     "message.max.bytes": 300000, "receive.message.max.bytes": 2 << 20})
        try:
            c.assign([TopicPartition(topic, 0, start)])
            got, deadline = [], time.monotonic() + 60
            while len(got) < 60 - start and time.monotonic() < deadline:
                for m in c.consume(num_messages=100, timeout=0.5):
                    assert m.error() is None, m.error()
                    got.append((m.offset(), m.value()))
        finally:
            c.close()
        assert [o for o, _ in got] == list(range(start, 60)), f"from {start}"
        assert all(v == values[o] for o, v in got), f"from {start}: a record's bytes differ"


def test_agent_killed_mid_compaction_loses_nothing_and_its_output_is_collected(tmp_path):
    """An agent SIGKILLed between uploading a compaction job's output and the index swap: the index
    still names the flush objects, so every record reads back from the other agent; the other agent
    takes the compaction lease once it lapses (10 s), compacts the topic itself, and the janitor
    deletes the dead agent's unreferenced output as an orphan."""
    c = Cluster(tmp_path)
    objects = tmp_path / "objects"
    objects.mkdir()
    try:
        meta = c.meta(1)
        a = c.agent(meta.url, objects, 1, "agent-a", *FAST, env={"SLUICE_COMPACTION_TEST_PAUSE": "true"})
        topic, parts, rounds = "lc-kill", 4, 8
        create_topic(a.bootstrap, topic, parts, config={"retention.ms": "-1"})
        # given: 8 flush objects, each holding a record of every partition
        p = producer(a.bootstrap, **{"linger.ms": 20})
        log = DeliveryLog()
        for rnd in range(rounds):
            produce_all(p, [(rnd * parts + part, topic, part, None, f"{part}/{rnd}".encode(), None, None)
                            for part in range(parts)], log)
        assert log.errors() == {}
        expected = {(topic, part): [(o, f"{part}/{o}".encode()) for o in range(rounds)] for part in range(parts)}
        flushed = seg_files(objects)
        # when: agent a uploads a job's output and is killed before the swap
        line = wait_for_line(a, "compaction job paused at uploaded: ")
        orphan = objects / line.split("paused at uploaded: ", 1)[1].strip()
        assert orphan.name.startswith("c-") and orphan.exists(), line
        a.kill()
        b = c.agent(meta.url, objects, 2, "agent-b", *FAST)
        # then: nothing lost, as read through the other agent at once
        assert read_all(b.bootstrap, [topic], parts, rounds) == expected
        # and b compacts the topic once a's lease lapsed, and the orphan goes
        wait_until("agent b's compaction of the flush objects",
                   lambda: any(f.startswith("c-") and f != orphan.name for f in seg_files(objects)),
                   timeout=90, every=0.5)
        wait_until("the janitor deleting the dead agent's orphan output", lambda: not orphan.exists(),
                   timeout=90, every=0.5)
        wait_until("the flush objects, no longer referenced, deleted",
                   lambda: not (flushed & seg_files(objects)), timeout=60, every=0.5)
        assert read_all(b.bootstrap, [topic], parts, rounds) == expected
        assert b.alive()
    finally:
        c.close()


def test_log_compaction_keeps_the_latest_record_per_key(agents):
    a, b, objects = agents
    topic = "lc-compact"
    create_topic(a.bootstrap, topic, 1, config={
        "cleanup.policy": "compact", "delete.retention.ms": "1000", "min.cleanable.dirty.ratio": "0.01"})
    # given: 100,000 records over 1,000 keys; the last round tombstones keys 0..99
    log = DeliveryLog()
    recs = []
    for i in range(100_000):
        k = i % 1000
        value = None if (i >= 99_000 and k < 100) else f"v{i}".encode()
        recs.append((i, topic, 0, f"k{k}".encode(), value, None, None))
    produce_all(producer(a.bootstrap, **{"linger.ms": 50, "batch.num.messages": 1000}), recs, log)
    assert log.errors() == {}
    offset_of = {i: log.results[i][2] for i in range(100_000)}
    # and once the tombstones are older than delete.retention.ms, one more record makes the log dirty
    time.sleep(1.2)
    log2 = DeliveryLog()
    produce_all(producer(a.bootstrap), [(0, topic, 0, b"trailer", b"t", None, None)], log2)
    trailer = log2.results[0][2]
    expected = [(offset_of[99_000 + k], f"k{k}".encode(), f"v{99_000 + k}".encode()) for k in range(100, 1000)]
    expected.append((trailer, b"trailer", b"t"))

    def compacted_view(bootstrap):
        c = consumer(bootstrap)
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            got = []
            hw = trailer + 1
            while not got or got[-1][0] < hw - 1:
                ms = c.consume(num_messages=10000, timeout=1.0)
                for m in ms:
                    assert m.error() is None, m.error()
                    got.append((m.offset(), m.key(), m.value()))
                if not ms:
                    break
            return got
        finally:
            c.close()

    # then: exactly the latest value per live key, at its original offset, tombstoned keys gone
    wait_until("log compaction", lambda: compacted_view(b.bootstrap) == expected, timeout=90, every=0.5)
    assert compacted_view(a.bootstrap) == expected
    assert watermarks(a.bootstrap, topic, 0) == (0, trailer + 1)


def read_isolated(bootstrap: str, topic: str, isolation: str) -> list:
    """(offset, key, value) of partition 0 from offset 0 to its end (read_committed: to the LSO)."""
    c = consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        return got
                    raise AssertionError(f"consumer error: {m.error()}")
                got.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()


@pytest.mark.parametrize("policy", ["delete", "compact"])
def test_transactions_survive_compaction(agents, policy):
    """Transaction markers pass through segment and log compaction: read_committed and read_uncommitted
    readers see the same records at the same offsets before and after."""
    a, b, objects = agents
    topic = f"lc-txn-{policy}"
    create_topic(a.bootstrap, topic, 1, config={"cleanup.policy": policy, "retention.ms": "-1"})
    before = seg_files(objects)
    p = producer(a.bootstrap, **{"transactional.id": f"lc-{policy}", "linger.ms": 2, "message.timeout.ms": 60000})
    p.init_transactions(60)
    plain = producer(a.bootstrap)
    for i in range(20):
        p.begin_transaction()
        p.produce(topic, key=f"t{i % 3}".encode(), value=f"txn-{i}".encode(), partition=0)
        assert p.flush(30) == 0
        if i % 2 == 0:
            p.commit_transaction(60)
        else:
            p.abort_transaction(60)
        plain.produce(topic, key=f"p{i}".encode(), value=f"plain-{i}".encode(), partition=0)
        assert plain.flush(30) == 0
    committed = read_isolated(b.bootstrap, topic, "read_committed")
    uncommitted = read_isolated(b.bootstrap, topic, "read_uncommitted")
    assert len(committed) == 30 and len(uncommitted) == 40
    wait_until("compaction of the topic's flush objects",
               lambda: all(f.startswith("c-") for f in seg_files(objects) - before))
    for x in (a, b):
        assert read_isolated(x.bootstrap, topic, "read_committed") == committed
        assert read_isolated(x.bootstrap, topic, "read_uncommitted") == uncommitted
