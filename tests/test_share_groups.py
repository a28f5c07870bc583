"""KIP-932 share groups (Queues for Kafka) with confluent-kafka's ShareConsumer (librdkafka 2.16
preview): many consumers per partition, implicit and explicit acknowledgement, release ->
redelivery with a higher delivery count, reject -> never again, lock timeout -> redelivery to
another consumer, the delivery-count limit, and state surviving a restart."""

import subprocess
import sys
import textwrap
import threading
import time

from confluent_kafka import ShareConsumer

from helpers import (QUIET, DeliveryLog, create_topic, err_code, produce_all, producer, set_group_configs,
                     wait_until)
from sharekit import INVALID_RECORD_STATE, INVALID_REQUEST, acknowledge_answers


def share_consumer(bs, group, topic, **conf):
    c = ShareConsumer({"bootstrap.servers": bs, "group.id": group, **QUIET, **conf})
    c.subscribe([topic])
    return c


def poll_records(c, timeout=1.0):
    return [m for m in (c.poll(timeout) or []) if m is not None and m.error() is None]


def produce(bs, topic, values, partitions):
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, i % partitions, None, v, None, None) for i, v in enumerate(values)], log)
    assert log.errors() == {}


def test_six_consumers_share_two_partitions_and_every_record_arrives_once(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-6x2", "sg-6x2"
    create_topic(bs, topic, 2)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    n = 600
    got = {i: [] for i in range(6)}
    stop = threading.Event()

    def run(i):
        # small fetches, so that no consumer can take a whole burst for itself
        c = share_consumer(bs, group, topic, **{"max.poll.records": 10})
        try:
            while not stop.is_set():
                for m in poll_records(c, 0.5):
                    got[i].append((m.partition(), m.offset(), m.value()))
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(2)
    # Trickle the records in so that every consumer has a chance to fetch.
    for chunk in range(10):
        produce(bs, topic, [f"v{chunk * 60 + j}".encode() for j in range(60)], 2)
        time.sleep(0.2)
    try:
        wait_until(f"{n} deliveries", lambda: sum(len(v) for v in got.values()) >= n, timeout=60,
                   context=lambda: f"{sum(len(v) for v in got.values())} deliveries")
        time.sleep(1)  # anything more would be a duplicate
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    everything = [r for rs in got.values() for r in rs]
    assert len(everything) == n, f"{len(everything)} deliveries for {n} records"
    assert len(set(everything)) == n, "a record was delivered twice"
    assert sorted(v for _, _, v in everything) == sorted(f"v{i}".encode() for i in range(n))
    # offsets per partition are 0..299, each once
    for p in (0, 1):
        assert sorted(o for q, o, _ in everything if q == p) == list(range(n // 2))
    busy = [i for i, rs in got.items() if rs]
    assert busy == list(range(6)), f"only consumers {busy} received records"


def test_release_redelivers_and_reject_archives(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-ack", "sg-ack"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    produce(bs, topic, [b"accept-me", b"release-me", b"reject-me", b"tail"], 1)
    c = share_consumer(bs, group, topic, **{"share.acknowledgement.mode": "explicit"})
    seen = []
    released = False

    def redelivered():
        nonlocal released
        for m in poll_records(c):
            seen.append((m.offset(), m.value(), m.delivery_count()))
            if m.value() == b"release-me" and not released:
                c.acknowledge(m, 2)  # RELEASE
                released = True
            elif m.value() == b"reject-me":
                c.acknowledge(m, 3)  # REJECT
            else:
                c.acknowledge(m)  # ACCEPT
        c.commit_sync()
        return (1, b"release-me", 2) in seen
    try:
        wait_until("release-me redelivered", redelivered, timeout=60, every=0, context=lambda: f"seen: {seen}")
        # nothing else ever comes back
        for _ in range(3):
            extra = poll_records(c)
            assert not extra, f"unexpected redelivery {[(m.offset(), m.value()) for m in extra]}"
    finally:
        c.close()
    assert sorted(seen) == [(0, b"accept-me", 1), (1, b"release-me", 1), (1, b"release-me", 2),
                            (2, b"reject-me", 1), (3, b"tail", 1)]


KILLED_CONSUMER = textwrap.dedent("""
    import sys, time
    from confluent_kafka import ShareConsumer
    c = ShareConsumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "log_level": 3,
                       "share.acknowledgement.mode": "explicit"})
    c.subscribe([sys.argv[3]])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ms = [m for m in (c.poll(1.0) or []) if m.error() is None]
        if ms:
            print("ACQUIRED", len(ms), flush=True)
            time.sleep(600)  # hold the records until killed
""")


def test_lock_timeout_redelivers_records_of_a_killed_consumer(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-lock", "sg-lock"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=3000)
    produce(bs, topic, [f"r{i}".encode() for i in range(5)], 1)
    holder = subprocess.Popen([sys.executable, "-c", KILLED_CONSUMER, bs, group, topic],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.startswith("ACQUIRED"), line
    finally:
        holder.kill()
        holder.wait()
    c = share_consumer(bs, group, topic)
    got = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < 5 and time.monotonic() < deadline:
            got += [(m.offset(), m.value(), m.delivery_count()) for m in poll_records(c)]
    finally:
        c.close()
    assert sorted(got) == [(i, f"r{i}".encode(), 2) for i in range(5)]


def test_delivery_count_limit_archives_a_poison_record(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-poison", "sg-poison"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest", share_delivery_count_limit=3)
    produce(bs, topic, [b"poison", b"fine"], 1)
    c = share_consumer(bs, group, topic, **{"share.acknowledgement.mode": "explicit"})
    deliveries = []
    try:
        deadline = time.monotonic() + 30
        quiet = 0
        while time.monotonic() < deadline and quiet < 3:
            ms = poll_records(c)
            quiet = 0 if ms else quiet + 1
            for m in ms:
                deliveries.append((m.value(), m.delivery_count()))
                c.acknowledge(m, 2 if m.value() == b"poison" else 1)
            c.commit_sync()
    finally:
        c.close()
    assert sorted(deliveries) == [(b"fine", 1), (b"poison", 1), (b"poison", 2), (b"poison", 3)]


def test_acknowledged_state_survives_a_restart(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-restart", "sg-restart"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    produce(bs, topic, [f"m{i}".encode() for i in range(10)], 1)
    c = share_consumer(bs, group, topic, **{"share.acknowledgement.mode": "explicit"})
    accepted = []
    try:
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:
            for m in poll_records(c):
                if m.offset() < 4:
                    c.acknowledge(m, 1)
                    accepted.append(m.offset())
                else:
                    c.acknowledge(m, 2)
            c.commit_sync()
    finally:
        c.close()
    assert sorted(accepted) == [0, 1, 2, 3]
    sluice_dev.restart()
    c = share_consumer(bs, group, topic)
    got = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < 6 and time.monotonic() < deadline:
            got += [m.offset() for m in poll_records(c)]
        time.sleep(1)
        got += [m.offset() for m in poll_records(c)]
    finally:
        c.close()
    assert sorted(got) == list(range(4, 10))


def test_by_duration_starts_at_recent_records(sluice_dev):
    """share.auto.offset.reset=by_duration:PT1H: records of the last hour, which `latest` would skip."""
    bs, topic, group = sluice_dev.bootstrap, "queue-duration", "sg-duration"
    create_topic(bs, topic, 1)
    produce(bs, topic, [f"d{i}".encode() for i in range(5)], 1)
    set_group_configs(bs, group, share_auto_offset_reset="by_duration:PT1H")
    c = share_consumer(bs, group, topic)
    got = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < 5 and time.monotonic() < deadline:
            got += [(m.offset(), m.value()) for m in poll_records(c)]
    finally:
        c.close()
    assert sorted(got) == [(i, f"d{i}".encode()) for i in range(5)]


def test_a_late_implicit_acknowledgement_after_the_lock_expired_is_refused_and_redelivered(sluice_dev):
    """Kafka: the lock (group config share.record.lock.duration.ms) runs out while the consumer
    sleeps; the records go back, the implicit acknowledgement sent with the next poll is refused
    with INVALID_RECORD_STATE, and the same consumer gets the 10 records again, delivery count 2."""
    bs, topic, group = sluice_dev.bootstrap, "queue-late-ack", "sg-late-ack"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=3000)
    produce(bs, topic, [f"r{i}".encode() for i in range(10)], 1)
    c = share_consumer(bs, group, topic)
    refused = []
    c.set_acknowledgement_commit_callback(
        lambda offsets, exc: exc is not None and refused.append(
            (err_code(exc), sorted(o for os_ in offsets.values() for o in os_))))
    try:
        first = []
        deadline = time.monotonic() + 30
        while len(first) < 10 and time.monotonic() < deadline:
            first += [(m.offset(), m.delivery_count()) for m in poll_records(c)]
        assert sorted(first) == [(i, 1) for i in range(10)]
        time.sleep(4.5)  # past the 3 s lock
        second = []
        deadline = time.monotonic() + 30
        while (len(second) < 10 or not refused) and time.monotonic() < deadline:
            second += [(m.offset(), m.value(), m.delivery_count()) for m in poll_records(c)]
        assert sorted(second) == [(i, f"r{i}".encode(), 2) for i in range(10)]
        assert refused == [(INVALID_RECORD_STATE, list(range(10)))]
    finally:
        c.close()


# ---------------------------------------------------------------- raw ShareAcknowledge error codes

def test_share_acknowledge_of_ranges_never_acquired(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "queue-raw-ack", "sg-raw-ack"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    produce(bs, topic, [f"r{i}".encode() for i in range(5)], 1)
    assert acknowledge_answers(bs, group, topic) == {
        "acquired": [(0, 4, 1)],
        "past_everything": (INVALID_REQUEST, "Batch record not found. The first offset in request is past acquired records."),
        "running_past_the_end": (INVALID_REQUEST, "Batch record not found. The last offset in request is past acquired records."),
        "good_then_bad": (INVALID_REQUEST, "Batch record not found. The first offset in request is past acquired records."),
        "overlapping_batches": (INVALID_REQUEST, None),
        "another_members_records": (INVALID_RECORD_STATE, "Member is not the owner of offset"),
        "all_five": (0, None),
        "below_the_start": (0, None),
        "nothing_in_flight": (INVALID_RECORD_STATE, "Batch record not found. The request batch offsets are not found in the cache."),
    }
