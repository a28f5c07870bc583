"""`sluice meta` + two `sluice agent`s sharing one file:// object store: records produced
through agent A are read, at the same offsets, through agent B."""


from confluent_kafka import TIMESTAMP_CREATE_TIME

from helpers import (BASE_TS, DeliveryLog, admin, consume_exact, create_topic, poll_until, produce_all, producer,
                     watermarks)

PARTS = 4


def wait_watermarks(bs, topic, q, want_high, timeout=30):
    """Another agent may see a commit a moment later: polls until the high watermark reaches
    want_high and returns (low, high) then."""
    def reached():
        wm = watermarks(bs, topic, q)
        return wm if wm[1] >= want_high else None
    return poll_until(f"{topic}/{q}'s high watermark to reach {want_high}", reached, timeout, every=0.1,
                      context=lambda: f"watermarks: {watermarks(bs, topic, q)}")


def test_produce_via_a_consume_via_b(meta_and_two_agents):
    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    topic = "two-agents"
    create_topic(a.bootstrap, topic, PARTS)

    # both agents are live brokers in Metadata, whichever one is asked
    for ag in (a, b):
        md = admin(ag.bootstrap).list_topics(timeout=30)
        assert sorted((br.host, br.port) for br in md.brokers.values()) == \
            sorted([("127.0.0.1", a.port), ("127.0.0.1", b.port)])
        assert sorted(md.topics[topic].partitions) == list(range(PARTS))

    recs = [(i, topic, i % PARTS, f"k{i}".encode(), f"v{i}".encode() * 5, [("n", str(i).encode())],
             BASE_TS + i) for i in range(20_000)]
    log = DeliveryLog()
    produce_all(producer(a.bootstrap, **{"compression.type": "zstd"}), recs, log)
    assert log.errors() == {}

    by_part = {q: [r for r in recs if r[2] == q] for q in range(PARTS)}
    for q, rs in by_part.items():
        assert [log.results[r[0]][2] for r in rs] == list(range(len(rs)))
        assert wait_watermarks(b.bootstrap, topic, q, len(rs)) == (0, len(rs))

    got = consume_exact(b.bootstrap, topic, {q: len(rs) for q, rs in by_part.items()})
    for q, rs in by_part.items():
        assert [m.offset() for m in got[q]] == list(range(len(rs)))
        assert [(m.key(), m.value(), m.headers(), m.timestamp()) for m in got[q]] == \
            [(r[3], r[4], r[5], (TIMESTAMP_CREATE_TIME, r[6])) for r in rs]


def test_both_agents_produce_to_same_partition(meta_and_two_agents):
    """Writes to one partition through both agents interleave into one dense offset sequence."""
    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    topic = "two-writers"
    create_topic(b.bootstrap, topic, 1)
    expected = []
    offset = 0
    for round_ in range(6):
        ag = a if round_ % 2 == 0 else b
        recs = [(i, topic, 0, None, f"r{round_}-{i}".encode(), None, None) for i in range(100)]
        log = DeliveryLog()
        produce_all(producer(ag.bootstrap), recs, log)
        assert log.errors() == {}
        assert [log.results[i][2] for i in range(100)] == list(range(offset, offset + 100))
        offset += 100
        expected += [r[4] for r in recs]
    for ag in (a, b):
        got = consume_exact(ag.bootstrap, topic, {0: 600})
        assert [m.offset() for m in got[0]] == list(range(600))
        assert [m.value() for m in got[0]] == expected


def test_raw_produce_on_a_fetch_on_b(meta_and_two_agents):
    """Client libraries follow Metadata's leaders, which may name either agent. Raw
    sockets pin the path: Produce only on A's socket, Fetch only on B's socket."""
    import kafkawire as kw

    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    topic = "two-agents-raw"
    create_topic(a.bootstrap, topic, 2)
    sent = {0: [], 1: []}
    with kw.KafkaConn("127.0.0.1", a.port) as ca:
        for n in range(10):
            part = n % 2
            recs = [kw.Record(f"k{n}-{j}".encode(), f"v{n}-{j}".encode(), [("h", b"x")], j) for j in range(n + 1)]
            err, base, _ = kw.produce_v3(ca, topic, part, kw.encode_batch(recs, BASE_TS + n))
            assert (err, base) == (kw.NONE, len(sent[part]))
            sent[part] += recs
    with kw.KafkaConn("127.0.0.1", b.port) as cb:
        # B may learn about A's commits a moment later (change feed): wait for the high
        # watermarks to arrive, then everything must be exact
        hws = None

        def caught_up():
            nonlocal hws
            res = kw.fetch_v11(cb, 0, -1, {topic: {0: 0, 1: 0}}, max_wait_ms=100, min_bytes=0)
            hws = [res.partitions[(topic, q)].high_watermark for q in (0, 1)]
            return res if hws == [len(sent[0]), len(sent[1])] else None
        res = poll_until(f"agent b's high watermarks to be {[len(sent[0]), len(sent[1])]}", caught_up,
                         timeout=30, every=0.1, context=lambda: f"they are {hws}")
        assert res.error_code == kw.NONE
        for part in (0, 1):
            pr = res.partitions[(topic, part)]
            assert pr.error_code == kw.NONE
            assert pr.high_watermark == len(sent[part])
            assert pr.log_start_offset == 0
            batches = kw.decode_batches(pr.records)
            assert all(bt.crc_ok for bt in batches)
            got = [r for bt in batches for r in bt.records]
            assert [r.offset for r in got] == list(range(len(sent[part])))
            assert [(r.key, r.value, r.headers) for r in got] == [(r.key, r.value, r.headers) for r in sent[part]]
