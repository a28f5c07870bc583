"""State that dies with its topic (issue 10, item 9): a topic deleted and created again under the
same name starts clean, as in Kafka — no committed offsets of consumer groups (classic and
KIP-848), no share-partition state of share groups (delivery counts start at 1 again)."""

import time

import pytest
from confluent_kafka import ShareConsumer, TopicPartition

from helpers import (QUIET, DeliveryLog, consumer, create_topic, delete_topic, produce_all, producer,
                     set_group_configs)

OFFSET_INVALID = -1001  # librdkafka's name for OffsetFetch's -1 (no committed offset)


def produce(bs, topic, values):
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, 0, None, v, None, None) for i, v in enumerate(values)], log)
    assert log.errors() == {}


def read(bs, topic, group, protocol, n):
    """Subscribes as `group`, reads `n` records, commits after them; returns (offset, value)s."""
    conf = {"group.id": group, "auto.offset.reset": "earliest", "group.protocol": protocol}
    c = consumer(bs, **conf)
    c.subscribe([topic])
    got = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(num_messages=n - len(got), timeout=0.5):
                assert m.error() is None, m.error()
                got.append((m.offset(), m.value()))
        assert len(got) == n, got
        c.commit(offsets=[TopicPartition(topic, 0, got[-1][0] + 1)], asynchronous=False)
    finally:
        c.close()
    return got


def committed(bs, group, topic):
    c = consumer(bs, **{"group.id": group})
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset
    finally:
        c.close()


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_committed_offsets_go_with_their_topic(sluice_dev, protocol):
    bs, topic, group = sluice_dev.bootstrap, f"recreated-{protocol}", f"g-recreated-{protocol}"
    create_topic(bs, topic, 1)
    produce(bs, topic, [f"old{i}".encode() for i in range(10)])
    assert read(bs, topic, group, protocol, 7)[-1] == (6, b"old6")
    assert committed(bs, group, topic) == 7

    delete_topic(bs, topic)
    create_topic(bs, topic, 1)
    assert committed(bs, group, topic) == OFFSET_INVALID
    produce(bs, topic, [f"new{i}".encode() for i in range(10)])
    # no committed offset: auto.offset.reset=earliest starts at the new topic's first record
    assert read(bs, topic, group, protocol, 3) == [(0, b"new0"), (1, b"new1"), (2, b"new2")]


def test_share_partition_state_goes_with_its_topic(sluice_dev):
    bs, topic, group = sluice_dev.bootstrap, "recreated-queue", "sg-recreated"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    produce(bs, topic, [f"old{i}".encode() for i in range(5)])

    def deliveries(release):
        c = ShareConsumer({"bootstrap.servers": bs, "group.id": group, **QUIET,
                           "share.acknowledgement.mode": "explicit"})
        c.subscribe([topic])
        got = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < 5 and time.monotonic() < deadline:
                for m in c.poll(1.0) or []:
                    if m is None or m.error() is not None:
                        continue
                    got.append((m.offset(), m.value(), m.delivery_count()))
                    c.acknowledge(m, 2 if release else 1)  # 2: RELEASE (back for redelivery)
                c.commit_sync()
        finally:
            c.close()
        return sorted(got)

    # the group holds state for the old topic: 5 records released, waiting for redelivery
    assert deliveries(release=True) == [(i, f"old{i}".encode(), 1) for i in range(5)]
    delete_topic(bs, topic)
    create_topic(bs, topic, 1)
    produce(bs, topic, [f"new{i}".encode() for i in range(5)])
    assert deliveries(release=False) == [(i, f"new{i}".encode(), 1) for i in range(5)]
