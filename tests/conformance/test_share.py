"""Conformance scenarios for KIP-932 share groups (issue 10): ShareAcknowledge of ranges never acquired,
a late implicit acknowledgement after the acquisition lock ran out, share-partition state dying with its
topic."""

from __future__ import annotations

import time

from confluent_kafka import ShareConsumer

from conformance.test_group_apis import fill
from conformance.test_groups import recreate_topic
from helpers import err_code, set_group_configs
from sharekit import acknowledge_answers


def share_consumer(t, group: str, topic: str, **conf) -> ShareConsumer:
    c = ShareConsumer(t.conf(**{"group.id": group, **conf}))
    c.subscribe([topic])
    return c


def poll_until(c, n: int, timeout: float = 60.0, ack=None) -> list:
    """(offset, value, delivery count) of the first `n` records; `ack(c, m)` for explicit mode."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for m in c.poll(1.0) or []:
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value(), m.delivery_count()))
                if ack:
                    ack(c, m)
        if ack:
            c.commit_sync()
    return sorted(got)


def test_share_acknowledge_of_ranges_never_acquired(both):
    """Raw ShareAcknowledge after one fetch acquired records 0..=4: a range past them is INVALID_REQUEST
    (first or last offset past acquired records), a partition's batches are all or nothing, overlapping
    batches are INVALID_REQUEST, another member's records INVALID_RECORD_STATE, below the start offset is
    done already, and with nothing in flight INVALID_RECORD_STATE — each with Kafka's message."""
    def scenario(t):
        topic = t.topic("never-acquired")
        group = t.name("never-acquired-group")
        set_group_configs(t.bootstrap, group, share_auto_offset_reset="earliest")
        fill(t, topic, 5)
        return acknowledge_answers(t.bootstrap, group, topic)
    both.compare(scenario)


def test_late_implicit_acknowledgement_after_the_lock_ran_out(both_newest):
    both = both_newest  # librdkafka's share member ids break Kafka 4.1.2's ShareFetch at random
    """share.record.lock.duration.ms=15000 (Kafka's least by default): a ShareConsumer polls 10 records,
    sleeps past the lock, polls again: the late implicit acknowledgement is refused with
    INVALID_RECORD_STATE and the same consumer gets the 10 records again, delivery count 2."""
    def scenario(t):
        topic = t.topic("late-ack")
        group = t.name("late-ack-group")
        set_group_configs(t.bootstrap, group, share_auto_offset_reset="earliest",
                          share_record_lock_duration_ms=15000)
        fill(t, topic, 10)
        c = share_consumer(t, group, topic)
        refused = []
        c.set_acknowledgement_commit_callback(
            lambda offsets, exc: exc is not None and refused.append(
                (t.err(err_code(exc)), sorted(o for os_ in offsets.values() for o in os_))))
        out = {"first": poll_until(c, 10)}
        time.sleep(16.5)
        out["second"] = poll_until(c, 10)
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            c.poll(0.5)
        c.close()
        out["refused_acknowledgements"] = refused
        return out
    both.compare(scenario)


def test_share_partition_state_dies_with_its_topic(both_newest):
    both = both_newest  # librdkafka's share member ids break Kafka 4.1.2's ShareFetch at random
    """A share group releases the 5 records it got (state: available, delivery count 1); the topic is
    deleted and created again with 5 new records: they arrive with delivery count 1."""
    def scenario(t):
        topic = t.topic("recreated-queue")
        group = t.name("recreated-queue-group")
        set_group_configs(t.bootstrap, group, share_auto_offset_reset="earliest")
        fill(t, topic, 5)

        def deliveries(ack_type):
            c = share_consumer(t, group, topic, **{"share.acknowledgement.mode": "explicit"})
            try:
                return poll_until(c, 5, ack=lambda c, m: c.acknowledge(m, ack_type))
            finally:
                c.close()
        out = {"released": deliveries(2)}
        recreate_topic(t, topic)
        fill(t, topic, 5)
        out["after_recreation"] = deliveries(1)
        return out
    both.compare(scenario)
