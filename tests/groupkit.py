"""Shared by the consumer-group tests (classic and KIP-848): a recording member, waiting for an
assignment to settle, consuming until a set of records is seen, committed offsets, the raft feed."""

import os
import signal
import subprocess
import sys
import time

from confluent_kafka import KafkaException, TopicPartition

from helpers import DeliveryLog, consumer, poll_until, produce_all, producer, wait_until

PARTS = 12


def produce_n(bs, topic, start, n):
    recs = [(i, topic, i % PARTS, None, f"v{i}".encode(), None, None) for i in range(start, start + n)]
    log = DeliveryLog()
    produce_all(producer(bs), recs, log)
    assert log.errors() == {}


class Member:
    """A consumer that records what it read and commits after each poll batch."""

    def __init__(self, c, commit=True):
        self.c = c
        self.commit = commit
        self.seen = []  # (partition, offset)
        self.unsure = set()  # read, but the commit covering them was refused

    def poll(self, timeout=0.2):
        msgs = self.c.consume(num_messages=500, timeout=timeout)
        last = {}
        batch = []
        for m in msgs:
            if m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            batch.append((m.partition(), m.offset()))
            last[m.partition()] = m.offset()
        self.seen.extend(batch)
        if self.commit and last:
            try:
                self.c.commit(offsets=[TopicPartition(m.topic(), p, o + 1) for p, o in last.items()],
                              asynchronous=False)
            except KafkaException:
                # a commit racing a rebalance is refused; those records may come again
                self.unsure.update(batch)
        return len(msgs)

    def parts(self):
        return {tp.partition for tp in self.c.assignment()}


def wait_spread(members, want, timeout=60, sizes=None):
    """Poll all members until their assignments are disjoint and cover `want` partitions (and,
    given `sizes`, have those sizes in some order: a rebalance may pass through other states)."""
    def settled():
        for m in members:
            m.poll(0.1)
        sets = [m.parts() for m in members]
        if all(sets) and sum(len(s) for s in sets) == want and len(set().union(*sets)) == want \
                and (sizes is None or sorted(len(s) for s in sets) == sorted(sizes)):
            return sets
        return None
    return poll_until(f"assignments to settle over {want} partitions", settled, timeout, every=0,
                      context=lambda: f"assignments: {[sorted(m.parts()) for m in members]}")


def consume_until(members, wanted, timeout=90):
    def seen():
        return set().union(*(m.seen for m in members))

    def consumed():
        for m in members:
            m.poll(0.1)
        got = seen()
        return got if wanted <= got else None

    def missing():
        left = sorted(wanted - seen())
        return f"{len(left)} records never consumed, first {left[:10]}"
    return poll_until(f"{len(wanted)} records consumed", consumed, timeout, every=0, context=missing)


def offsets_of(counts):
    return {(p, o) for p in range(PARTS) for o in range(counts)}


def committed(bs, group, topic):
    c = consumer(bs, **{"group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def raft_entries(meta_url, after, wait_ms=0):
    """The metadata change feed after `after`: [(index, command)]."""
    import json
    import urllib.request
    with urllib.request.urlopen(f"{meta_url}/api/changes?after={after}&wait_ms={wait_ms}", timeout=30) as r:
        body = json.loads(r.read())
    if "entries" not in body:
        return None
    return [(e["index"], e["command"]) for e in body["entries"]]


def group_commands_while_polling(meta_url, members, window):
    """Catches up with the raft feed, then polls `members` for `window` seconds and returns the
    group commands the quorum applied meanwhile (a steady group should cause none)."""
    last = 0
    while True:
        es = raft_entries(meta_url, last)
        if not es:
            break
        last = es[-1][0]
    deadline = time.monotonic() + window
    seen = []
    while time.monotonic() < deadline:
        for m in members:
            m.poll(0.05)
        es = raft_entries(meta_url, last) or []
        if es:
            last = es[-1][0]
            seen.extend(es)
    group_cmds = [c for _, c in seen if isinstance(c, dict) and "Group" in c]
    print(f"steady window {window}s: {len(seen)} raft entries, {len(group_cmds)} group commands")
    return group_cmds


def hard_kill_takeover(bs, group, topic, victim_script, make_member, out_path):
    """Runs `victim_script` (a consumer printing "assigned N" and its reads) beside two members
    made by `make_member`, waits until all three hold 4 of the PARTS partitions, SIGKILLs the
    victim, and checks that once its session expires the survivors own all partitions and read
    every record of the 10 per partition produced before."""
    out = open(out_path, "w+")
    victim = subprocess.Popen([sys.executable, "-c", victim_script, bs, group, topic], stdout=out,
                              stderr=subprocess.DEVNULL)
    members = []
    try:
        members = [make_member() for _ in range(2)]
        for m in members:
            m.c.subscribe([topic])

        def spread():
            for m in members:
                m.poll(0.1)
            out.seek(0)
            return "assigned 4" in out.read() and all(len(m.parts()) == 4 for m in members)
        wait_until("the victim and both members to hold 4 partitions each", spread, timeout=60, every=0,
                   context=lambda: f"members: {[sorted(m.parts()) for m in members]}")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        sets = wait_spread(members, PARTS, timeout=60)
        assert sorted(set().union(*sets)) == list(range(PARTS))
        got = consume_until(members, offsets_of(10))
        assert got == offsets_of(10)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    for m in members:
        m.c.close()
