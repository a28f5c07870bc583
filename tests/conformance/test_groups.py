"""Conformance scenarios for classic and KIP-848 consumer groups (issue 10): members starting together
share the first generation (group.initial.rebalance.delay.ms), and committed offsets die with their
topic."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from conformance.test_group_apis import consume_n, fill


def recreate_topic(t, topic: str, partitions: int = 1):
    """Deletes `topic` and creates it again under its name (Kafka finishes a deletion asynchronously:
    the create is retried until the old topic is gone)."""
    t.admin().delete_topics([topic], request_timeout=30)[topic].result(30)
    deadline = time.monotonic() + 60
    while True:
        try:
            t.admin().create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                    request_timeout=30)[topic].result(30)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    t.wait_for_topic(topic, partitions)


def committed(t, group: str, topic: str) -> list:
    offs = t.admin().list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(30)
    return [(tp.partition, tp.offset) for tp in offs.topic_partitions]


def test_classic_members_starting_together_share_the_first_generation(both):
    """Three classic consumers start 300 ms apart on an empty group: the initial rebalance delay (3 s
    by default) puts all three in the first generation, each with its share of the 6 partitions and
    no later rebalance."""
    def scenario(t):
        topic = t.topic("initial-delay", partitions=6)
        group = t.name("initial-delay-group")
        assigned = [[], [], []]
        members = []
        for i in range(3):
            c = t.consumer(**{"group.id": group, "group.protocol": "classic", "session.timeout.ms": 6000,
                              "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"})
            c.subscribe([topic], on_assign=lambda _c, ps, i=i: assigned[i].append(sorted(p.partition for p in ps)))
            members.append(c)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                for m in members:
                    m.poll(0.05)
        deadline = time.monotonic() + 30
        while not all(assigned) and time.monotonic() < deadline:
            for m in members:
                m.poll(0.1)
        for _ in range(20):  # a later rebalance would show as another assignment
            for m in members:
                m.poll(0.1)
        for m in members:
            m.close()
        return {"first_assignments": sorted(a[0] for a in assigned if a),
                "assignments_per_member": sorted(len(a) for a in assigned)}
    both.compare(scenario)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_committed_offsets_die_with_their_topic(both, protocol):
    """A group commits offset 7 on a topic; the topic is deleted and created again: OffsetFetch answers
    -1 for it, and the group's next consumer starts at the new topic's first record."""
    def scenario(t):
        topic = t.topic(f"recreated-{protocol}")
        group = t.name(f"recreated-{protocol}-group")
        fill(t, topic, 10)
        c = t.consumer(**{"group.id": group, "group.protocol": protocol})
        c.subscribe([topic])
        out = {"consumed_before": len(consume_n(c, 10))}
        c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        c.close()
        out["committed_before"] = committed(t, group, topic)
        recreate_topic(t, topic)
        out["committed_after"] = committed(t, group, topic)
        fill(t, topic, 3)
        c = t.consumer(**{"group.id": group, "group.protocol": protocol})
        c.subscribe([topic])
        out["consumed_after"] = consume_n(c, 3)
        c.close()
        return out
    both.compare(scenario)
