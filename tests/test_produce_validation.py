"""Produce-time validation as Kafka 4.1 does it (issue 10, items 1-3), over raw wire and with
confluent-kafka:

- a topic's compression.type is applied: batches are stored (and fetched) in the topic's codec,
  with its KIP-390 level, producer fields and timestamps intact; max.message.bytes applies to the
  batch as stored; zstd needs Produce v7+;
- KIP-937 message.timestamp.after.max.ms / before.max.ms refuse CreateTime records out of bounds
  with INVALID_TIMESTAMP, per-record errors and Kafka's message;
- an idempotent producer the broker has no state for may start at any sequence; continuity is
  enforced from there, and a new epoch starts at 0."""

import gzip
import time

from confluent_kafka import TIMESTAMP_CREATE_TIME

import kafkawire as kw
from helpers import (BASE_TS, DeliveryLog, alter_topic_configs, consume_exact, create_topic, produce_all,
                     producer, wait_until, watermarks)

T0 = BASE_TS
HOUR = 3_600_000


def conn(dev):
    return kw.KafkaConn("127.0.0.1", dev.port)


def fetch_batches(c, topic, partition=0, offset=0):
    res = kw.fetch_v11(c, 0, -1, {topic: {partition: offset}}, max_wait_ms=0)
    part = res.partitions[(topic, partition)]
    assert part.error_code == kw.NONE, part.error_code
    return kw.batch_headers(part.records)


def words(n, seed=1):
    # compressible, but not trivially: levels make a difference
    vocab = [f"w{(i * 7919 + seed) % 997}" for i in range(4000)]
    return " ".join(vocab[(i * 31) % len(vocab)] for i in range(n)).encode()


def recs(n, value_len=100):
    return [kw.Record(f"k{i}".encode(), words(value_len // 4, i)[:value_len], [("h", str(i).encode())], i)
            for i in range(n)]


def test_topic_codec_is_applied_and_fetched_as_stored(sluice_dev):
    """confluent-kafka (idempotent, lz4) into topics whose compression.type is zstd, gzip,
    snappy, uncompressed and producer: each stores its codec, producer id/epoch/sequence and
    timestamps survive, and the records read back exactly."""
    bs = sluice_dev.bootstrap
    expected_codec = {"zstd": "zstd", "gzip": "gzip", "snappy": "snappy", "uncompressed": "none",
                      "producer": "lz4", "lz4": "lz4"}
    n = 300
    for ctype, stored in expected_codec.items():
        topic = f"pv-codec-{ctype}"
        create_topic(bs, topic, 1, {"compression.type": ctype})
        log = DeliveryLog()
        p = producer(bs, **{"compression.type": "lz4", "enable.idempotence": True, "linger.ms": 50,
                            "batch.num.messages": 100})
        produce_all(p, [(i, topic, 0, f"k{i}".encode(), words(50, i), [("i", str(i).encode())], T0 + i)
                        for i in range(n)], log)
        assert log.errors() == {}
        with conn(sluice_dev) as c:
            batches = fetch_batches(c, topic)
        assert batches and all(b.codec == stored for b in batches), (ctype, [b.codec for b in batches])
        assert all(b.crc_ok for b in batches)
        assert sum(b.count for b in batches) == n
        # the idempotent producer's fields survive recompression: one id, sequences dense from 0
        assert len({(b.producer_id, b.producer_epoch) for b in batches}) == 1 and batches[0].producer_id >= 0
        seq = 0
        for b in batches:
            assert b.base_sequence == seq
            seq += b.count
        assert [b.max_timestamp for b in batches] == [T0 + b.base_offset + b.count - 1 for b in batches]
        got = consume_exact(bs, topic, {0: n})[0]
        assert [(m.key(), m.value(), m.headers(), m.timestamp()) for m in got] == \
            [(f"k{i}".encode(), words(50, i), [("i", str(i).encode())], (TIMESTAMP_CREATE_TIME, T0 + i))
             for i in range(n)]


def test_uncompressed_topic_stores_plain_batches_readable_by_the_raw_decoder(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "pv-plain"
    create_topic(bs, topic, 1, {"compression.type": "uncompressed"})
    batch = kw.encode_batch(recs(20), T0, attributes=kw.CODEC_GZIP, compress=gzip.compress)
    with conn(sluice_dev) as c:
        r = kw.produce(c, topic, 0, batch)
        assert (r.error_code, r.base_offset) == (kw.NONE, 0)
        res = kw.fetch_v11(c, 0, -1, {topic: {0: 0}}, max_wait_ms=0)
    [b] = kw.decode_batches(res.partitions[(topic, 0)].records)
    assert b.attributes & 0x07 == 0 and b.crc_ok
    assert [(x.key, x.value, x.headers, x.timestamp) for x in b.records] == \
        [(x.key, x.value, x.headers, T0 + x.timestamp_delta) for x in recs(20)]


def test_compression_level_configs_are_honoured(sluice_dev):
    """The same uncompressed batch into gzip topics at level 1 and 9, and zstd topics at 1 and
    19: the higher level stores fewer bytes (KIP-390)."""
    bs = sluice_dev.bootstrap
    batch = kw.encode_batch(recs(400, 400), T0)
    sizes = {}
    for codec, level in [("gzip", 1), ("gzip", 9), ("zstd", 1), ("zstd", 19)]:
        topic = f"pv-level-{codec}-{level}"
        create_topic(bs, topic, 1, {"compression.type": codec, f"compression.{codec}.level": str(level)})
        with conn(sluice_dev) as c:
            assert kw.produce(c, topic, 0, batch).error_code == kw.NONE
            [b] = fetch_batches(c, topic)
        assert b.codec == codec
        sizes[(codec, level)] = len(b.raw)
    assert sizes[("gzip", 9)] < sizes[("gzip", 1)] < len(batch), sizes
    assert sizes[("zstd", 19)] < sizes[("zstd", 1)] < len(batch), sizes


def test_max_message_bytes_applies_to_the_batch_as_stored(sluice_dev):
    """A 500 KB gzip batch of repetitive bytes (a few KB on the wire) into a topic with
    compression.type=uncompressed and max.message.bytes=100000: MESSAGE_TOO_LARGE, nothing
    appended; a topic that keeps the producer's codec takes it."""
    bs = sluice_dev.bootstrap
    big = [kw.Record(b"k", b"A" * 10_000, [], i) for i in range(50)]
    batch = kw.encode_batch(big, T0, attributes=kw.CODEC_GZIP, compress=gzip.compress)
    assert len(batch) < 10_000
    create_topic(bs, "pv-too-large", 1, {"compression.type": "uncompressed", "max.message.bytes": "100000"})
    create_topic(bs, "pv-fits", 1, {"max.message.bytes": "100000"})
    with conn(sluice_dev) as c:
        r = kw.produce(c, "pv-too-large", 0, batch)
        assert (r.error_code, r.base_offset, r.error_message, r.record_errors) == \
            (kw.MESSAGE_TOO_LARGE, -1, None, [])
        assert kw.produce(c, "pv-fits", 0, batch).error_code == kw.NONE
    assert watermarks(bs, "pv-too-large", 0) == (0, 0)
    assert watermarks(bs, "pv-fits", 0) == (0, 50)


def test_zstd_needs_produce_v7(sluice_dev):
    """A zstd batch in Produce v3-v6 is UNSUPPORTED_COMPRESSION_TYPE; v7 takes it. The zstd
    batch is one Sluice stored for a zstd topic, re-sent with base offset 0."""
    bs = sluice_dev.bootstrap
    create_topic(bs, "pv-zstd-src", 1, {"compression.type": "zstd"})
    create_topic(bs, "pv-zstd", 1)
    with conn(sluice_dev) as c:
        assert kw.produce(c, "pv-zstd-src", 0, kw.encode_batch(recs(5), T0)).error_code == kw.NONE
        [b] = fetch_batches(c, "pv-zstd-src")
        assert b.codec == "zstd"
        zbatch = kw.i64(0) + b.raw[8:]
        for v in (3, 4, 5, 6):
            r = kw.produce(c, "pv-zstd", 0, zbatch, version=v)
            assert (r.error_code, r.base_offset) == (kw.UNSUPPORTED_COMPRESSION_TYPE, -1), v
        r = kw.produce(c, "pv-zstd", 0, zbatch, version=7)
        assert (r.error_code, r.base_offset) == (kw.NONE, 0)
        [stored] = fetch_batches(c, "pv-zstd")
        assert stored.codec == "zstd" and stored.payload == b.payload


def test_timestamps_beyond_kip937_bounds_are_refused(sluice_dev):
    """A CreateTime record 2 hours ahead (after.max.ms defaults to 1 hour): INVALID_TIMESTAMP,
    base offset -1, one record error naming the record, Kafka's message, nothing appended.
    LogAppendTime topics are exempt; before.max.ms bounds old records."""
    bs = sluice_dev.bootstrap
    create_topic(bs, "pv-ts", 1)
    create_topic(bs, "pv-ts-lat", 1, {"message.timestamp.type": "LogAppendTime"})
    create_topic(bs, "pv-ts-before", 1, {"message.timestamp.before.max.ms": str(HOUR)})
    now = int(time.time() * 1000)
    future = now + 2 * HOUR
    batch = kw.encode_batch([kw.Record(b"a", b"now", [], 0), kw.Record(b"b", b"later", [], 2 * HOUR)], now)
    with conn(sluice_dev) as c:
        r = kw.produce(c, "pv-ts", 0, batch)
        assert (r.error_code, r.base_offset, r.log_append_time) == (kw.INVALID_TIMESTAMP, -1, -1)
        assert r.error_message == "One or more records have been rejected due to invalid timestamp"
        [(index, msg)] = r.record_errors
        assert index == 1
        prefix = f"Timestamp {future} of message with offset 1 is out of range. The timestamp should be within ["
        assert msg.startswith(prefix), msg
        lo, hi = (int(x) for x in msg[len(prefix):-1].split(", "))
        assert lo < -9_000_000_000_000_000_000  # now - Long.MAX_VALUE
        assert now <= hi - HOUR <= now + 60_000
        # Produce v7 has no record errors nor message, just the code
        assert kw.produce(c, "pv-ts", 0, batch, version=7).error_code == kw.INVALID_TIMESTAMP
        # LogAppendTime topics do not check producer timestamps
        r = kw.produce(c, "pv-ts-lat", 0, batch)
        assert (r.error_code, r.base_offset) == (kw.NONE, 0) and r.log_append_time >= now
        # before.max.ms
        old = kw.encode_batch([kw.Record(b"a", b"old", [], 0)], now - 2 * HOUR)
        r = kw.produce(c, "pv-ts-before", 0, old)
        assert (r.error_code, [i for i, _ in r.record_errors]) == (kw.INVALID_TIMESTAMP, [0])
        assert kw.produce(c, "pv-ts", 0, old).error_code == kw.NONE  # default: Long.MAX
    assert watermarks(bs, "pv-ts", 0) == (0, 1)
    assert watermarks(bs, "pv-ts-before", 0) == (0, 0)
    # raising the bound lets the same batch in
    alter_topic_configs(bs, "pv-ts", {"message.timestamp.after.max.ms": str(3 * HOUR)})
    r = None

    def accepted():
        nonlocal r
        with conn(sluice_dev) as c:
            r = kw.produce(c, "pv-ts", 0, batch)
        return r.error_code == kw.NONE
    wait_until("the batch accepted under the raised bound", accepted, timeout=30,
               context=lambda: f"last answer: {r}")
    assert r.base_offset == 1


def test_client_sees_invalid_timestamp(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "pv-ts-client"
    create_topic(bs, topic, 1)
    log = DeliveryLog()
    future = int(time.time() * 1000) + 2 * HOUR
    produce_all(producer(bs), [(0, topic, 0, b"k", b"v", None, future)], log)
    errs = log.errors()
    assert list(errs) == [0] and errs[0].code() == 32, errs  # INVALID_TIMESTAMP
    assert watermarks(bs, topic, 0) == (0, 0)


def test_first_write_of_a_producer_without_state_may_start_anywhere(sluice_dev):
    """Fresh InitProducerId, first batch at base sequence 42: accepted; then a gap is
    OUT_OF_ORDER_SEQUENCE_NUMBER, a retry is deduplicated, the next in order is appended; a new
    epoch must start at 0."""
    bs = sluice_dev.bootstrap
    topic = "pv-seq"
    create_topic(bs, topic, 1)
    with conn(sluice_dev) as c:
        err, pid, epoch = kw.init_producer_id_v1(c)
        assert err == kw.NONE

        def batch(seq, n=2, ep=epoch):
            return kw.encode_batch([kw.Record(f"s{seq + j}".encode(), b"v", [], j) for j in range(n)], T0,
                                   producer_id=pid, producer_epoch=ep, base_sequence=seq)

        assert kw.produce(c, topic, 0, batch(42)).base_offset == 0
        assert kw.produce(c, topic, 0, batch(45)).error_code == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
        r = kw.produce(c, topic, 0, batch(42))
        assert (r.error_code, r.base_offset) == (kw.NONE, 0)  # a retry
        assert kw.produce(c, topic, 0, batch(44)).base_offset == 2
        # a client-side epoch bump restarts sequences at 0
        assert kw.produce(c, topic, 0, batch(46, ep=epoch + 1)).error_code == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert kw.produce(c, topic, 0, batch(0, ep=epoch + 1)).base_offset == 4
        assert kw.produce(c, topic, 0, batch(46)).error_code == 47  # INVALID_PRODUCER_EPOCH
    assert watermarks(bs, topic, 0) == (0, 6)
