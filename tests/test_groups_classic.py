"""Consumer groups, classic protocol, with real confluent-kafka consumers: partitions spread over
the members, a member leaving (clean close or hard kill) hands its partitions to the others with
no record skipped, committed offsets are honoured after every rebalance and across a restart,
and offsets committed through one agent are read through another."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import kafkawire as kw
from groupkit import (PARTS, Member, committed, consume_until, group_commands_while_polling,
                      hard_kill_takeover, offsets_of, produce_n, wait_spread)
from helpers import admin, consumer, create_topic, err_code, wait_until

FAST = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest"}


def group_consumer(bs, group, assignor, **conf):
    return consumer(bs, **{"group.id": group, "partition.assignment.strategy": assignor, **FAST, **conf})


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_three_consumers_one_closes_the_others_take_over(sluice_dev, assignor):
    bs = sluice_dev.bootstrap
    topic = f"grp-{assignor}"
    group = f"g-{assignor}"
    create_topic(bs, topic, PARTS)
    produce_n(bs, topic, 0, PARTS * 20)

    members = [Member(group_consumer(bs, group, assignor)) for _ in range(3)]
    for m in members:
        m.c.subscribe([topic])
    sets = wait_spread(members, PARTS)
    assert all(len(s) == 4 for s in sets), sets
    consume_until(members, offsets_of(20))

    # the victim reads more but never commits, then closes (LeaveGroup)
    victim, rest = members[0], members[1:]
    victim.commit = False
    produce_n(bs, topic, PARTS * 20, PARTS * 10)

    def victim_read_uncommitted():
        victim.poll(0.2)
        return any(o >= 20 for _, o in victim.seen)
    wait_until("the victim to read records it does not commit", victim_read_uncommitted, timeout=30, every=0)
    victim_uncommitted = {(p, o) for p, o in victim.seen if o >= 20}
    victim.c.close()

    sets = wait_spread(rest, PARTS)
    # the survivors read everything the victim did not commit, its uncommitted reads included
    victim_committed = set(victim.seen) - victim_uncommitted
    got = consume_until(rest, offsets_of(30) - victim_committed)
    assert got | victim_committed == offsets_of(30)
    # duplicates only among records the victim read without committing
    reads = [r for m in members for r in m.seen]
    dups = {r for r in reads if reads.count(r) > 1}
    allowed = victim_uncommitted.union(*(m.unsure for m in rest))
    assert dups <= allowed, sorted(dups - allowed)[:10]
    for m in rest:
        m.c.close()

    ad = admin(bs)  # kept referenced: a collected AdminClient never completes its futures
    d = ad.describe_consumer_groups([group])[group].result(timeout=30)
    assert d.state.name == "EMPTY", d.state


VICTIM = r"""
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "enable.auto.commit": False,
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest",
              "log_level": 3})
c.subscribe([sys.argv[3]])
while True:
    for m in c.consume(num_messages=100, timeout=0.2):
        if not m.error():
            print(m.partition(), m.offset(), flush=True)
    if c.assignment():
        print("assigned", len(c.assignment()), flush=True)
"""


def test_hard_killed_member_expires_and_its_partitions_move(sluice_dev, tmp_path):
    bs = sluice_dev.bootstrap
    topic, group = "grp-kill", "g-kill"
    create_topic(bs, topic, PARTS)
    produce_n(bs, topic, 0, PARTS * 10)
    # the session timeout (6 s) expires the victim; the survivors get all 12 partitions
    hard_kill_takeover(bs, group, topic, VICTIM, lambda: Member(group_consumer(bs, group, "range")), tmp_path / "victim.out")


def test_committed_offsets_survive_restart_and_resume_consumption(sluice_dev):
    bs = sluice_dev.bootstrap
    topic, group = "grp-restart", "g-restart"
    create_topic(bs, topic, PARTS)
    produce_n(bs, topic, 0, PARTS * 10)
    m = Member(group_consumer(bs, group, "range"))
    m.c.subscribe([topic])
    consume_until([m], offsets_of(10))
    m.c.close()
    assert committed(bs, group, topic) == {p: 10 for p in range(PARTS)}

    sluice_dev.restart()
    assert committed(bs, group, topic) == {p: 10 for p in range(PARTS)}
    produce_n(bs, topic, PARTS * 10, PARTS * 5)
    m = Member(group_consumer(bs, group, "roundrobin"))
    m.c.subscribe([topic])
    got = consume_until([m], offsets_of(15) - offsets_of(10))
    # a restarted group resumes at its committed offsets: nothing before them comes again
    assert got == offsets_of(15) - offsets_of(10)
    m.c.close()


def test_offsets_committed_via_one_agent_read_via_another(meta_and_two_agents):
    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    topic = "grp-two"
    create_topic(a.bootstrap, topic, PARTS)
    for i in range(8):
        group = f"g-two-{i}"  # several groups, so both agents coordinate some
        c = consumer(a.bootstrap, **{"group.id": group})
        c.commit(offsets=[TopicPartition(topic, p, 100 + p + i) for p in range(PARTS)], asynchronous=False)
        c.close()
        want = {p: 100 + p + i for p in range(PARTS)}
        wait_until(f"{group}'s offsets via agent b", lambda: committed(b.bootstrap, group, topic) == want,
                   timeout=30, context=lambda: f"committed: {committed(b.bootstrap, group, topic)}, want {want}")


def test_admin_list_describe_delete_groups_and_offsets(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "grp-admin"
    create_topic(bs, topic, PARTS)
    produce_n(bs, topic, 0, PARTS * 2)
    live = Member(group_consumer(bs, "g-live", "range"))
    live.c.subscribe([topic])
    wait_spread([live], PARTS)
    c = consumer(bs, **{"group.id": "g-idle"})
    c.commit(offsets=[TopicPartition(topic, p, 1) for p in range(PARTS)], asynchronous=False)
    c.close()

    ad = admin(bs)
    listed = {g.group_id: g for g in ad.list_consumer_groups(request_timeout=30).result(timeout=30).valid}
    assert {"g-live", "g-idle"} <= set(listed)
    assert listed["g-live"].state.name == "STABLE"
    assert listed["g-idle"].state.name == "EMPTY"
    from confluent_kafka import ConsumerGroupState
    only_stable = ad.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(timeout=30).valid
    assert [g.group_id for g in only_stable] == ["g-live"]

    d = ad.describe_consumer_groups(["g-live"])["g-live"].result(timeout=30)
    assert d.state.name == "STABLE" and d.partition_assignor == "range" and len(d.members) == 1
    assert sorted(tp.partition for tp in d.members[0].assignment.topic_partitions) == list(range(PARTS))

    # OffsetDelete: refused for a topic the live group subscribes to, done for the idle group
    # (confluent-kafka has no OffsetDelete call: raw v0 on the wire; one agent coordinates all)
    assert offset_delete(sluice_dev.port, "g-live", topic, [0]) == (0, [(0, 86)])  # SUBSCRIBED
    assert offset_delete(sluice_dev.port, "g-idle", topic, [0]) == (0, [(0, 0)])
    assert offset_delete(sluice_dev.port, "g-none", topic, [0])[0] == 69  # GROUP_ID_NOT_FOUND
    left = committed(bs, "g-idle", topic)
    assert left[0] < 0 and left[1] == 1

    # DeleteGroups: a group with members is refused, an empty one goes
    res = ad.delete_consumer_groups(["g-live", "g-idle"], request_timeout=30)
    res["g-idle"].result(timeout=30)
    with pytest.raises(KafkaException) as e:
        res["g-live"].result(timeout=30)
    assert err_code(e.value) == KafkaError.NON_EMPTY_GROUP
    assert all(v < 0 for v in committed(bs, "g-idle", topic).values())
    live.c.close()


def offset_delete(port, group, topic, partitions):
    """OffsetDelete v0 on the wire: (error_code, [(partition, error_code)])."""
    body = kw.string(group) + kw.array([topic], lambda t: kw.string(t) + kw.array(partitions, kw.i32))
    with kw.KafkaConn("127.0.0.1", port) as c:
        r = c.request(47, 0, body, flexible=False)
    err = r.i16()
    r.i32()
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    return err, [p for _, ps in topics for p in ps]


def test_find_coordinator_batched_names_the_same_live_agent_everywhere(meta_and_two_agents):
    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    keys = [f"group-{i}" for i in range(16)]

    def lookup(port):
        body = kw.i8(0) + kw.compact_array(keys, kw.compact_string) + kw.EMPTY_TAGS
        with kw.KafkaConn("127.0.0.1", port) as c:
            r = c.request(10, 4, body, flexible=True)
        r.i32()
        out = r.compact_array(lambda x: (x.compact_string(), x.i32(), x.compact_string(), x.i32(), x.i16(),
                                         x.compact_string(), x.tags()))
        return {k: (node, port_, err) for k, node, _, port_, err, _, _ in out}

    via_a = via_b = None

    def agreed():  # each agent must first see the other as live
        nonlocal via_a, via_b
        via_a, via_b = lookup(a.port), lookup(b.port)
        return via_a == via_b and {n for n, _, _ in via_a.values()} == {1, 2}
    wait_until("both agents to name the same coordinators, agents 1 and 2 among them", agreed, timeout=30,
               every=0.5, context=lambda: f"via a: {via_a}\nvia b: {via_b}")
    assert set(via_a) == set(keys)
    assert {(n, p) for n, p, _ in via_a.values()} == {(1, a.port), (2, b.port)}
    assert all(err == 0 for _, _, err in via_a.values())


def test_a_steady_group_costs_no_raft_writes(meta_and_two_agents):
    """Heartbeats touch the coordinator's memory only: over a steady window of many heartbeat
    rounds the quorum sees no group command at all (only the agents' own liveness beats)."""
    meta, a, b = meta_and_two_agents.meta, meta_and_two_agents.a, meta_and_two_agents.b
    topic, group = "grp-steady", "g-steady"
    create_topic(a.bootstrap, topic, PARTS)
    members = [Member(group_consumer(bs, group, "range", **{"heartbeat.interval.ms": 200}))
               for bs in (a.bootstrap, b.bootstrap, a.bootstrap)]
    for m in members:
        m.c.subscribe([topic])
    wait_spread(members, PARTS)
    for _ in range(10):  # let the last SyncGroup answers and commits settle
        for m in members:
            m.poll(0.1)
    group_cmds = group_commands_while_polling(meta.url, members, window=3.0)
    assert group_cmds == []
    assert all(len(m.parts()) == 4 for m in members)
    for m in members:
        m.c.close()


def test_static_member_restart_keeps_its_partitions_without_a_rebalance(sluice_dev):
    bs = sluice_dev.bootstrap
    topic, group = "grp-static", "g-static"
    create_topic(bs, topic, PARTS)
    revoked = []

    def static(inst):
        m = Member(group_consumer(bs, group, "range", **{"group.instance.id": inst}))
        m.c.subscribe([topic], on_revoke=lambda c, ps: revoked.append((inst, len(ps))))
        return m

    a, b = static("inst-a"), static("inst-b")
    sets = wait_spread([a, b], PARTS)
    before = {"a": sets[0], "b": sets[1]}
    revoked.clear()
    # a static member's close sends no LeaveGroup; its successor (same instance id) takes its place
    a.c.close()
    a2 = static("inst-a")
    sets = wait_spread([a2, b], PARTS, timeout=30)
    assert sets == [before["a"], before["b"]]
    for _ in range(20):  # b keeps heartbeating: no rebalance reaches it
        b.poll(0.1)
    assert [r for r in revoked if r[0] == "inst-b" and r[1] > 0] == []
    a2.c.close()
    b.c.close()


def test_group_survives_the_loss_of_its_coordinator_agent(meta_and_two_agents):
    """SIGKILL the agent coordinating a group: the other agent takes the group over (fresh
    liveness timers, same quorum state), the consumers find it, and consumption continues from
    the committed offsets with no record skipped."""
    a, b = meta_and_two_agents.a, meta_and_two_agents.b
    topic = "grp-failover"
    create_topic(a.bootstrap, topic, PARTS)
    produce_n(a.bootstrap, topic, 0, PARTS * 5)
    both = f"{a.bootstrap},{b.bootstrap}"
    # pick a group id that agent b coordinates, so killing b is killing the coordinator
    group = None
    for i in range(64):
        body = kw.i8(0) + kw.compact_array([f"g-fo-{i}"], kw.compact_string) + kw.EMPTY_TAGS
        with kw.KafkaConn("127.0.0.1", a.port) as c:
            r = c.request(10, 4, body, flexible=True)
        r.i32()
        _, node, _, _, err, _, _ = r.compact_array(
            lambda x: (x.compact_string(), x.i32(), x.compact_string(), x.i32(), x.i16(),
                       x.compact_string(), x.tags()))[0]
        if err == 0 and node == 2:
            group = f"g-fo-{i}"
            break
    assert group, "no group id hashed to agent b"
    members = [Member(group_consumer(both, group, "range")) for _ in range(2)]
    for m in members:
        m.c.subscribe([topic])
    wait_spread(members, PARTS)
    consume_until(members, offsets_of(5))
    b.kill()
    produce_n(a.bootstrap, topic, PARTS * 5, PARTS * 5)
    got = consume_until(members, offsets_of(10), timeout=120)
    assert got == offsets_of(10)
    for m in members:
        m.c.close()


def test_members_starting_together_land_in_the_first_generation(sluice_dev):
    """group.initial.rebalance.delay.ms (3 s by default, as in Kafka): three consumers starting
    300 ms apart on an empty group are assigned together, each its share in the first
    generation, instead of the first taking everything and giving it back in later rebalances."""
    bs, topic, group = sluice_dev.bootstrap, "initial-delay", "g-initial-delay"
    create_topic(bs, topic, 6)
    assigned = {i: [] for i in range(3)}
    members = []
    for i in range(3):
        c = group_consumer(bs, group, "range")
        c.subscribe([topic], on_assign=lambda _c, ps, i=i: assigned[i].append(sorted(p.partition for p in ps)))
        members.append(c)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            for m in members:
                m.poll(0.05)
    try:
        def all_assigned():
            for m in members:
                m.poll(0.1)
            return all(assigned.values())
        wait_until("all three members to be assigned", all_assigned, timeout=30, every=0,
                   context=lambda: f"assigned: {assigned}")
        for _ in range(20):  # no later rebalance follows
            for m in members:
                m.poll(0.1)
        assert sorted(map(tuple, (a[0] for a in assigned.values()))) == [(0, 1), (2, 3), (4, 5)]
        assert all(len(a) == 1 for a in assigned.values()), assigned
    finally:
        for m in members:
            m.close()
