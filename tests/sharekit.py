"""Raw KIP-932 share-group conversations over the wire (tests/kafkawire.py), shared by the share-group
tests and their conformance scenarios: a member joining, fetching, and the answers ShareAcknowledge gives
to ranges that were never acquired."""

import base64
import time
import uuid

import kafkawire as kw
import wire
from helpers import poll_until, wait_until

INVALID_REQUEST, INVALID_RECORD_STATE = 42, 121
# COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: a broker starting up
RETRIABLE_COORDINATOR_ERRORS = (14, 15, 16)
ACCEPT = 1


def kafka_member_id() -> str:
    """A member id as Kafka's clients make them (Uuid.toString(): base64url, no padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def raw_share_member(conn, group, topic, deadline_s=30):
    """Joins `group` subscribed to `topic` over the wire; returns (member id, epoch, topic id)."""
    member = kafka_member_id()
    epoch = 0
    start = time.monotonic()
    # FindCoordinator first: Kafka creates its group coordinator's topic on the first one
    def coordinator_found():
        r = wire.call(conn, "FindCoordinator", 6, key_type=0, coordinator_keys=[group])
        return r["coordinators"][0]["error_code"] == 0
    wait_until(f"a coordinator for {group}", coordinator_found, timeout=deadline_s)

    def assigned():
        nonlocal epoch
        hb = kw.share_group_heartbeat_v1(conn, group, member, epoch, topics=[topic] if epoch == 0 else None)
        if hb["error"] in RETRIABLE_COORDINATOR_ERRORS:
            return None
        assert hb["error"] == 0, hb
        epoch = hb["epoch"]
        if not hb["assignment"]:
            return None
        (tid, parts), = hb["assignment"].items()
        assert parts == [0]
        return member, epoch, tid
    # the same deadline_s covers both steps
    return poll_until(f"an assignment of {topic} in {group}", assigned,
                      timeout=max(0.0, deadline_s - (time.monotonic() - start)))


def acknowledge_answers(bs, group, topic):
    """The answers to ShareAcknowledge of ranges never acquired, after 5 records (0..=4) were
    acquired by one fetch: (error code, message) per case."""
    host, port = bs.split(":")
    out = {}
    with kw.KafkaConn(host, int(port)) as conn:
        member, _, tid = raw_share_member(conn, group, topic)
        key = (tid, 0)
        epoch = 0

        def fetched():
            nonlocal epoch
            f = kw.share_fetch_v1(conn, group, member, epoch, {key: []}, max_wait_ms=1000)
            epoch += 1
            assert f["error"] == 0, f
            return f["partitions"].get(key, {}).get("acquired") or None
        out["acquired"] = poll_until("records acquired by a ShareFetch", fetched, timeout=30, every=0)

        def ack(*batches):
            nonlocal epoch
            r = kw.share_acknowledge_v1(conn, group, member, epoch, {key: list(batches)})
            epoch += 1
            assert r["error"] == 0, r
            p = r["partitions"][key]
            return p["error"], p["message"]

        out["past_everything"] = ack((7, 7, [ACCEPT]))
        out["running_past_the_end"] = ack((3, 6, [ACCEPT]))
        # a partition's batches are all or nothing: 0..=1 stays acquired
        out["good_then_bad"] = ack((0, 1, [ACCEPT]), (9, 9, [ACCEPT]))
        out["overlapping_batches"] = ack((2, 4, [ACCEPT]), (3, 3, [ACCEPT]))
        with kw.KafkaConn(host, int(port)) as conn2:
            other, _, _ = raw_share_member(conn2, group, topic)
            kw.share_fetch_v1(conn2, group, other, 0, {}, max_wait_ms=100)
            r = kw.share_acknowledge_v1(conn2, group, other, 1, {key: [(1, 1, [ACCEPT])]})
            out["another_members_records"] = (r["partitions"][key]["error"], r["partitions"][key]["message"])
        out["all_five"] = ack((0, 4, [ACCEPT]))
        # nothing in flight any more (SPSO 5): below it is done already, at it is unknown
        out["below_the_start"] = ack((2, 2, [ACCEPT]))
        out["nothing_in_flight"] = ack((5, 5, [ACCEPT]))
    return out


