"""KIP-848 consumer groups (`group.protocol=consumer`) with real confluent-kafka consumers:
server-side assignors (uniform, range), members joining, leaving and dying, incremental
assignment with revocation before reassignment, regex subscriptions, static members,
ConsumerGroupDescribe, and Kafka's error codes over the wire."""


import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType
from confluent_kafka.admin import ConfigResource, ResourceType

import kafkawire as kw
from groupkit import (PARTS, Member, committed, consume_until, group_commands_while_polling,
                      hard_kill_takeover, offsets_of, produce_n, wait_spread)
from helpers import admin, consumer, create_topic, set_group_configs, wait_until

FAST = {"consumer_session_timeout_ms": 6000, "consumer_heartbeat_interval_ms": 500}


def member(bs, group, assignor=None, **conf):
    if assignor:
        conf["group.remote.assignor"] = assignor
    return Member(consumer(bs, **{"group.id": group, "group.protocol": "consumer",
                                  "auto.offset.reset": "earliest", **conf}))


def assigned_log(m):
    """Subscribe callbacks recording every assign/revoke of `m` as (kind, partitions)."""
    events = []
    return events, {"on_assign": lambda c, ps: events.append(("assign", {p.partition for p in ps})),
                    "on_revoke": lambda c, ps: events.append(("revoke", {p.partition for p in ps}))}


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_three_consumers_one_closes_the_others_take_over(sluice_dev, assignor):
    bs = sluice_dev.bootstrap
    topic, group = f"kip848-{assignor}", f"g848-{assignor}"
    create_topic(bs, topic, PARTS)
    set_group_configs(bs, group, **FAST)
    produce_n(bs, topic, 0, PARTS * 20)

    members = [member(bs, group, assignor) for _ in range(3)]
    for m in members:
        m.c.subscribe([topic])
    sets = wait_spread(members, PARTS, sizes=[4, 4, 4])
    if assignor == "range":
        # range hands out contiguous runs in member-id order
        assert sorted(sorted(s) for s in sets) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    consume_until(members, offsets_of(20))

    victim, rest = members[0], members[1:]
    victim.commit = False
    produce_n(bs, topic, PARTS * 20, PARTS * 10)

    def victim_read_uncommitted():
        victim.poll(0.2)
        return any(o >= 20 for _, o in victim.seen)
    wait_until("the victim to read records it does not commit", victim_read_uncommitted, timeout=30, every=0)
    victim_uncommitted = {(p, o) for p, o in victim.seen if o >= 20}
    kept_before = [m.parts() for m in rest]
    victim.c.close()  # leaves with member epoch -1: takes effect at once

    sets = wait_spread(rest, PARTS, sizes=[6, 6])
    if assignor == "uniform":
        # sticky: the survivors keep what they had and split the victim's partitions
        assert all(before <= after for before, after in zip(kept_before, sets)), (kept_before, sets)
    victim_committed = set(victim.seen) - victim_uncommitted
    got = consume_until(rest, offsets_of(30) - victim_committed)
    assert got | victim_committed == offsets_of(30)
    reads = [r for m in members for r in m.seen]
    dups = {r for r in reads if reads.count(r) > 1}
    allowed = victim_uncommitted.union(*(m.unsure for m in rest))
    assert dups <= allowed, sorted(dups - allowed)[:10]
    for m in rest:
        m.c.close()
    assert committed(bs, group, topic) == {p: 30 for p in range(PARTS)}


VICTIM = r"""
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3})
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
    topic, group = "kip848-kill", "g848-kill"
    create_topic(bs, topic, PARTS)
    set_group_configs(bs, group, **FAST)
    produce_n(bs, topic, 0, PARTS * 10)
    # the 6 s session timeout (a group config) expires the victim; the survivors take all 12
    hard_kill_takeover(bs, group, topic, VICTIM, lambda: member(bs, group), tmp_path / "victim.out")


def test_revocation_comes_before_reassignment(sluice_dev):
    """A second member joining: the first is told to revoke half, and the newcomer gets those
    partitions only after the first no longer owns them; at no moment do two members own one."""
    bs = sluice_dev.bootstrap
    topic, group = "kip848-revoke", "g848-revoke"
    create_topic(bs, topic, PARTS)
    set_group_configs(bs, group, **FAST)
    a_events, a_cbs = assigned_log(None)
    a = member(bs, group)
    a.c.subscribe([topic], **a_cbs)
    wait_spread([a], PARTS)
    b_events, b_cbs = assigned_log(None)
    b = member(bs, group)
    b.c.subscribe([topic], **b_cbs)
    overlaps = []

    def split_six_six():
        a.poll(0.05)
        b.poll(0.05)
        pa, pb = a.parts(), b.parts()
        if pa & pb:
            overlaps.append((pa, pb))
        return len(pa) == 6 and len(pb) == 6
    wait_until("a and b to hold 6 partitions each", split_six_six, timeout=60, every=0,
               context=lambda: f"a: {sorted(a.parts())}, b: {sorted(b.parts())}")
    assert overlaps == []
    # a's only revocation (incremental, not everything) gave up exactly what b received
    revoked = [ps for kind, ps in a_events if kind == "revoke"]
    gained = set().union(*(ps for kind, ps in b_events if kind == "assign"))
    assert len(revoked) == 1 and revoked[0] == gained == b.parts(), (a_events, b_events)
    a.c.close()
    b.c.close()


def test_a_steady_group_costs_no_raft_writes(meta_and_two_agents):
    meta, a, b = meta_and_two_agents.meta, meta_and_two_agents.a, meta_and_two_agents.b
    topic, group = "kip848-steady", "g848-steady"
    create_topic(a.bootstrap, topic, PARTS)
    set_group_configs(a.bootstrap, group, consumer_heartbeat_interval_ms=200)
    members = [member(bs, group, **{"enable.auto.commit": False})
               for bs in (a.bootstrap, b.bootstrap, a.bootstrap)]
    for m in members:
        m.c.subscribe([topic])
        m.commit = False
    wait_spread(members, PARTS)
    for _ in range(20):  # let the last acknowledgements settle
        for m in members:
            m.poll(0.1)
    group_cmds = group_commands_while_polling(meta.url, members, window=3.0)
    assert group_cmds == []
    assert all(len(m.parts()) == 4 for m in members)
    for m in members:
        m.c.close()


def test_describe_list_and_committed_offsets_survive_restart(sluice_dev):
    bs = sluice_dev.bootstrap
    topic, group = "kip848-admin", "g848-admin"
    create_topic(bs, topic, PARTS)
    set_group_configs(bs, group, **FAST)
    produce_n(bs, topic, 0, PARTS * 10)
    members = [member(bs, group, **{"client.id": f"c{i}"}) for i in range(2)]
    for m in members:
        m.c.subscribe([topic])
    wait_spread(members, PARTS)
    consume_until(members, offsets_of(10))
    ad = admin(bs)
    d = ad.describe_consumer_groups([group])[group].result(timeout=30)
    assert d.type == ConsumerGroupType.CONSUMER
    assert d.state == ConsumerGroupState.STABLE
    assert sorted(m.client_id for m in d.members) == ["c0", "c1"]
    assert [m.host for m in d.members] == ["/127.0.0.1", "/127.0.0.1"]
    described = sorted(sorted(tp.partition for tp in m.assignment.topic_partitions) for m in d.members)
    assert described == sorted(sorted(m.parts()) for m in members)
    listed = ad.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(timeout=30)
    assert group in {g.group_id for g in listed.valid}
    listed = ad.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(timeout=30)
    assert group not in {g.group_id for g in listed.valid}
    for m in members:
        m.c.close()
    d = ad.describe_consumer_groups([group])[group].result(timeout=30)
    assert (d.state, d.members) == (ConsumerGroupState.EMPTY, [])
    # group configs: the override as GROUP_CONFIG (8), the rest as defaults (5)
    cfg = ad.describe_configs([ConfigResource(ResourceType.GROUP, group)])
    got = {n: (e.value, e.source) for n, e in list(cfg.values())[0].result(timeout=30).items()}
    assert got["consumer.session.timeout.ms"] == ("6000", 8)
    assert got["consumer.heartbeat.interval.ms"] == ("500", 8)
    assert got["share.delivery.count.limit"] == ("5", 5)

    sluice_dev.restart()
    assert committed(bs, group, topic) == {p: 10 for p in range(PARTS)}
    produce_n(bs, topic, PARTS * 10, PARTS * 5)
    m = member(bs, group)
    m.c.subscribe([topic])
    got = consume_until([m], offsets_of(15) - offsets_of(10))
    assert got == offsets_of(15) - offsets_of(10)
    m.c.close()


def test_regex_subscription_follows_new_topics(sluice_dev):
    bs = sluice_dev.bootstrap
    group = "g848-regex"
    create_topic(bs, "rx-one", 2)
    create_topic(bs, "other-topic", 2)
    set_group_configs(bs, group, **FAST)
    m = member(bs, group)
    m.c.subscribe(["^rx-.*"])

    def assigned(n):
        m.poll(0.1)
        return len(m.c.assignment()) == n
    wait_until("rx-one's 2 partitions assigned", lambda: assigned(2), timeout=60, every=0)
    assert {(tp.topic, tp.partition) for tp in m.c.assignment()} == {("rx-one", 0), ("rx-one", 1)}
    create_topic(bs, "rx-two", 3)
    produce_n(bs, "rx-two", 0, 0)
    wait_until("rx-two's 3 partitions assigned too", lambda: assigned(5), timeout=60, every=0)
    assert {(tp.topic, tp.partition) for tp in m.c.assignment()} == \
        {("rx-one", 0), ("rx-one", 1), ("rx-two", 0), ("rx-two", 1), ("rx-two", 2)}
    m.c.close()


def test_static_member_restart_keeps_its_partitions(sluice_dev):
    bs = sluice_dev.bootstrap
    topic, group = "kip848-static", "g848-static"
    create_topic(bs, topic, PARTS)
    set_group_configs(bs, group, **FAST)
    b_events, b_cbs = assigned_log(None)

    def static(inst, **cbs):
        m = member(bs, group, **{"group.instance.id": inst})
        m.c.subscribe([topic], **cbs)
        return m

    a, b = static("inst-a"), static("inst-b", **b_cbs)
    sets = wait_spread([a, b], PARTS)
    before = {"a": sets[0], "b": sets[1]}
    b_events.clear()
    # a static member's close leaves with epoch -2: it keeps its place for its successor
    a.c.close()
    a2 = static("inst-a")
    sets = wait_spread([a2, b], PARTS, timeout=30)
    assert sets == [before["a"], before["b"]]
    for _ in range(20):
        b.poll(0.1)
    assert [e for e in b_events if e[0] == "revoke" and e[1]] == []
    a2.c.close()
    b.c.close()


def topic_id(bs, topic):
    ad = admin(bs)
    from confluent_kafka import TopicCollection
    d = ad.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    return d.topic_id.get_most_significant_bits().to_bytes(8, "big", signed=True) + \
        d.topic_id.get_least_significant_bits().to_bytes(8, "big", signed=True)


def test_heartbeat_errors_over_the_wire(cluster):
    """Kafka's error codes for ConsumerGroupHeartbeat, on a raw connection."""
    dev = cluster.dev("--group-consumer-max-size", "2")
    bs = dev.bootstrap
    create_topic(bs, "kip848-wire", 4)
    tid = topic_id(bs, "kip848-wire")
    g = "g848-wire"
    with kw.KafkaConn("127.0.0.1", dev.port) as c:
        hb = lambda *a, **k: kw.consumer_group_heartbeat_v1(c, g, *a, **k)  # noqa: E731
        r = hb("m1", 0, rebalance_timeout_ms=30000, topics=["kip848-wire"], instance_id="i1")
        assert (r["error"], r["member_id"], r["epoch"], r["interval"]) == (0, "m1", 1, 5000)
        assert r["assignment"] == {tid: [0, 1, 2, 3]}
        # a steady heartbeat: same epoch, no assignment sent again
        r = hb("m1", 1)
        assert (r["error"], r["epoch"], r["assignment"]) == (0, 1, None)
        assert hb("m1", 7)["error"] == 110  # FENCED_MEMBER_EPOCH
        assert hb("nobody", 1)["error"] == 25  # UNKNOWN_MEMBER_ID
        assert hb("", 0, rebalance_timeout_ms=1, topics=[])["error"] == 42  # INVALID_REQUEST (v1)
        assert hb("m9", 0, rebalance_timeout_ms=1, topics=["kip848-wire"],
                  assignor="sticky")["error"] == 112  # UNSUPPORTED_ASSIGNOR
        assert hb("m9", 0, rebalance_timeout_ms=1, regex="(unclosed")["error"] == 128  # INVALID_REGULAR_EXPRESSION
        assert hb("m9", 0, rebalance_timeout_ms=1, topics=["kip848-wire"],
                  instance_id="i1")["error"] == 111  # UNRELEASED_INSTANCE_ID
        r = hb("m2", 0, rebalance_timeout_ms=30000, topics=["kip848-wire"])
        assert (r["error"], r["epoch"], r["assignment"]) == (0, 2, {})  # m1 still owns all four
        assert hb("m3", 0, rebalance_timeout_ms=30000, topics=["kip848-wire"])["error"] == 81  # GROUP_MAX_SIZE_REACHED
        # m1 learns to revoke two (epoch stays 1), acknowledges, moves to epoch 2
        r = hb("m1", 1)
        assert r["epoch"] == 1 and len(r["assignment"][tid]) == 2
        kept = r["assignment"][tid]
        r = hb("m1", 1, owned=[(tid, kept)])
        assert (r["epoch"], r["assignment"]) == (2, {tid: kept})
        r = hb("m2", 2)
        assert r["assignment"] == {tid: sorted(set(range(4)) - set(kept))}
        # m1 leaves for good: m2 gets everything at epoch 3
        assert hb("m1", -1)["epoch"] == -1
        r = hb("m2", 2)
        assert (r["epoch"], r["assignment"]) == (3, {tid: [0, 1, 2, 3]})


def test_a_change_in_the_racks_of_live_agents_rebalances(cluster, tmp_path):
    """KIP-1101: every partition is served from the racks of the live agents; when an agent in a
    new rack comes or goes, the group's subscription metadata changes and the group epoch moves."""
    objects = tmp_path / "objects"
    objects.mkdir()
    meta = cluster.meta(1)
    a = cluster.agent(meta.url, objects, 1, "agent-a", "--rack", "r1")
    create_topic(a.bootstrap, "kip848-rack", 4)
    agents = [a]

    def hb(*args, **kwargs):
        """A heartbeat to whichever live agent coordinates the group (it may move)."""
        for ag in agents:
            with kw.KafkaConn("127.0.0.1", ag.port) as c:
                r = kw.consumer_group_heartbeat_v1(c, "g848-rack", *args, **kwargs)
            if r["error"] != 16:  # NOT_COORDINATOR
                return r
        raise AssertionError("no agent coordinates the group")

    def epoch_becomes(want, epoch):
        def moved():
            nonlocal epoch
            r = hb("m1", epoch)
            assert r["error"] == 0, r
            epoch = r["epoch"]
            return epoch == want
        wait_until(f"the group epoch to become {want}", moved, timeout=30, context=lambda: f"it stayed {epoch}")

    r = hb("m1", 0, rebalance_timeout_ms=30000, topics=["kip848-rack"], rack_id="r1")
    assert (r["error"], r["epoch"]) == (0, 1)
    assert hb("m1", 1)["epoch"] == 1  # steady: nothing changed
    b = cluster.agent(meta.url, objects, 2, "agent-b", "--rack", "r2")
    agents.append(b)
    epoch_becomes(2, 1)  # a new rack: epoch 2
    b.stop()  # leaves the cluster cleanly: rack r2 is gone again
    agents.remove(b)
    epoch_becomes(3, 2)
