"""Conformance scenarios for Produce-time validation (issue 10, items 1-3): a topic's compression.type and
KIP-390 levels, max.message.bytes on the batch as stored, zstd needing Produce v7+, KIP-937 timestamp bounds,
and idempotent producers' sequences on a partition without state. Each runs against Apache Kafka and Sluice
and compares (harness.py)."""

from __future__ import annotations

import gzip
import re
import struct
import time

import kafkawire as kw
from helpers import BASE_TS

T0 = BASE_TS
HOUR = 3_600_000


def records(n: int, value_len: int = 60) -> list[kw.Record]:
    return [kw.Record(f"k{i}".encode(), (f"v{i}-" * value_len)[:value_len].encode(), [("h", str(i).encode())], i)
            for i in range(n)]


def stored(t, topic: str) -> list[kw.BatchHeader]:
    """The batches of partition 0 as a consumer fetches them (raw Fetch v11)."""
    with t.conn() as c:
        part = kw.fetch_v11(c, 0, -1, {topic: {0: 0}}, max_wait_ms=0).partitions[(topic, 0)]
    return kw.batch_headers(part.records)


def produced(t, r: kw.ProducePartitionResult) -> dict:
    return {"error": t.err(r.error_code), "base_offset": r.base_offset, "log_start_offset": r.log_start_offset,
            "error_message": r.error_message, "record_errors": r.record_errors}


def consumed(t, topic: str, n: int) -> list:
    c = t.consumer()
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, deadline = [], time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append([m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]])
    c.close()
    return got


def test_topic_compression_type_is_applied(both):
    """lz4 batches (librdkafka) into topics whose compression.type is zstd, gzip, snappy, uncompressed,
    producer: the codec they are stored and fetched in, and the records read back."""
    def scenario(t):
        out = {}
        for ctype in ("zstd", "gzip", "snappy", "uncompressed", "producer"):
            topic = t.topic(ctype, config={"compression.type": ctype})
            p = t.producer(**{"compression.type": "lz4", "enable.idempotence": True, "linger.ms": 50})
            for i in range(50):
                p.produce(topic, key=f"k{i}".encode(), value=f"value-{i}".encode() * 5, timestamp=T0 + i)
            assert p.flush(60) == 0
            batches = stored(t, topic)
            out[ctype] = {"codecs": sorted({b.codec for b in batches}), "crc_ok": all(b.crc_ok for b in batches),
                          "count": sum(b.count for b in batches), "first_sequence": batches[0].base_sequence,
                          "max_timestamp": batches[-1].max_timestamp,
                          "records": consumed(t, topic, 50)}
        # and a gzip batch sent raw into an uncompressed topic is stored plain
        topic = t.topic("raw-gzip", config={"compression.type": "uncompressed"})
        with t.conn() as c:
            r = kw.produce(c, topic, 0, kw.encode_batch(records(10), T0, attributes=kw.CODEC_GZIP,
                                                        compress=gzip.compress))
        [b] = stored(t, topic)
        out["raw-gzip"] = {"produce": produced(t, r), "codec": b.codec,
                           "records": [(x.key, x.value, x.headers, x.timestamp)
                                       for x in kw.decode_batches(b.raw)[0].records]}
        return out
    both.compare(scenario)


def test_compression_levels(both):
    """KIP-390: the same plain batch into gzip topics at levels 1 and 9 and zstd topics at 1 and 19: the
    higher level stores fewer bytes (sizes differ between the brokers' codec libraries; their order not)."""
    def scenario(t):
        batch = kw.encode_batch(records(300, 300), T0)
        size = {}
        for codec, level in (("gzip", 1), ("gzip", 9), ("zstd", 1), ("zstd", 19)):
            topic = t.topic(f"{codec}-{level}", config={"compression.type": codec,
                                                       f"compression.{codec}.level": str(level)})
            with t.conn() as c:
                assert kw.produce(c, topic, 0, batch).error_code == 0
            [b] = stored(t, topic)
            size[(codec, level)] = (b.codec, len(b.raw))
        return {"codecs": sorted({c for c, _ in size.values()}),
                "gzip_9_smaller": size[("gzip", 9)][1] < size[("gzip", 1)][1],
                "zstd_19_smaller": size[("zstd", 19)][1] < size[("zstd", 1)][1]}
    both.compare(scenario)


def test_max_message_bytes_applies_to_the_batch_as_stored(both):
    """A 500 KB gzip batch of repetitive bytes (a few KB sent) into a topic with compression.type=uncompressed
    and max.message.bytes=100000, and into one that keeps the producer's codec."""
    def scenario(t):
        big = [kw.Record(b"k", b"A" * 10_000, [], i) for i in range(50)]
        batch = kw.encode_batch(big, T0, attributes=kw.CODEC_GZIP, compress=gzip.compress)
        too_large = t.topic("uncompressed", config={"compression.type": "uncompressed",
                                                    "max.message.bytes": "100000"})
        fits = t.topic("producer", config={"max.message.bytes": "100000"})
        with t.conn() as c:
            r1 = kw.produce(c, too_large, 0, batch)
            r2 = kw.produce(c, fits, 0, batch)
            # Produce v7 (no error message field) gets the same code
            r3 = kw.produce(c, too_large, 0, batch, version=7)
        return {"too_large": produced(t, r1), "fits": produced(t, r2), "v7": t.err(r3.error_code),
                "stored": len(stored(t, too_large))}
    both.compare(scenario)


def test_zstd_needs_produce_v7(both):
    """A zstd batch (the one the broker stored for a zstd topic, re-sent with base offset 0) in Produce v3-v7."""
    def scenario(t):
        src = t.topic("src", config={"compression.type": "zstd"})
        dst = t.topic("dst")
        with t.conn() as c:
            assert kw.produce(c, src, 0, kw.encode_batch(records(5), T0)).error_code == 0
        [b] = stored(t, src)
        zbatch = kw.i64(0) + b.raw[8:]
        out = {}
        with t.conn() as c:
            for v in (3, 4, 5, 6, 7):
                r = kw.produce(c, dst, 0, zbatch, version=v)
                out[f"v{v}"] = [t.err(r.error_code), r.base_offset, r.log_start_offset]
        out["stored"] = [x.codec for x in stored(t, dst)]
        return out
    both.compare(scenario)


def _shape(message: str | None) -> str | None:
    """A message with its numbers (clock-dependent bounds) replaced by N."""
    return None if message is None else re.sub(r"-?\d+", "N", message)


def test_timestamps_beyond_kip937_bounds(both):
    """A CreateTime record 2 hours ahead (after.max.ms defaults to 1 hour) next to a good one; a record 2 hours
    old with before.max.ms=1h; the same into a LogAppendTime topic; a topic with after.max.ms raised."""
    def scenario(t):
        default = t.topic("default")
        before = t.topic("before", config={"message.timestamp.before.max.ms": str(HOUR)})
        lat = t.topic("lat", config={"message.timestamp.type": "LogAppendTime"})
        lenient = t.topic("lenient", config={"message.timestamp.after.max.ms": str(3 * HOUR)})
        now = int(time.time() * 1000)
        ahead = kw.encode_batch([kw.Record(b"a", b"now", [], 0), kw.Record(b"b", b"ahead", [], 2 * HOUR)], now)
        old = kw.encode_batch([kw.Record(b"a", b"old", [], 0)], now - 2 * HOUR)
        out = {}
        with t.conn() as c:
            for name, topic, batch in (("ahead", default, ahead), ("old_default", default, old),
                                       ("old_before", before, old), ("ahead_lat", lat, ahead),
                                       ("ahead_lenient", lenient, ahead)):
                r = kw.produce(c, topic, 0, batch)
                out[name] = {"error": t.err(r.error_code), "base_offset": r.base_offset,
                             "error_message": r.error_message, "log_start_offset": r.log_start_offset,
                             "log_append_time_set": r.log_append_time >= now,
                             "record_errors": [(i, _shape(m)) for i, m in r.record_errors]}
            out["ahead_v7"] = t.err(kw.produce(c, default, 0, ahead, version=7).error_code)
        return out
    both.compare(scenario)


def test_first_sequence_of_a_producer_without_state(both):
    """Fresh InitProducerId, first batch at base sequence 42; then a gap, a retry, the next in order, a new
    epoch not starting at 0, the new epoch at 0, and the old epoch again."""
    def scenario(t):
        topic = t.topic("seq")
        out = []
        with t.conn() as c:
            deadline = time.monotonic() + 60
            while True:  # Kafka's coordinator may still be loading (COORDINATOR_LOAD_IN_PROGRESS, retriable)
                err, pid, epoch = kw.init_producer_id_v1(c)
                if err == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert err == 0

            def send(seq, ep=epoch, n=2):
                b = kw.encode_batch([kw.Record(f"s{seq + j}".encode(), b"v", [], j) for j in range(n)], T0,
                                    producer_id=pid, producer_epoch=ep, base_sequence=seq)
                r = kw.produce(c, topic, 0, b)
                out.append([seq, ep - epoch, t.err(r.error_code), r.base_offset, r.log_start_offset])

            send(42)
            send(45)
            send(42)
            send(44)
            send(46, epoch + 1)
            send(0, epoch + 1)
            send(46)
        return {"steps": out, "records": [[o, k] for o, k, *_ in consumed(t, topic, 6)]}
    both.compare(scenario)


def test_invalid_records(both):
    """Malformed produce input, each answered with its own code: two batches for one partition, a magic-1
    header, a base offset other than 0, an idempotent batch with a negative sequence, keyless records in a
    compacted topic (per-record errors), a batch length beyond the data or below the header, no records."""
    def scenario(t):
        topic = t.topic("plain")
        compacted = t.topic("compacted", config={"cleanup.policy": "compact"})
        good = kw.encode_batch(records(2), T0)
        magic1 = bytearray(good)
        magic1[16] = 1
        keyless = kw.encode_batch([kw.Record(b"k", b"v", [], 0), kw.Record(None, b"v", [], 1),
                                   kw.Record(None, b"v", [], 2)], T0)
        cases = {"two_batches": (topic, good + good), "magic_1": (topic, bytes(magic1)),
                 "base_offset_5": (topic, kw.encode_batch(records(2), T0, base_offset=5)),
                 "negative_sequence": (topic, kw.encode_batch(records(2), T0, producer_id=1, producer_epoch=0,
                                                              base_sequence=-1)),
                 "keyless_in_compacted": (compacted, keyless),
                 "gzip_garbage": (topic, kw.encode_batch(records(2), T0, attributes=kw.CODEC_GZIP,
                                                         compress=lambda b: b"not gzip at all" * 4)),
                 # batchLength beyond the bytes sent, or below a v2 header; no records at all
                 "length_beyond_data": (topic, good[:8] + struct.pack(">i", len(good) + 100) + good[12:]),
                 "length_below_header": (topic, good[:8] + struct.pack(">i", 20) + good[12:]),
                 "empty": (topic, b"")}
        out = {}
        with t.conn() as c:
            for name, (tp, batch) in cases.items():
                out[name] = produced(t, kw.produce(c, tp, 0, batch))
        out["stored"] = [len(stored(t, topic)), len(stored(t, compacted))]
        return out
    both.compare(scenario)
