"""Kafka Streams applications end to end on streams groups (KIP-1071, issue 13): unmodified Kafka Streams
(kafka-streams from Maven Central, the newest 4.x) with group.protocol=streams, several instances of one
application as separate JVMs (tests/java/clients/src/main/java/StreamsApp.java, driven by
tests/streamskit.py), checked by exact outcomes: output counts, the tasks each instance reports, restored
record counts, what the Admin client and kafka-streams-groups.sh show.

The word count also runs on Kafka Streams 4.1.2 (the reference release's jars: early access, heartbeat v0).
Measurements (failover and restart times, tasks moved) are printed as "MEASURE ..." lines (pytest -s).

Target: env STREAMS_TARGET=sluice (default: one `sluice dev` for the module) or kafka (one Apache Kafka of
the newest 4.x for the module, with the streams group session/heartbeat minimums lowered so failover takes
seconds, not 45 s). Both get the same group configs through IncrementalAlterConfigs on the GROUP resource.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import target_broker
from helpers import (DeliveryLog, TopicPartition, admin, consumer, create_topic, produce_all, producer,
                     set_group_configs, wait_until, watermarks)
from streamskit import OutputReader, StreamsGroup, java_classpath, wait_counts, word_counts, words_input

TARGET = os.environ.get("STREAMS_TARGET", "sluice")

# Group configs every application gets (streams.* on the GROUP resource, KIP-1071): a dead instance's tasks
# move after 5 s; members heartbeat every 500 ms.
GROUP_CONFIGS = {"streams.session.timeout.ms": 5000, "streams.heartbeat.interval.ms": 500}

# Broker settings of the Kafka run: the group-config bounds (Kafka's minimums are 45 s session and 5 s
# heartbeat) and a short wait for more members before a new group's first assignment (default 3 s).
KAFKA_PROPS = {
    "group.streams.min.session.timeout.ms": "1000",
    "group.streams.min.heartbeat.interval.ms": "100",
    "group.streams.initial.rebalance.delay.ms": "1000",
}

WORDCOUNT_TASKS = 12  # two sub-topologies over 6 partitions


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """The broker of this module: .bootstrap."""
    yield from target_broker(tmp_path_factory, TARGET, "streams", release="newest", props=KAFKA_PROPS)


def setup_app(bs: str, app_id: str, partitions: int = 6, create_input: bool = True,
              **configs) -> tuple[str, str]:
    """Creates APP-out (and APP-in, unless told not to) with `partitions` partitions and sets the group
    configs (plus `configs`, `_` for `.`); returns (input, output) topic names."""
    src, dst = f"{app_id}-in", f"{app_id}-out"
    if create_input:
        create_topic(bs, src, partitions)
    create_topic(bs, dst, partitions)
    set_group_configs(bs, app_id, **{k.replace(".", "_"): v for k, v in GROUP_CONFIGS.items()}, **configs)
    return src, dst


def app_of(broker, app_id: str, mode: str, src: str, dst: str, workdir, **options) -> StreamsGroup:
    """A StreamsGroup on the module's broker, whose log (Kafka's server.log, Sluice's stderr) a failed wait
    quotes."""
    return StreamsGroup(broker.bootstrap, app_id, mode, src, dst, workdir, broker_log=broker.log_path,
                        **options)


def produce_lines(bs: str, topic: str, lines: list[str], partitions: int = 6, start: int = 0):
    """Record i (from `start`) goes to partition i % partitions, no key."""
    log = DeliveryLog()
    produce_all(producer(bs), [(start + i, topic, (start + i) % partitions, None, v.encode(), None, None)
                               for i, v in enumerate(lines)], log)
    assert log.errors() == {}


def measure(name: str, value):
    """A measurement for the report (printed; visible with pytest -s), never asserted."""
    print(f"\nMEASURE {name}: {value}", flush=True)


def first_event_after(inst, kind: str, after_ms: int, pred=lambda e: True) -> dict | None:
    return next((e for e in inst.of(kind) if e["t"] >= after_ms and pred(e)), None)


@pytest.mark.parametrize("client", ["newest", "reference"])
def test_wordcount_three_instances_exact_counts(broker, tmp_path, client):
    """3 instances, 6 input partitions, two-word lines at least once (30,000 on Kafka Streams 4.4, which
    speaks StreamsGroupHeartbeat v1; 6,000 on 4.1.2, early access, v0): every word's last count on the
    output topic is exact, and the 12 tasks are spread over the 3 instances."""
    bs, app_id = broker.bootstrap, f"wc-alos-{client}"
    src, dst = setup_app(bs, app_id)
    lines = words_input(30_000) if client == "newest" else words_input(6_000)
    app = app_of(broker, app_id, "wordcount", src, dst, tmp_path, client=client)
    out = OutputReader(bs, dst, 6)
    try:
        app.start(3)
        produce_lines(bs, src, lines)
        wait_counts(app, out, word_counts(lines))
        app.wait(lambda: app.settled(WORDCOUNT_TASKS), "12 active tasks spread over the 3 instances")
        app.stop_all()
        assert app.errors() == []
        assert app.overlaps() == []
    finally:
        out.close()
        app.kill_all()


def test_wordcount_exactly_once_across_sigkill(broker, tmp_path):
    """exactly_once_v2, 3 instances; one is SIGKILLed while input keeps arriving. Read with read_committed,
    no count is ever over-counted (every value of a word ≤ its final count, and a word's values strictly
    increase in offset order) and the final counts are exact."""
    bs, app_id = broker.bootstrap, "wc-eos"
    src, dst = setup_app(bs, app_id)
    lines = words_input(30_000)
    app = app_of(broker, app_id, "wordcount", src, dst, tmp_path, guarantee="exactly_once_v2")
    out = OutputReader(bs, dst, 6, read_committed=True)
    try:
        app.start(3)
        produce_lines(bs, src, lines[:10_000])
        app.wait(lambda: app.settled(WORDCOUNT_TASKS), "12 active tasks over the 3 instances")
        app.wait(lambda: out.poll(0.2) > 0 or bool(out.records), "first committed output")
        victim = max(app.instances, key=lambda i: len([t for t in i.tasks()[0] if t.startswith("1_")]))
        moved = victim.tasks()[0]

        # the rest of the input arrives in batches while the victim dies
        def feed():
            for k in range(10_000, 30_000, 2_000):
                produce_lines(bs, src, lines[k:k + 2_000], start=k)
        feeder = threading.Thread(target=feed)
        feeder.start()
        victim.kill()
        feeder.join()
        survivors = [i for i in app.instances if i is not victim]
        final = word_counts(lines)
        wait_counts(app, out, final)
        app.wait(lambda: app.settled(WORDCOUNT_TASKS, survivors), "12 active tasks over the 2 survivors")
        took = [first_event_after(i, "open", victim.killed_at_ms, lambda e, t=t: e["task"] == t)
                for t in moved for i in survivors]
        took = [e["t"] for e in took if e]
        measure("eos: SIGKILL to the victim's tasks processing elsewhere (ms)", max(took) - victim.killed_at_ms)

        over = [(k, v, final[k]) for k, v in out.records if int(v) > final[k]]
        assert over == [], f"over-counted: {over[:10]}"
        seen: dict[str, int] = {}
        repeated = []
        for k, v in out.records:
            if int(v) <= seen.get(k, 0):
                repeated.append((k, seen[k], int(v)))
            seen[k] = int(v)
        assert repeated == [], f"a word's count went back or repeated (word, before, after): {repeated[:10]}"
        app.stop_all()
        assert app.errors() == []
        assert app.overlaps() == []
    finally:
        out.close()
        app.kill_all()


def test_standby_takes_over_without_full_restore(broker, tmp_path):
    """streams.num.standby.replicas=1: every stateful task (sub-topology 1) has a standby on another
    instance. SIGKILL an instance owning active stateful tasks: they become active on the instances that
    had their standbys, as far as balance allows (as Kafka's StickyTaskAssignor: each survivor up to its
    quota), and those restore far fewer records than the changelog partition holds (from the app's
    StateRestoreListener). The killed instance, restarted on its state directory, gets tasks back."""
    bs, app_id = broker.bootstrap, "wc-standby"
    src, dst = setup_app(bs, app_id, streams_num_standby_replicas=1)
    lines = words_input(6_000)
    app = app_of(broker, app_id, "wordcount", src, dst, tmp_path, standby=1, cache_bytes=0, commit_ms=200)
    out = OutputReader(bs, dst, 6)
    stateful = {f"1_{p}" for p in range(6)}

    def standbys_placed() -> bool:
        if not app.settled(WORDCOUNT_TASKS):
            return False
        standby = [t for i in app.instances for t in i.tasks()[1]]
        return sorted(standby) == sorted(stateful) and all(not (i.tasks()[0] & i.tasks()[1]) for i in app.instances)

    try:
        app.start(3)
        produce_lines(bs, src, lines)
        wait_counts(app, out, word_counts(lines))
        app.wait(standbys_placed, "one standby per stateful task, never beside its active")
        victim = max(app.instances, key=lambda i: len(i.tasks()[0] & stateful))
        moved = sorted(victim.tasks()[0] & stateful)
        assert moved, "some instance owns a stateful task"
        standby_of = {t: next(i for i in app.instances if t in i.tasks()[1]) for t in moved}
        changelog = {t: watermarks(bs, f"{app_id}-counts-changelog", int(t[2:]))[1] for t in moved}
        survivors = [i for i in app.instances if i is not victim]
        # Kafka's StickyTaskAssignor keeps balance first: a survivor takes the victim's tasks it holds
        # as standbys up to its quota of stateful actives (ceil(6 stateful tasks / 2 members), one
        # stream thread per instance), so only that many must move to their standbys.
        quota = -(-len(stateful) // len(survivors))
        room = {i.name: quota - len(i.tasks()[0] & stateful) for i in survivors}
        must_follow = sum(min(room[s.name], sum(1 for t in moved if standby_of[t] is s)) for s in survivors)
        assert must_follow >= 1, (room, {t: i.name for t, i in standby_of.items()})
        victim.kill()

        def taken_over() -> bool:
            """Every moved task processing somewhere (its tracker opened after the kill, and the instance's
            task list shows it)."""
            return all(any(first_event_after(i, "open", victim.killed_at_ms, lambda e, t=t: e["task"] == t)
                           and t in i.tasks()[0] for i in survivors) for t in moved)
        app.wait(taken_over, f"{moved} processing on the survivors")
        owner = {t: [i.name for i in survivors if t in i.tasks()[0]] for t in moved}
        followed = [t for t in moved if owner[t] == [standby_of[t].name]]
        assert len(followed) >= must_follow, \
            f"moved to {owner}; standbys were on {({t: i.name for t, i in standby_of.items()})}, room {room}"
        for t in followed:
            restored = [e["restored"] for e in standby_of[t].of("restore_end")
                        if e["t"] >= victim.killed_at_ms and e["partition"] == int(t[2:])]
            assert changelog[t] >= 500, f"changelog partition of {t} holds only {changelog[t]} records"
            assert restored, f"{t}: no restoration reported on takeover\n{standby_of[t].tail()}"
            assert sum(restored) * 10 <= changelog[t], \
                f"{t}: restored {restored} of a {changelog[t]}-record changelog on takeover"
        opened = [first_event_after(standby_of[t], "open", victim.killed_at_ms, lambda e, t=t: e["task"] == t)["t"]
                  for t in followed]
        measure("standby: SIGKILL to the moved stateful tasks processing on their standbys' instances (ms)",
                max(opened) - victim.killed_at_ms)
        measure("standby: restored records on takeover / changelog size",
                {t: (sum(e["restored"] for e in standby_of[t].of("restore_end")
                         if e["t"] >= victim.killed_at_ms and e["partition"] == int(t[2:])), changelog[t])
                 for t in followed})

        victim.restart()
        app.wait(lambda: victim.running() and bool(victim.tasks()[0]) and app.settled(WORDCOUNT_TASKS),
                 "the restarted instance owning active tasks again")
        back = first_event_after(victim, "open", victim.started_at_ms)
        measure("standby: restart to the restarted instance processing a task again (ms)",
                back["t"] - victim.started_at_ms)
        # at least once across a SIGKILL: records since the victim's last commit count twice, so the
        # counts are checked from below only
        more = words_input(600, start=6_000)
        produce_lines(bs, src, more, start=6_000)
        want = word_counts(lines + more)
        app.wait(lambda: out.poll(0.2) >= 0 and all(out.counts().get(k, 0) >= n for k, n in want.items()),
                 "every word counted at least as often as it was sent")
        app.stop_all()
        assert app.errors() == []
        assert app.overlaps() == []
    finally:
        out.close()
        app.kill_all()


def test_scale_three_five_three(broker, tmp_path):
    """3 instances, then 5, then back to 3 (two stopped cleanly): no task ever processes on two instances at
    once (the tracker processors' open/close intervals), each settled assignment is balanced (max - min <= 1
    active tasks per instance), only the tasks that must move, move, and the counts stay exact."""
    bs, app_id = broker.bootstrap, "wc-scale"
    src, dst = setup_app(bs, app_id)
    lines = words_input(6_000)
    app = app_of(broker, app_id, "wordcount", src, dst, tmp_path)
    out = OutputReader(bs, dst, 6)

    def balanced(insts) -> bool:
        if not app.settled(WORDCOUNT_TASKS, insts):
            return False
        sizes = [len(i.tasks()[0]) for i in insts]
        return max(sizes) - min(sizes) <= 1

    def snapshot(insts) -> dict[str, set[str]]:
        return {i.name: i.tasks()[0] for i in insts}

    try:
        first = app.start(3)
        produce_lines(bs, src, lines[:2_000])
        app.wait(lambda: balanced(first), "12 active tasks balanced over 3 instances")
        before = snapshot(first)
        extra = app.start(2)
        produce_lines(bs, src, lines[2_000:4_000], start=2_000)
        app.wait(lambda: balanced(first + extra), "12 active tasks balanced over 5 instances")
        at_five = snapshot(first + extra)
        for i in extra:
            i.proc.stdin.close()
        for i in extra:
            i.stop()
        produce_lines(bs, src, lines[4_000:], start=4_000)
        app.wait(lambda: balanced(first), "12 active tasks balanced over 3 instances again")
        after = snapshot(first)
        wait_counts(app, out, word_counts(lines))
        assert app.overlaps() == []
        # only the tasks that must move, move: the 3 keep what they had and only give to the newcomers,
        # then keep what they had and only take the leavers' tasks
        assert all(at_five[n] <= before[n] for n in before), (before, at_five)
        assert all(at_five[n] <= after[n] for n in after), (at_five, after)
        moved_up = sum(len(before[n] - at_five[n]) for n in before)
        moved_down = sum(len(after[n] - at_five[n]) for n in after)
        measure("scale: active tasks moved 3->5 and 5->3 (minimum 4 each)", (moved_up, moved_down))
        app.stop_all()
        assert app.errors() == []
    finally:
        out.close()
        app.kill_all()


def test_missing_source_topic_waits_then_processes(broker, tmp_path):
    """The filter app started before its input topic exists: the group's heartbeat status
    MISSING_SOURCE_TOPICS makes Kafka Streams raise MissingSourceTopicException (after two heartbeat
    intervals); the app, replacing its stream thread on it, stays up and processes nothing. Once the topic
    exists, it processes."""
    bs, app_id = broker.bootstrap, "filter-missing"
    late, dst = setup_app(bs, app_id, partitions=3, create_input=False)
    app = app_of(broker, app_id, "filter", late, dst, tmp_path, on_error="replace")
    app.expected_errors = ("MissingSourceTopicException",)
    out = OutputReader(bs, dst, 3)
    try:
        (inst,) = app.start(1)
        app.wait(lambda: len(inst.of("error")) >= 2, "MissingSourceTopicException, twice")
        assert inst.alive() and inst.of("open") == [] and inst.state() != "RUNNING", inst.tail()
        assert all(late in e["error"] for e in inst.of("error")), inst.of("error")
        create_topic(bs, late, 3)
        values = ["a", "", "b", "c", " ", "d", "e", "f", "g", "h"]
        produce_lines(bs, late, values, partitions=3)

        def all_out() -> bool:
            out.poll(0.2)
            return len(out.records) >= 8
        app.wait(all_out, "the 8 non-blank values on the output")
        assert sorted(v for _, v in out.records) == ["A", "B", "C", "D", "E", "F", "G", "H"]
        app.wait(lambda: app.settled(3), "3 tasks running")
        app.stop_all()
        assert app.errors() == []
    finally:
        out.close()
        app.kill_all()


def test_classic_application_moves_to_the_streams_protocol_keeping_its_offsets(broker, tmp_path):
    """Offline migration (KIP-1071): the filter app runs with group.protocol=classic, processes 10 records
    and stops; once its classic group is empty (the members' 6 s sessions ran out: Kafka Streams does not
    leave on close), the app restarted with group.protocol=streams turns the group into a streams group,
    which starts from the classic group's committed offsets: only the 10 records produced since come out,
    none twice."""
    bs, app_id = broker.bootstrap, "filter-migrate"
    src, dst = setup_app(bs, app_id, partitions=2)
    out = OutputReader(bs, dst, 2)
    classic = app_of(broker, app_id, "filter", src, dst, tmp_path / "classic", protocol="classic",
                     config="session.timeout.ms=6000")
    streams = app_of(broker, app_id, "filter", src, dst, tmp_path / "streams")

    def outputs(n: int):
        def enough() -> bool:
            out.poll(0.2)
            return len(out.records) >= n
        return enough
    try:
        classic.start(1)
        produce_lines(bs, src, [f"a{i}" for i in range(10)], partitions=2)
        classic.wait(outputs(10), "10 records through the classic app")
        classic.stop_all()
        assert classic.errors() == []

        adm = admin(bs)  # kept: a collected AdminClient never completes its futures

        def classic_group_empty() -> bool:
            d = adm.describe_consumer_groups([app_id], request_timeout=10)[app_id].result(20)
            return str(d.state).endswith("EMPTY") and d.members == []
        wait_until("the classic group to be empty", classic_group_empty, timeout=60, every=0.5)

        produce_lines(bs, src, [f"b{i}" for i in range(10)], partitions=2, start=10)
        streams.start(1)
        streams.wait(outputs(20), "the 10 new records through the streams app")
        listed = next(e for e in streams_admin(bs, app_id) if e["ev"] == "listed")["groups"]
        assert f"{app_id} Streams Stable" in listed, listed
        deadline = time.monotonic() + 3  # anything reprocessed would follow at once: give it time to show
        while time.monotonic() < deadline:
            out.poll(0.2)
        assert sorted(v for _, v in out.records) == sorted([f"A{i}" for i in range(10)] + [f"B{i}" for i in range(10)])
        streams.stop_all()
        assert streams.errors() == []
    finally:
        out.close()
        classic.kill_all()
        streams.kill_all()


@pytest.fixture(scope="module")
def filter_app(broker, tmp_path_factory):
    """The stateless filter app, 2 instances over a 4-partition input, 20 records processed: a Stable
    streams group with committed offsets for the inspection tests (the last of them stops it)."""
    bs, app_id = broker.bootstrap, "filter-app"
    src, dst = setup_app(bs, app_id, partitions=4)
    app = app_of(broker, app_id, "filter", src, dst, tmp_path_factory.mktemp("filter-app"))
    out = OutputReader(bs, dst, 4)
    try:
        app.start(2)
        produce_lines(bs, src, [f"v{i}" for i in range(20)], partitions=4)
        app.wait(lambda: app.settled(4), "4 tasks over 2 instances")

        def all_out() -> bool:
            out.poll(0.2)
            return len(out.records) >= 20
        app.wait(all_out, "20 output records")
        yield app
    finally:
        out.close()
        app.kill_all()


def streams_admin(bs: str, group: str) -> list[dict]:
    r = subprocess.run(["java", "-cp", java_classpath(), "StreamsAdmin", bs, group],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"StreamsAdmin failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_admin_client_lists_and_describes_streams_group(broker, filter_app):
    """Admin.listGroups(forStreamsGroups) shows the group as a Stable streams group;
    Admin.describeStreamsGroups shows its topology and its two members with the tasks each instance runs."""
    app = filter_app
    out = streams_admin(broker.bootstrap, app.app_id)
    listed = next(e for e in out if e["ev"] == "listed")["groups"]
    assert f"{app.app_id} Streams Stable" in listed, listed
    described = next(e for e in out if e["ev"] == "described")
    assert (described["group"], described["state"]) == (app.app_id, "Stable")
    assert described["subtopologies"] == [f"0 sources={app.app_id}-in repartition_sinks= changelogs="]
    members = [e for e in out if e["ev"] == "member"]
    assert len(members) == 2 and len({m["process_id"] for m in members}) == 2, members
    assert sorted(sorted(m["active"]) for m in members) == sorted(sorted(i.tasks()[0]) for i in app.instances)
    assert all(m["standby"] == [] and m["warmup"] == [] for m in members)


def test_streams_groups_tool(broker, filter_app):
    """kafka-streams-groups.sh (Kafka's StreamsGroupCommand): --list shows the group; --describe --members
    shows both members and their tasks; --describe (offsets) shows the committed offsets and no lag;
    --delete refuses the running group; once its instances stopped, --reset-offsets --to-earliest moves the
    committed offsets back to 0 and --delete deletes it."""
    from kafkatools import run_tool

    bs, app = broker.bootstrap, filter_app
    group = app.app_id

    def tool(*args, check=True):
        return run_tool("kafka-streams-groups", "--bootstrap-server", bs, *args, check=check, release="newest")

    assert group in tool("--list").stdout.split()
    members = tool("--describe", "--members", "--group", group).stdout
    # GROUP MEMBER PROCESS CLIENT-ID ASSIGNMENTS ("ACTIVE: 0:[1,3]; ")
    shown = []
    for line in members.splitlines():
        if line.startswith(group + " "):
            active = re.search(r"ACTIVE:\s*((?:\d+:\[[\d,]*\];?\s*)*)", line)
            assert active, line
            shown.append(sorted(f"{sub}_{p}" for sub, parts in re.findall(r"(\d+):\[([\d,]*)\]", active.group(1))
                                for p in parts.split(",") if p))
    assert sorted(shown) == sorted(sorted(i.tasks()[0]) for i in app.instances), members
    offsets = tool("--describe", "--offsets", "--group", group).stdout
    rows = sorted(line.split()[1:] for line in offsets.splitlines() if line.startswith(group + " "))
    assert rows == [[f"{group}-in", str(p), "0"] for p in range(4)], offsets

    refused = tool("--delete", "--group", group)  # exits 0 all the same
    assert "GroupNotEmptyException" in refused.stdout + refused.stderr, \
        refused.stdout + refused.stderr
    assert group in tool("--list").stdout.split()
    app.stop_all()
    assert app.errors() == []

    def committed() -> dict[int, int]:
        c = consumer(bs, **{"group.id": group, "enable.auto.commit": False})
        try:
            return {tp.partition: tp.offset
                    for tp in c.committed([TopicPartition(f"{group}-in", p) for p in range(4)], timeout=30)}
        finally:
            c.close()
    ends = {p: watermarks(bs, f"{group}-in", p)[1] for p in range(4)}
    assert sum(ends.values()) == 20 and committed() == ends
    reset = tool("--reset-offsets", "--group", group, "--all-input-topics", "--to-earliest", "--execute")
    assert f"{group}-in" in reset.stdout, reset.stdout
    assert committed() == {p: 0 for p in range(4)}
    deleted = tool("--delete", "--group", group)
    assert f"Deletion of requested streams groups ('{group}') was successful." in deleted.stdout, deleted.stdout
    assert group not in tool("--list").stdout.split()
