"""KIP-227 fetch sessions.

1. kafka-python's KafkaConsumer with manual assign. kafka-python (3.0.x, pinned in
   tests/requirements.txt; 2.x behaves the same) uses incremental fetch sessions by
   default: kafka/consumer/fetcher.py has `'enable_incremental_fetch_sessions': True`
   and builds each FetchRequest (up to v12) from a per-node FetchSessionHandler
   (session_id / session_epoch), so after the first full fetch it sends incremental ones.
2. The session protocol on a raw socket with Fetch v11: creation, incremental fetches
   that return only changed partitions, and the two session errors.
"""

import time

from kafka import KafkaConsumer, TopicPartition as KTP
from kafka.consumer.fetcher import FetchSessionHandler

import kafkawire as kw
from helpers import BASE_TS, DeliveryLog, create_topic, produce_all, producer

T0 = BASE_TS


def test_kafka_python_consumer_with_sessions(sluice_dev, monkeypatch):
    bs = sluice_dev.bootstrap
    # record every fetch response kafka-python's session handler sees, to prove the
    # session was created and continued incrementally (not silently downgraded)
    seen = []
    orig = FetchSessionHandler.handle_response

    def spy(self, response):
        seen.append((self.next_metadata.session_id, self.next_metadata.epoch, response.session_id,
                     response.error_code))
        return orig(self, response)
    monkeypatch.setattr(FetchSessionHandler, "handle_response", spy)

    topic = "fs-kp"
    create_topic(bs, topic, 3)
    recs = [(i, topic, i % 3, f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())], T0 + i)
            for i in range(3000)]
    log = DeliveryLog()
    produce_all(producer(bs), recs, log)
    assert log.errors() == {}

    c = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="none", fetch_max_wait_ms=200, max_partition_fetch_bytes=4096,
                      enable_incremental_fetch_sessions=True)
    try:
        tps = [KTP(topic, q) for q in range(3)]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, 0)
        got = {q: [] for q in range(3)}

        def drain(total):
            n = sum(len(v) for v in got.values())
            deadline = time.monotonic() + 120
            while n < total and time.monotonic() < deadline:
                for tp, msgs in c.poll(timeout_ms=500, max_records=5000).items():
                    got[tp.partition] += msgs
                    n += len(msgs)
            return n
        # a small max_partition_fetch_bytes forces many fetches, so the session's incremental path is used
        assert drain(3000) == 3000

        # more data arrives while the session is open: incremental fetches must pick it up
        more = [(i, topic, i % 3, f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())], T0 + i)
                for i in range(3000, 3300)]
        log2 = DeliveryLog()
        produce_all(producer(bs), more, log2)
        assert log2.errors() == {}
        assert drain(3300) == 3300
        extra = c.poll(timeout_ms=1000)
        assert extra == {}, "unexpected extra records"

        assert seen, "no Fetch v7+ response went through the session handler"
        assert [s for s in seen if s[3] != 0] == [], "fetch session errors"
        full = [s for s in seen if s[1] == 0]
        assert full and full[0][2] != 0, "the first full fetch did not create a session"
        sid = full[0][2]
        incremental = [s for s in seen if s[0] == sid and s[1] >= 1]
        assert len(incremental) >= 3, f"too few incremental fetches in session {sid}: {seen[:10]}"
        assert all(s[2] == sid for s in incremental), "session id changed during incremental fetches"

        for q in range(3):
            exp = [r for r in recs + more if r[2] == q]
            assert [m.offset for m in got[q]] == list(range(len(exp)))
            assert [(m.key, m.value, [(h[0], h[1]) for h in m.headers], m.timestamp) for m in got[q]] == \
                [(r[3], r[4], r[5], r[6]) for r in exp]
    finally:
        c.close()


def produce_raw(conn, topic, part, values):
    recs = [kw.Record(None, v) for v in values]
    err, base, _ = kw.produce_v3(conn, topic, part, kw.encode_batch(recs, T0))
    assert err == kw.NONE
    return base


def values_of(pr):
    batches = kw.decode_batches(pr.records)
    assert all(b.crc_ok for b in batches), "served batch has a bad CRC"
    return [(r.offset, r.value) for b in batches for r in b.records]


def test_raw_fetch_session_protocol(sluice_dev):
    topic = "fs-raw"
    create_topic(sluice_dev.bootstrap, topic, 3)
    port = sluice_dev.port
    with kw.KafkaConn("127.0.0.1", port) as c:
        keys = kw.api_versions(c)
        assert keys[kw.FETCH][0] <= 11 <= keys[kw.FETCH][1], keys[kw.FETCH]
        assert produce_raw(c, topic, 0, [b"a0", b"a1", b"a2"]) == 0

        # full fetch, session id 0 / epoch 0: creates a session. p0 is fetched at its end.
        full = kw.fetch_v11(c, 0, 0, {topic: {0: 3, 1: 0, 2: 0}}, max_wait_ms=0, min_bytes=0)
        assert full.error_code == kw.NONE
        sid = full.session_id
        assert sid != 0, "no fetch session was created"
        assert sorted(full.partitions) == [(topic, 0), (topic, 1), (topic, 2)]
        assert [(p.error_code, p.high_watermark, values_of(p)) for _, p in sorted(full.partitions.items())] == \
            [(0, 3, []), (0, 0, []), (0, 0, [])]

        # new data in p1 only; incremental fetch epoch 1 with no partitions -> only p1
        with kw.KafkaConn("127.0.0.1", port) as w:
            assert produce_raw(w, topic, 1, [b"b0", b"b1"]) == 0
        inc = kw.fetch_v11(c, sid, 1, {}, max_wait_ms=2000, min_bytes=1)
        assert inc.error_code == kw.NONE
        assert inc.session_id == sid
        assert list(inc.partitions) == [(topic, 1)]
        p1 = inc.partitions[(topic, 1)]
        assert (p1.error_code, p1.high_watermark) == (0, 2)
        assert values_of(p1) == [(0, b"b0"), (1, b"b1")]

        # epoch 2: move p1 past what we read; new data in p2 only -> only p2
        with kw.KafkaConn("127.0.0.1", port) as w:
            assert produce_raw(w, topic, 2, [b"c0"]) == 0
        inc = kw.fetch_v11(c, sid, 2, {topic: {1: 2}}, max_wait_ms=2000, min_bytes=1)
        assert inc.error_code == kw.NONE
        assert list(inc.partitions) == [(topic, 2)]
        assert values_of(inc.partitions[(topic, 2)]) == [(0, b"c0")]

        # epoch 3, partitions at their ends (p2 moved to 1), nothing new anywhere -> no partitions
        inc = kw.fetch_v11(c, sid, 3, {topic: {2: 1}}, max_wait_ms=200, min_bytes=1)
        assert inc.error_code == kw.NONE
        assert inc.partitions == {}

        # new data in p0 (already at offset 3 in the session) -> p0 alone, from offset 3
        with kw.KafkaConn("127.0.0.1", port) as w:
            assert produce_raw(w, topic, 0, [b"a3"]) == 3
        inc = kw.fetch_v11(c, sid, 4, {}, max_wait_ms=2000, min_bytes=1)
        assert list(inc.partitions) == [(topic, 0)]
        assert values_of(inc.partitions[(topic, 0)]) == [(3, b"a3")]
        assert inc.partitions[(topic, 0)].high_watermark == 4

        # forget p0: it is no longer in the session even when it gets new data
        with kw.KafkaConn("127.0.0.1", port) as w:
            assert produce_raw(w, topic, 0, [b"a4"]) == 4
            assert produce_raw(w, topic, 1, [b"b2"]) == 2
        inc = kw.fetch_v11(c, sid, 5, {}, forgotten={topic: [0]}, max_wait_ms=2000, min_bytes=1)
        assert inc.error_code == kw.NONE
        assert list(inc.partitions) == [(topic, 1)]
        assert values_of(inc.partitions[(topic, 1)]) == [(2, b"b2")]

        # a wrong epoch (6 expected)
        bad = kw.fetch_v11(c, sid, 9, {}, max_wait_ms=0, min_bytes=0)
        assert bad.error_code == kw.INVALID_FETCH_SESSION_EPOCH  # 71
        assert bad.partitions == {}

    # an unknown session id, from a new connection too
    unknown = (sid + 7919) % (2 ** 31 - 1) or 1
    with kw.KafkaConn("127.0.0.1", port) as c2:
        bad = kw.fetch_v11(c2, unknown, 1, {}, max_wait_ms=0, min_bytes=0)
        assert bad.error_code == kw.FETCH_SESSION_ID_NOT_FOUND  # 70
        assert bad.partitions == {}

        # sessionless fetch (id 0, epoch -1) still works and returns everything asked for
        full = kw.fetch_v11(c2, 0, -1, {topic: {0: 0, 1: 0, 2: 0}}, max_wait_ms=0, min_bytes=0)
        assert full.error_code == kw.NONE
        assert full.session_id == 0
        assert values_of(full.partitions[(topic, 0)]) == [(0, b"a0"), (1, b"a1"), (2, b"a2"), (3, b"a3"), (4, b"a4")]
        assert values_of(full.partitions[(topic, 1)]) == [(0, b"b0"), (1, b"b1"), (2, b"b2")]
        assert values_of(full.partitions[(topic, 2)]) == [(0, b"c0")]
