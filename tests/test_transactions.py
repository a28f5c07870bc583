"""Transactions end to end with confluent-kafka (librdkafka) against Sluice: commit and abort over many
partitions of many topics, read_committed and read_uncommitted consumers, zombie fencing, transaction
timeouts, and a consume-transform-produce loop killed with SIGKILL mid-transaction.

Kafka's own behaviour for the same interactions is compared in tests/conformance/test_transactions.py."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from helpers import consumer, create_topic, err_code, producer, read_to_end, wait_until

TXN_CHECK_MS = "300"


@pytest.fixture(scope="module")
def bs(tmp_path_factory):
    """One embedded Sluice for the module, checking for timed-out transactions every 300 ms."""
    from conftest import Cluster
    c = Cluster(tmp_path_factory.mktemp("txn"))
    dev = c.dev("--transaction-abort-check-interval-ms", TXN_CHECK_MS)
    yield dev.bootstrap
    c.close()


def txn_producer(bootstrap, tid, **conf):
    conf.setdefault("message.timeout.ms", min(60000, int(conf.get("transaction.timeout.ms", 60000))))
    p = producer(bootstrap, **{"transactional.id": tid, "linger.ms": 2, **conf})
    p.init_transactions(60)
    return p


def read_all(bootstrap, topic, partitions, isolation):
    """{partition: [(offset, key, value)]} of every message from offset 0 to each partition's end
    (read_committed: the LSO)."""
    c = consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {p: [] for p in range(partitions)}
    for m in read_to_end(c, partitions):
        got[m.partition()].append((m.offset(), m.key(), m.value()))
    return got


def test_commit_and_abort_over_partitions_and_topics(bs):
    """200 transactions alternating commit and abort over 6 partitions of 2 topics: read_committed sees exactly
    the committed records in order, offsets skipping the control records; read_uncommitted sees all data."""
    topics = ["txn-a", "txn-b"]
    for t in topics:
        create_topic(bs, t, 3)
    p = txn_producer(bs, "alternating")
    sent = {(t, q): [] for t in topics for q in range(3)}
    for i in range(200):
        p.begin_transaction()
        for t in topics:
            for q in range(3):
                v = f"{i}-{t}-{q}".encode()
                p.produce(t, key=str(i).encode(), value=v, partition=q)
                sent[(t, q)].append((i, v))
        # librdkafka's abort purges what it has not sent yet: send everything first, so that
        # aborted records really are in the log
        assert p.flush(30) == 0
        if i % 2 == 0:
            p.commit_transaction(60)
        else:
            p.abort_transaction(60)

    for t in topics:
        committed = read_all(bs, t, 3, "read_committed")
        uncommitted = read_all(bs, t, 3, "read_uncommitted")
        for q in range(3):
            want = [v for i, v in sent[(t, q)] if i % 2 == 0]
            assert [v for _, _, v in committed[q]] == want, f"{t}/{q} read_committed"
            assert [v for _, _, v in uncommitted[q]] == [v for _, v in sent[(t, q)]], f"{t}/{q} read_uncommitted"
            # one data record and one marker per transaction: record i sits at offset 2i
            assert [o for o, _, _ in uncommitted[q]] == [2 * i for i in range(200)]
            assert [o for o, _, _ in committed[q]] == [2 * i for i in range(0, 200, 2)]
            c = consumer(bs, **{"isolation.level": "read_committed"})
            lo, hi = c.get_watermark_offsets(TopicPartition(t, q), timeout=10, cached=False)
            c.close()
            assert (lo, hi) == (0, 400)


def test_zombie_is_fenced_and_its_open_transaction_aborted(bs):
    topic = "txn-zombie"
    create_topic(bs, topic, 1)
    old = txn_producer(bs, "zombie")
    old.begin_transaction()
    old.produce(topic, value=b"before-fence", partition=0)
    old.flush(30)
    new = txn_producer(bs, "zombie")  # fences `old` and aborts its open transaction
    with pytest.raises(KafkaException) as e:
        old.produce(topic, value=b"after-fence", partition=0)
        old.commit_transaction(30)
    # the broker's INVALID_PRODUCER_EPOCH on the Produce: librdkafka's fatal "fenced by a newer instance"
    assert err_code(e.value) == KafkaError._FENCED and e.value.args[0].fatal(), e.value.args[0]
    new.begin_transaction()
    new.produce(topic, value=b"new", partition=0)
    new.commit_transaction(30)
    got = read_all(bs, topic, 1, "read_committed")
    assert [v for _, _, v in got[0]] == [b"new"]
    everything = read_all(bs, topic, 1, "read_uncommitted")
    assert b"after-fence" not in [v for _, _, v in everything[0]]


def test_timed_out_transaction_is_aborted_and_lso_moves_on(bs):
    topic = "txn-timeout"
    create_topic(bs, topic, 1)
    stuck = txn_producer(bs, "stuck", **{"transaction.timeout.ms": 2000})
    stuck.begin_transaction()
    stuck.produce(topic, value=b"never-committed", partition=0)
    stuck.flush(30)
    other = producer(bs)
    other.produce(topic, value=b"plain", partition=0)
    other.flush(30)
    # the LSO is held at the open transaction's first offset, then moves once the quorum aborts it
    c = consumer(bs, **{"isolation.level": "read_committed"})
    tp = TopicPartition(topic, 0)
    try:
        wait_until("the LSO to move after the abort marker (3)",
                   lambda: c.get_watermark_offsets(tp, timeout=10, cached=False)[1] == 3, timeout=30,
                   context=lambda: f"LSO: {c.get_watermark_offsets(tp, timeout=10, cached=False)[1]}")
    finally:
        c.close()
    got = read_all(bs, topic, 1, "read_committed")
    assert [(o, v) for o, _, v in got[0]] == [(1, b"plain")]
    # the stuck producer was fenced by the abort
    with pytest.raises(KafkaException):
        stuck.commit_transaction(10)


CTP = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer, Producer, TopicPartition
    bs, src, dst, tid, slow = sys.argv[1:6]
    c = Consumer({"bootstrap.servers": bs, "group.id": "ctp", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                  "group.protocol": "classic", "session.timeout.ms": 6000, "log_level": 3})
    p = Producer({"bootstrap.servers": bs, "transactional.id": tid, "linger.ms": 2, "log_level": 3})
    p.init_transactions(60)
    c.subscribe([src])

    def drained():
        parts = c.assignment()
        if not parts:
            return False
        for tp, pos in zip(parts, c.position(parts)):
            if pos.offset < c.get_watermark_offsets(tp, timeout=10, cached=False)[1]:
                return False
        return True

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        msgs = c.consume(num_messages=50, timeout=0.5)
        if not msgs:
            if drained():
                break
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, key=m.key(), value=m.value().upper(), partition=m.partition())
        if slow == "1":
            p.flush(30)
            print("in-transaction", flush=True)
            time.sleep(60)
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 60)
        p.commit_transaction(60)
    else:
        sys.exit("not drained in time")
    c.close()
""")



def test_consume_transform_produce_survives_sigkill(bs, tmp_path):
    """A consume-transform-produce loop with send_offsets_to_transaction, SIGKILLed mid-transaction and
    restarted: the output holds every input record transformed exactly once (read_committed), and the
    group's committed offsets are the input's ends."""
    src, dst, parts, n = "ctp-in", "ctp-out", 2, 400
    create_topic(bs, src, parts)
    create_topic(bs, dst, parts)
    p = producer(bs)
    for i in range(n):
        p.produce(src, key=str(i).encode(), value=f"rec-{i}".encode(), partition=i % parts)
    assert p.flush(30) == 0
    script = tmp_path / "ctp.py"
    script.write_text(CTP)
    # first incarnation: stops mid-transaction (data produced, nothing committed) and is killed
    first = subprocess.Popen([sys.executable, str(script), bs, src, dst, "ctp-1", "1"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "in-transaction"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # second incarnation: fences the first, aborts its transaction, and does the whole job
    second = subprocess.run([sys.executable, str(script), bs, src, dst, "ctp-1", "0"], timeout=300)
    assert second.returncode == 0
    got = read_all(bs, dst, parts, "read_committed")
    values = sorted(v for q in range(parts) for _, _, v in got[q])
    assert values == sorted(f"REC-{i}".encode() for i in range(n))
    # the killed incarnation's records exist in the log, aborted
    everything = read_all(bs, dst, parts, "read_uncommitted")
    assert sum(len(v) for v in everything.values()) > n
    c = consumer(bs, **{"group.id": "ctp"})
    ends = {tp.partition: tp.offset
            for tp in c.committed([TopicPartition(src, q) for q in range(parts)], timeout=30)}
    c.close()
    assert ends == {q: n // parts for q in range(parts)}


def test_share_consumer_reads_a_transactional_topic(bs):
    """A share group consuming a topic written by committed transactions gets every record once; the
    control batches at the markers' offsets are never handed to the application."""
    from confluent_kafka import ShareConsumer
    from helpers import QUIET, set_group_configs
    topic, group = "txn-shared", "txn-share-group"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    p = txn_producer(bs, "to-share")
    for t in range(3):
        p.begin_transaction()
        for i in range(5):
            p.produce(topic, value=f"{t}-{i}".encode(), partition=0)
        p.commit_transaction(30)
    c = ShareConsumer({"bootstrap.servers": bs, "group.id": group, **QUIET})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 60
    while len(got) < 15 and time.monotonic() < deadline:
        got += [(m.offset(), m.value()) for m in (c.poll(1.0) or []) if m is not None and m.error() is None]
    # nothing more arrives: no control record, no redelivery
    end = time.monotonic() + 3
    while time.monotonic() < end:
        got += [(m.offset(), m.value()) for m in (c.poll(0.5) or []) if m is not None and m.error() is None]
    c.close()
    assert got == [(t * 6 + i, f"{t}-{i}".encode()) for t in range(3) for i in range(5)]
