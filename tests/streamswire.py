"""Raw-wire StreamsGroupHeartbeat (api key 88) and StreamsGroupDescribe (89) for tests (KIP-1071):
kafka-python, which tests/wire.py uses, has no classes for them. Written from Kafka's message JSON
(clients/src/main/resources/common/message/StreamsGroupHeartbeat{Request,Response}.json); every version
is flexible (compact strings/arrays, tagged fields). Requests are encoded for v0 and v1 (same request
fields); the heartbeat response is decoded for v0 only (v1 changes the acceptable recovery lag field)."""

from __future__ import annotations

from kafkawire import (EMPTY_TAGS, KafkaConn, Reader, compact_array, compact_string, i8, i16, i32, i64,
                       uvarint)

STREAMS_GROUP_HEARTBEAT = 88
STREAMS_GROUP_DESCRIBE = 89


def _struct(*parts: bytes) -> bytes:
    return b"".join(parts) + EMPTY_TAGS


def _strings(items):
    return compact_array(items, compact_string)


def _key_values(kvs: dict | None):
    return compact_array(None if kvs is None else sorted(kvs.items()),
                         lambda kv: _struct(compact_string(kv[0]), compact_string(kv[1])))


def _topic_info(t: dict) -> bytes:
    """{"name", "partitions" (0: unknown), "replication_factor" (0: broker default), "configs": {k: v}}"""
    return _struct(compact_string(t["name"]), i32(t.get("partitions", 0)), i16(t.get("replication_factor", 0)),
                   _key_values(t.get("configs", {})))


def _copartition_group(g: dict) -> bytes:
    idx = lambda xs: compact_array(xs, i16)  # noqa: E731
    return _struct(idx(g.get("source_topics", [])), idx(g.get("source_topic_regex", [])),
                   idx(g.get("repartition_source_topics", [])))


def _subtopology(s: dict) -> bytes:
    return _struct(compact_string(s["subtopology_id"]), _strings(s.get("source_topics", [])),
                   _strings(s.get("source_topic_regex", [])),
                   compact_array(s.get("state_changelog_topics", []), _topic_info),
                   _strings(s.get("repartition_sink_topics", [])),
                   compact_array(s.get("repartition_source_topics", []), _topic_info),
                   compact_array(s.get("copartition_groups", []), _copartition_group))


def _tasks(tasks: dict | None) -> bytes:
    """{subtopology_id: [partition, ...]} or None (null: unchanged since the last heartbeat)."""
    return compact_array(None if tasks is None else sorted(tasks.items()),
                         lambda kv: _struct(compact_string(kv[0]), compact_array(kv[1], i32)))


def heartbeat_body(group_id: str, member_id: str, member_epoch: int, *, endpoint_information_epoch: int = 0,
                   instance_id: str | None = None, rack_id: str | None = None, rebalance_timeout_ms: int = -1,
                   topology: dict | None = None, active: dict | None = None, standby: dict | None = None,
                   warmup: dict | None = None, process_id: str | None = None,
                   user_endpoint: tuple[str, int] | None = None, client_tags: dict | None = None,
                   shutdown_application: bool = False) -> bytes:
    """A StreamsGroupHeartbeatRequest body (v0/v1). `topology`: {"epoch": int, "subtopologies": [{
    "subtopology_id", "source_topics", "state_changelog_topics": [topic info], "repartition_sink_topics",
    "repartition_source_topics": [topic info], "copartition_groups": [{"source_topics": [index]...}]}]}."""
    if topology is None:
        topo_bytes = i8(-1)  # nullable struct: -1 null, 1 present
    else:
        topo_bytes = i8(1) + _struct(i32(topology.get("epoch", 0)),
                                     compact_array(topology.get("subtopologies", []), _subtopology))
    if user_endpoint is None:
        endpoint = i8(-1)
    else:
        endpoint = i8(1) + _struct(compact_string(user_endpoint[0]), i16(user_endpoint[1]))
    return _struct(compact_string(group_id), compact_string(member_id), i32(member_epoch),
                   i32(endpoint_information_epoch), compact_string(instance_id), compact_string(rack_id),
                   i32(rebalance_timeout_ms), topo_bytes, _tasks(active), _tasks(standby), _tasks(warmup),
                   compact_string(process_id), endpoint, _key_values(client_tags),
                   compact_array(None, None), compact_array(None, None), i8(1 if shutdown_application else 0))


def _read_tasks(r: Reader):
    def one(r):
        sid = r.compact_string()
        parts = r.compact_array(lambda r: r.i32())
        r.tags()
        return sid, sorted(parts)
    items = r.compact_array(one)
    return None if items is None else dict(items)


def decode_heartbeat_v0(r: Reader) -> dict:
    """The StreamsGroupHeartbeatResponse v0 fields tests compare (endpoint-to-partitions skipped)."""
    out = {"throttle_time_ms": r.i32(), "error_code": r.i16(), "error_message": r.compact_string(),
           "member_id": r.compact_string(), "member_epoch": r.i32(), "heartbeat_interval_ms": r.i32(),
           "acceptable_recovery_lag": r.i32(), "task_offset_interval_ms": r.i32()}

    def status(r):
        s = {"status_code": r.i8(), "status_detail": r.compact_string()}
        r.tags()
        return s
    out["status"] = r.compact_array(status)
    out["active_tasks"] = _read_tasks(r)
    out["standby_tasks"] = _read_tasks(r)
    out["warmup_tasks"] = _read_tasks(r)
    out["endpoint_information_epoch"] = r.i32()
    return out


def heartbeat(conn: KafkaConn, group_id: str, member_id: str, member_epoch: int, **fields) -> dict:
    """Sends one StreamsGroupHeartbeat v0 and returns the decoded response."""
    body = heartbeat_body(group_id, member_id, member_epoch, **fields)
    return decode_heartbeat_v0(conn.request(STREAMS_GROUP_HEARTBEAT, 0, body, flexible=True))


def describe(conn: KafkaConn, group_ids: list[str], include_authorized_operations: bool = False) -> list[dict]:
    """Sends StreamsGroupDescribe v0; returns per group its error code, message, state and member ids."""
    body = _struct(_strings(group_ids), i8(1 if include_authorized_operations else 0))
    r = conn.request(STREAMS_GROUP_DESCRIBE, 0, body, flexible=True)
    r.i32()  # throttle
    # Only the leading fields of each described group are read; the rest of the frame is ignored.
    n = r.uvarint() - 1
    groups = []
    for _ in range(n):
        groups.append({"error_code": r.i16(), "error_message": r.compact_string(),
                       "group_id": r.compact_string(), "group_state": r.compact_string()})
        break  # the members and topology that follow are not decoded: callers describe one group
    return groups
