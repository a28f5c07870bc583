"""confluent-kafka produces many keyed records with headers and compression over 8
partitions; a manually assigned consumer reads every one back. Checked per partition:
offsets dense from 0 and in produce order, key, value, headers and timestamp exact."""

import random

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME

from helpers import BASE_TS, DeliveryLog, consume_exact, create_topic, produce_all, producer, watermarks

PARTITIONS = 8


def make_records(topic, n, seed):
    rnd = random.Random(seed)
    recs = []
    for i in range(n):
        p = rnd.randrange(PARTITIONS)
        key = f"key-{i}".encode()
        # varied sizes, partly compressible, partly random
        value = (f"value-{i}-".encode() + b"x" * rnd.randrange(0, 200)
                 + rnd.randbytes(rnd.randrange(0, 64)))
        headers = [("h-index", str(i).encode()), ("h-bin", rnd.randbytes(8))]
        recs.append((i, topic, p, key, value, headers, BASE_TS + i))
    return recs


@pytest.mark.parametrize("compression,n", [("lz4", 100_000), ("zstd", 30_000)])
def test_produce_consume_compressed(sluice_dev, compression, n):
    bs = sluice_dev.bootstrap
    topic = f"pc-{compression}"
    create_topic(bs, topic, PARTITIONS)

    recs = make_records(topic, n, seed=compression)
    log = DeliveryLog()
    p = producer(bs, **{"compression.type": compression, "linger.ms": 20,
                        "batch.num.messages": 5000, "acks": "all"})
    produce_all(p, recs, log)

    assert len(log.results) == n
    assert log.errors() == {}

    # expected per partition, in produce order
    by_part = {q: [] for q in range(PARTITIONS)}
    for r in recs:
        by_part[r[2]].append(r)

    # delivery reports: offsets per partition are 0..len-1 in produce order
    for q, rs in by_part.items():
        offs = [log.results[r[0]][2] for r in rs]
        assert [log.results[r[0]][1] for r in rs] == [q] * len(rs)
        assert offs == list(range(len(rs))), f"partition {q}: delivery offsets not dense/in order"

    for q, rs in by_part.items():
        assert watermarks(bs, topic, q) == (0, len(rs)), f"partition {q} watermarks"

    got = consume_exact(bs, topic, {q: len(rs) for q, rs in by_part.items()})
    for q, rs in by_part.items():
        msgs = got[q]
        assert [m.offset() for m in msgs] == list(range(len(rs))), f"partition {q}: offsets"
        for m, (i, _t, _p, key, value, headers, ts) in zip(msgs, rs):
            assert m.topic() == topic
            assert m.key() == key, f"partition {q} offset {m.offset()}: key"
            assert m.value() == value, f"partition {q} offset {m.offset()}: value"
            assert m.headers() == headers, f"partition {q} offset {m.offset()}: headers"
            assert m.timestamp() == (TIMESTAMP_CREATE_TIME, ts), f"partition {q} offset {m.offset()}: ts"


def test_consume_from_middle_offset(sluice_dev):
    """A consumer starting at an offset inside a (compressed) batch gets exactly the
    records from that offset on (the broker may send the whole batch; the client skips)."""
    bs = sluice_dev.bootstrap
    topic = "pc-middle"
    create_topic(bs, topic, 1)
    recs = [(i, topic, 0, f"k{i}".encode(), f"v{i}".encode(), [], BASE_TS + i) for i in range(1000)]
    log = DeliveryLog()
    produce_all(producer(bs, **{"compression.type": "lz4", "linger.ms": 50}), recs, log)
    assert log.errors() == {}
    got = consume_exact(bs, topic, {0: 1000 - 537}, start_offsets={0: 537})
    assert [m.offset() for m in got[0]] == list(range(537, 1000))
    assert [m.value() for m in got[0]] == [f"v{i}".encode() for i in range(537, 1000)]
