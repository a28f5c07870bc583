"""Conformance scenarios for KIP-1071 Streams groups (issue 13) against Kafka 4.4 (streams.version=1):
StreamsGroupHeartbeat request validation, fencing of unknown members and wrong epochs, and
StreamsGroupDescribe of an unknown group. Raw wire through tests/streamswire.py."""

from __future__ import annotations

import time

import kafkawire
import streamswire as sw
from conformance.harness import error_name

TOPOLOGY = {"epoch": 0, "subtopologies": [{"subtopology_id": "0", "source_topics": ["in"]}]}


RETRIABLE = {14, 15, 16}  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR


def coordinator_ready(t, group: str):
    """Waits until FindCoordinator(GROUP) for `group` answers without error (Kafka loads the offsets
    partition of a group's coordinator lazily; until then group requests answer NOT_COORDINATOR)."""
    deadline = time.monotonic() + 60
    while True:
        r = t.call("FindCoordinator", 4, key_type=0, coordinator_keys=[group])
        code = r["coordinators"][0]["error_code"]
        if code not in RETRIABLE or time.monotonic() > deadline:
            assert code == 0, f"{t.kind}: FindCoordinator {error_name(code)}"
            return
        time.sleep(0.2)


def _answer(r: dict) -> dict:
    return {"error": error_name(r["error_code"]), "message": r["error_message"]}


def test_streams_heartbeat_validation_errors(both_newest):
    """Each of Kafka's StreamsGroupHeartbeat validation errors: INVALID_REQUEST (or UNSUPPORTED_VERSION,
    FENCED...) with its message, before any group state is touched."""
    def scenario(t):
        g = t.name("g")
        join = dict(rebalance_timeout_ms=30000, topology=TOPOLOGY, process_id="p1", active={}, standby={},
                    warmup={})
        cases = {
            "empty_member_id_on_rejoin": (g, "", 3, {}),
            "empty_group_id": ("", "m1", 0, join),
            "join_without_rebalance_timeout": (g, "m1", 0, {**join, "rebalance_timeout_ms": -1}),
            "join_without_topology": (g, "m1", 0, {**join, "topology": None}),
            "join_without_process_id": (g, "m1", 0, {**join, "process_id": None}),
            "join_with_empty_process_id": (g, "m1", 0, {**join, "process_id": ""}),
            "join_with_active_tasks": (g, "m1", 0, {**join, "active": {"0": [0]}}),
            "epoch_below_minus_two": (g, "m1", -3, {}),
            "minus_two_without_instance_id": (g, "m1", -2, {}),
            "topology_on_non_join": (g, "m1", 5, {"topology": TOPOLOGY}),
            "only_some_task_lists": (g, "m1", 5, {"active": {}, "standby": None, "warmup": None}),
            "changelog_with_partition_count": (g, "m1", 0, {**join, "topology": {"epoch": 0, "subtopologies": [
                {"subtopology_id": "0", "source_topics": ["in"],
                 "state_changelog_topics": [{"name": "app-store-changelog", "partitions": 3}]}]}}),
            "copartition_index_out_of_range": (g, "m1", 0, {**join, "topology": {"epoch": 0, "subtopologies": [
                {"subtopology_id": "0", "source_topics": ["in"],
                 "copartition_groups": [{"source_topics": [0, 7]}]}]}}),
        }
        out = {}
        coordinator_ready(t, g)
        with t.conn() as c:
            for name, (group, member, epoch, fields) in cases.items():
                group = group and f"{group}-{name}"  # a join that passes creates its group: one id each
                out[name] = _answer(sw.heartbeat(c, group, member, epoch, **fields))
        return out
    both_newest.compare(scenario)


def test_streams_heartbeat_fencing_and_describe_unknown(both_newest):
    """A heartbeat of a member never joined (UNKNOWN_MEMBER_ID), a leave (-1) of one, and
    StreamsGroupDescribe of a group that does not exist (GROUP_ID_NOT_FOUND)."""
    def scenario(t):
        g = t.name("g")
        coordinator_ready(t, g)
        with t.conn() as c:
            return {
                "unknown_member": _answer(sw.heartbeat(c, g, "nobody", 4)),
                "leave_unknown": _answer(sw.heartbeat(c, g, "nobody", -1)),
                "describe_unknown": [{"error": error_name(d["error_code"]), "message": d["error_message"],
                                      "group": d["group_id"]} for d in sw.describe(c, [g])],
            }
    both_newest.compare(scenario)


def test_streams_heartbeat_fencing_in_a_live_group(both_newest):
    """One member joins a group whose source topic exists; a heartbeat with a wrong epoch is
    FENCED_MEMBER_EPOCH, an unknown member UNKNOWN_MEMBER_ID, and the member's leave (-1) answers epoch -1.
    Epoch numbers are compared relative to the join's (Kafka delays the first assignment by
    group.streams.initial.rebalance.delay.ms, Sluice may number differently)."""
    def scenario(t):
        g, topic = t.name("g"), t.topic("in", partitions=2)
        topology = {"epoch": 0, "subtopologies": [{"subtopology_id": "0", "source_topics": [topic]}]}
        coordinator_ready(t, g)
        with t.conn() as c:
            joined = sw.heartbeat(c, g, "m1", 0, rebalance_timeout_ms=30000, topology=topology, process_id="p1",
                                  active={}, standby={}, warmup={})
            epoch = joined["member_epoch"]
            wrong = sw.heartbeat(c, g, "m1", epoch + 5)
            unknown = sw.heartbeat(c, g, "nobody", epoch)
            left = sw.heartbeat(c, g, "m1", -1)
        return {"join": [error_name(joined["error_code"]), joined["member_id"], epoch >= 0],
                "wrong_epoch": _answer(wrong), "unknown_member": _answer(unknown),
                "leave": [error_name(left["error_code"]), left["member_epoch"]]}
    both_newest.compare(scenario)


def test_streams_group_seen_by_other_apis(both_newest):
    """A streams group with one member as the classic APIs see it: ListGroups filtered by type "streams"
    (and by state), JoinGroup on it, StreamsGroupDescribe of it; DeleteGroups while the
    member is in (NON_EMPTY_GROUP) and after it left."""
    def scenario(t):
        g, topic = t.name("g"), t.topic("in", partitions=1)
        topology = {"epoch": 0, "subtopologies": [{"subtopology_id": "0", "source_topics": [topic]}]}
        coordinator_ready(t, g)
        with t.conn() as c:
            joined = sw.heartbeat(c, g, "m1", 0, rebalance_timeout_ms=30000, topology=topology, process_id="p1",
                                  active={}, standby={}, warmup={})
            described = sw.describe(c, [g])

        def listed(**filters):
            r = t.call("ListGroups", 5, **filters)
            return [error_name(r["error_code"]),
                    sorted([x["group_id"], x["group_state"], x["group_type"]] for x in r["groups"]
                           if x["group_id"] == g)]
        out = {"join": error_name(joined["error_code"]),
               "streams_describe": [[error_name(d["error_code"]), d["group_state"]] for d in described],
               "list_streams": listed(states_filter=[], types_filter=["streams"]),
               "list_consumer": listed(states_filter=[], types_filter=["consumer"]),
               "list_state_empty": listed(states_filter=["Empty"], types_filter=[])}
        j = t.call("JoinGroup", 5, group_id=g, session_timeout_ms=10000, rebalance_timeout_ms=10000,
                   member_id="", group_instance_id=None, protocol_type="consumer",
                   protocols=[{"name": "range", "metadata": b""}])
        out["classic_join"] = error_name(j["error_code"])
        out["delete_non_empty"] = [error_name(r["error_code"]) for r in
                                   t.call("DeleteGroups", 2, groups_names=[g])["results"]]
        with t.conn() as c:
            out["leave"] = error_name(sw.heartbeat(c, g, "m1", -1)["error_code"])
        out["delete_empty"] = [error_name(r["error_code"]) for r in
                               t.call("DeleteGroups", 2, groups_names=[g])["results"]]
        return out
    both_newest.compare(scenario)


def test_streams_group_configs(both_newest):
    """streams.* group configs through IncrementalAlterConfigs (GROUP resource, validate only): valid
    values accepted, out-of-range ones refused with Kafka's code and message."""
    def scenario(t):
        g = t.name("g")
        values = {"standby_3": ("streams.num.standby.replicas", "3"),
                  "standby_too_many": ("streams.num.standby.replicas", "100"),
                  "session_ok": ("streams.session.timeout.ms", "45000"),
                  "session_below_min": ("streams.session.timeout.ms", "1000"),
                  "heartbeat_not_a_number": ("streams.heartbeat.interval.ms", "soon"),
                  "streams_heartbeat_above_max": ("streams.heartbeat.interval.ms", "20000"),
                  "streams_session_above_max": ("streams.session.timeout.ms", "60001"),
                  "standby_negative": ("streams.num.standby.replicas", "-1"),
                  # the same broker bounds for the other kinds' group configs
                  "consumer_session_below_min": ("consumer.session.timeout.ms", "6000"),
                  "consumer_heartbeat_below_min": ("consumer.heartbeat.interval.ms", "500"),
                  "consumer_heartbeat_ok": ("consumer.heartbeat.interval.ms", "15000"),
                  "share_session_above_max": ("share.session.timeout.ms", "70000"),
                  "share_heartbeat_above_max": ("share.heartbeat.interval.ms", "16000"),
                  "share_lock_below_min": ("share.record.lock.duration.ms", "3000"),
                  "share_lock_ok": ("share.record.lock.duration.ms", "15000"),
                  "share_delivery_count_above_max": ("share.delivery.count.limit", "11")}
        out = {}
        for label, (name, value) in values.items():
            r = t.call("IncrementalAlterConfigs", 1, validate_only=True, resources=[{
                "resource_type": 32, "resource_name": g,
                "configs": [{"name": name, "config_operation": 0, "value": value}]}])["responses"][0]
            out[label] = [error_name(r["error_code"]), r["error_message"]]
        return out
    both_newest.compare(scenario)


def test_streams_group_offsets_and_other_kinds(both_newest):
    """A streams group with one member as the offset APIs and the other kinds' heartbeats see it:
    OffsetCommit v9 with the member's epoch, a stale epoch and an unknown member, and v8 (refused to members);
    OffsetFetch v9 with the
    member's epoch and a wrong one; a ConsumerGroupHeartbeat and a ShareGroupHeartbeat joining it."""
    def scenario(t):
        g, topic = t.name("g"), t.topic("in", partitions=1)
        topology = {"epoch": 0, "subtopologies": [{"subtopology_id": "0", "source_topics": [topic]}]}
        coordinator_ready(t, g)
        with t.conn() as c:
            joined = sw.heartbeat(c, g, "m1", 0, rebalance_timeout_ms=30000, topology=topology, process_id="p1",
                                  active={}, standby={}, warmup={})
        epoch = joined["member_epoch"]

        def commit(member: str, member_epoch: int, version: int = 9):
            r = t.call("OffsetCommit", version, group_id=g, generation_id_or_member_epoch=member_epoch, member_id=member,
                       group_instance_id=None, topics=[{"name": topic, "partitions": [{
                           "partition_index": 0, "committed_offset": 7, "committed_leader_epoch": -1,
                           "committed_metadata": "m"}]}])
            return [error_name(p["error_code"]) for tp in r["topics"] for p in tp["partitions"]]

        def fetch(member: str, member_epoch: int):
            r = t.call("OffsetFetch", 9, groups=[{"group_id": g, "member_id": member, "member_epoch": member_epoch,
                                                  "topics": [{"name": topic, "partition_indexes": [0]}]}],
                       require_stable=False)
            grp = r["groups"][0]
            return [error_name(grp["error_code"]),
                    [[error_name(p["error_code"]), p["committed_offset"]] for tp in grp["topics"]
                     for p in tp["partitions"]]]

        out = {"join": [error_name(joined["error_code"]), epoch >= 1],
               "commit_member_epoch": commit("m1", epoch),
               "commit_stale_epoch": commit("m1", epoch - 1),
               "commit_future_epoch": commit("m1", epoch + 1),
               "commit_unknown_member": commit("nobody", epoch),
               "commit_simple": commit("", -1),
               # below v9 a member's commit is UNSUPPORTED_VERSION; an unknown member is unknown first
               "commit_v8_member": commit("m1", epoch, version=8),
               "commit_v8_unknown_member": commit("nobody", epoch, version=8),
               "fetch_member_epoch": fetch("m1", epoch),
               "fetch_wrong_epoch": fetch("m1", epoch + 1),
               "fetch_unknown_member": fetch("nobody", epoch)}
        with t.conn() as c:
            cg = kafkawire.consumer_group_heartbeat_v1(c, g, "c1", 0, rebalance_timeout_ms=30000, topics=[topic],
                                                    owned=[])
            sg = kafkawire.share_group_heartbeat_v1(c, g, "s1-aaaaaaaaaaaaaaaaaaaa", 0, topics=[topic])
        out["consumer_heartbeat"] = [error_name(cg["error"]), cg["message"]]
        out["share_heartbeat"] = [error_name(sg["error"]), sg["message"]]
        with t.conn() as c:
            out["leave"] = error_name(sw.heartbeat(c, g, "m1", -1)["error_code"])
        return out
    both_newest.compare(scenario)


def test_consumer_group_member_commits_need_v9(both):
    """A KIP-848 consumer group member (ConsumerGroupHeartbeat) commits with OffsetCommit v9 and its member
    epoch; at v8 the same commit is UNSUPPORTED_VERSION (ConsumerGroup.validateOffsetCommit), while an
    unknown member is UNKNOWN_MEMBER_ID at both versions."""
    def scenario(t):
        g, topic = t.name("g848"), t.topic("in848", partitions=1)
        coordinator_ready(t, g)
        with t.conn() as c:
            hb = kafkawire.consumer_group_heartbeat_v1(c, g, "c1-aaaaaaaaaaaaaaaaaaaa", 0,
                                                    rebalance_timeout_ms=30000, topics=[topic], owned=[])
        epoch, m = hb["epoch"], hb["member_id"]

        def commit(member: str, version: int):
            r = t.call("OffsetCommit", version, group_id=g, generation_id_or_member_epoch=epoch, member_id=member,
                       group_instance_id=None, topics=[{"name": topic, "partitions": [{
                           "partition_index": 0, "committed_offset": 3, "committed_leader_epoch": -1,
                           "committed_metadata": ""}]}])
            return [error_name(p["error_code"]) for tp in r["topics"] for p in tp["partitions"]]

        out = {"join": [error_name(hb["error"]), epoch >= 1],
               "same_member_id": m == "c1-aaaaaaaaaaaaaaaaaaaa",
               "v8_member": commit(m, 8),
               "v9_member": commit(m, 9),
               "v8_unknown": commit("nobody", 8),
               "v9_unknown": commit("nobody", 9)}
        with t.conn() as c:
            out["leave"] = error_name(kafkawire.consumer_group_heartbeat_v1(
                c, g, m, -1, rebalance_timeout_ms=30000, topics=[topic], owned=[])["error"])
        return out
    both.compare(scenario)
