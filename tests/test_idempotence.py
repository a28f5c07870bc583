"""Idempotent producers: retries after lost connections and lost responses never
duplicate or reorder records.

The producer talks to Sluice through FaultProxy. `sluice dev --advertised-listener`
makes Metadata name the proxy, so the client reconnects through the proxy too."""

import time

import kafkawire as kw
from conftest import free_port
from faultproxy import FaultProxy
from helpers import BASE_TS, DeliveryLog, admin, consume_exact, create_topic, producer, wait_until, watermarks

PARTS = 4


def test_idempotent_producer_survives_drops_and_lost_responses(cluster):
    agent_port = free_port()
    proxy = FaultProxy(agent_port).start()
    try:
        cluster.dev("--advertised-listener", f"127.0.0.1:{proxy.port}", port=agent_port,
                          expect_bootstrap=None)
        bs = f"127.0.0.1:{proxy.port}"

        # the proxy stays in the path: Metadata names it, not the agent's own port
        md = admin(bs).list_topics(timeout=30)
        assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", proxy.port)]

        topic = "idem"
        create_topic(bs, topic, PARTS)

        p = producer(bs, **{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "batch.num.messages": 100,
            "max.in.flight.requests.per.connection": 5,
            "retry.backoff.ms": 20,
            "reconnect.backoff.ms": 10,
            "reconnect.backoff.max.ms": 200,
            "message.timeout.ms": 180000,
        })
        log = DeliveryLog()
        n_chunks, chunk = 16, 1500
        recs = []
        for c in range(n_chunks):
            rs = [(i, topic, i % PARTS, f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())], None)
                  for i in range(c * chunk, (c + 1) * chunk)]
            recs += rs
            if c % 4 == 1:
                # the broker commits, the client never hears: it must retry and be deduplicated
                proxy.swallow_produce_responses(2)
            swallowed_before = proxy.swallowed
            for r in rs:
                p.produce(topic, key=r[3], value=r[4], partition=r[2], headers=r[5], on_delivery=log.cb(r[0]))
                p.poll(0)
            if c % 4 == 1:
                # make the fault certain, not a matter of timing: wait until a response was eaten
                def eaten():
                    p.poll(0.01)
                    return proxy.swallowed != swallowed_before
                wait_until("a Produce response to be swallowed", eaten, timeout=30, every=0)
            if c % 4 == 3:
                time.sleep(0.003)  # let some requests get in flight, then cut every connection
                proxy.drop_all()
        assert p.flush(180) == 0

        # the faults really happened (otherwise the test proves nothing)
        assert proxy.swallowed >= 1, "no Produce response was swallowed"
        assert proxy.dropped >= 1, "no connection was dropped"

        assert len(log.results) == len(recs)
        assert log.errors() == {}
        by_part = {q: [r for r in recs if r[2] == q] for q in range(PARTS)}
        for q, rs in by_part.items():
            assert [log.results[r[0]][2] for r in rs] == list(range(len(rs))), f"partition {q} delivery offsets"
            assert watermarks(bs, topic, q) == (0, len(rs)), f"partition {q} watermarks"

        got = consume_exact(bs, topic, {q: len(rs) for q, rs in by_part.items()})
        for q, rs in by_part.items():
            assert [m.offset() for m in got[q]] == list(range(len(rs)))
            assert [(m.key(), m.value(), m.headers()) for m in got[q]] == [(r[3], r[4], r[5]) for r in rs], \
                f"partition {q}: records differ (duplicate, loss or reorder)"
    finally:
        proxy.stop()


def test_raw_sequence_dedupe(sluice_dev):
    """Wire-level: InitProducerId, then a batch, its exact retry (deduplicated, same base
    offset, nothing appended), the next batch, and a sequence gap (OUT_OF_ORDER_SEQUENCE_NUMBER)."""
    bs = sluice_dev.bootstrap
    topic = "idem-raw"
    create_topic(bs, topic, 1)
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        err, pid, epoch = kw.init_producer_id_v1(c)
        assert err == kw.NONE
        assert pid >= 0 and epoch >= 0

        def batch(seq, n):
            return kw.encode_batch([kw.Record(f"k{seq + j}".encode(), f"v{seq + j}".encode(), [], j)
                                    for j in range(n)], BASE_TS + seq,
                                   producer_id=pid, producer_epoch=epoch, base_sequence=seq)

        assert kw.produce_v3(c, topic, 0, batch(0, 5))[:2] == (kw.NONE, 0)
        assert kw.produce_v3(c, topic, 0, batch(0, 5))[:2] == (kw.NONE, 0)  # retry: same answer
        assert kw.produce_v3(c, topic, 0, batch(5, 3))[:2] == (kw.NONE, 5)
        assert kw.produce_v3(c, topic, 0, batch(5, 3))[:2] == (kw.NONE, 5)
        assert kw.produce_v3(c, topic, 0, batch(10, 2))[0] == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert watermarks(bs, topic, 0) == (0, 8)
    got = consume_exact(bs, topic, {0: 8})
    assert [(m.offset(), m.key()) for m in got[0]] == [(i, f"k{i}".encode()) for i in range(8)]
