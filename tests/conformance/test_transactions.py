"""Conformance scenarios for transactions (KIP-98, KIP-890, KIP-1152): what a transactional producer, a
read_committed consumer, the raw transaction APIs and kafka-transactions.sh observe on Apache Kafka and
on Sluice."""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition

from conformance.harness import error_name
from conformance.test_kafka_tools import tool
from helpers import BASE_TS, read_to_end

RETRIABLE = {14, 15, 16, 51}  # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS


def settled(t, api: str, version: int, code_of=lambda r: r.get("error_code", 0), **fields) -> dict:
    """`t.call` repeated while the answer is a retriable coordinator error (Kafka loads its transaction
    state log partitions lazily)."""
    deadline = time.monotonic() + 60
    while True:
        r = t.call(api, version, **fields)
        if code_of(r) not in RETRIABLE or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def txn_producer(t, tid: str, **conf):
    p = t.producer(**{"transactional.id": tid, "linger.ms": 2, **conf})
    p.init_transactions(60)
    return p


def read(t, topic: str, isolation: str, partitions: int = 1) -> list:
    """(partition, offset, value) of every record up to the end (read_committed: up to the LSO)."""
    c = t.consumer(**{"isolation.level": isolation, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    return sorted((m.partition(), m.offset(), m.value().decode()) for m in read_to_end(c, partitions))


def list_offsets(t, topic: str, isolation: int, timestamp: int = -1) -> list:
    r = t.call("ListOffsets", 7, replica_id=-1, isolation_level=isolation,
               topics=[{"name": topic, "partitions": [{"partition_index": 0, "timestamp": timestamp,
                                                       "current_leader_epoch": -1}]}])
    p = r["topics"][0]["partitions"][0]
    return [error_name(p["error_code"]), p["offset"]]


def test_commit_abort_visibility(both):
    """Commit, abort (records sent before the abort), commit: read_committed sees the committed records at
    their offsets, read_uncommitted every data record; the markers take an offset each; ListOffsets latest
    is the same for both isolation levels once nothing is open."""
    def scenario(t):
        topic = t.topic("vis", partitions=2)
        p = txn_producer(t, t.name("vis-txn"))
        for i, commit in enumerate([True, False, True]):
            p.begin_transaction()
            for q in range(2):
                p.produce(topic, value=f"t{i}-p{q}".encode(), partition=q)
            assert p.flush(30) == 0
            (p.commit_transaction if commit else p.abort_transaction)(60)
        return {"read_committed": read(t, topic, "read_committed", 2),
                "read_uncommitted": read(t, topic, "read_uncommitted", 2),
                "latest_committed": list_offsets(t, topic, 1),
                "latest_uncommitted": list_offsets(t, topic, 0)}
    both.compare(scenario)


def test_open_transaction_holds_the_lso(both):
    """An open transaction holds the last stable offset at its first offset: ListOffsets(read_committed)
    latest and a read_committed Fetch stop there, read_uncommitted does not; after the abort a
    read_committed Fetch lists the aborted transaction."""
    def scenario(t):
        topic = t.topic("lso")
        plain = t.producer()
        plain.produce(topic, value=b"before", partition=0)
        assert plain.flush(30) == 0
        p = txn_producer(t, t.name("lso-txn"))
        p.begin_transaction()
        p.produce(topic, value=b"open-1", partition=0)
        p.produce(topic, value=b"open-2", partition=0)
        assert p.flush(30) == 0
        plain.produce(topic, value=b"after", partition=0)
        assert plain.flush(30) == 0
        out = {"open": {"latest_committed": list_offsets(t, topic, 1),
                        "latest_uncommitted": list_offsets(t, topic, 0),
                        "fetch_committed": fetch(t, topic, 1),
                        "fetch_uncommitted": fetch(t, topic, 0)}}
        p.abort_transaction(60)
        # Kafka writes the markers after answering EndTxn; wait until they are in
        deadline = time.monotonic() + 30
        while list_offsets(t, topic, 1)[1] != 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        out["aborted"] = {"latest_committed": list_offsets(t, topic, 1),
                          "fetch_committed": fetch(t, topic, 1),
                          "fetch_uncommitted": fetch(t, topic, 0)}
        return out
    both.compare(scenario)


def fetch(t, topic: str, isolation: int) -> dict:
    """A raw Fetch v11 from offset 0: watermarks, aborted transactions (first offsets) and how many
    bytes came back (zero or not)."""
    r = t.call("Fetch", 11, replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20,
               isolation_level=isolation, session_id=0, session_epoch=-1, rack_id="",
               topics=[{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                        "fetch_offset": 0, "log_start_offset": -1,
                                                        "partition_max_bytes": 1 << 20}]}],
               forgotten_topics_data=[])
    p = r["responses"][0]["partitions"][0]
    aborted = p.get("aborted_transactions")
    return {"error": error_name(p["error_code"]), "high_watermark": p["high_watermark"],
            "last_stable_offset": p["last_stable_offset"],
            "aborted_first_offsets": None if aborted is None else [a["first_offset"] for a in aborted],
            "has_records": bool(p.get("records"))}


def init_pid(t, tid: str, version: int = 4) -> tuple[int, int]:
    settled(t, "FindCoordinator", 4, code_of=lambda r: r["coordinators"][0]["error_code"], key_type=1,
            coordinator_keys=[tid])
    r = settled(t, "InitProducerId", version, transactional_id=tid, transaction_timeout_ms=60000,
                producer_id=-1, producer_epoch=-1)
    assert r["error_code"] == 0, r
    return r["producer_id"], r["producer_epoch"]


def test_transaction_api_errors(both):
    """The raw transaction APIs' error codes: EndTxn with nothing open, with a stale epoch (v1: the old
    INVALID_PRODUCER_EPOCH, v3: PRODUCER_FENCED), with another producer id; AddPartitionsToTxn with an
    unknown topic among known ones; AddOffsetsToTxn then TxnOffsetCommit; a retried EndTxn."""
    def scenario(t):
        topic = t.topic("errs")
        tid = t.name("errs-txn")
        pid, epoch = init_pid(t, tid)

        def end(version, commit, producer_id=pid, producer_epoch=epoch):
            r = settled(t, "EndTxn", version, transactional_id=tid, producer_id=producer_id,
                        producer_epoch=producer_epoch, committed=commit)
            return error_name(r["error_code"])

        def add(topics):
            r = settled(t, "AddPartitionsToTxn", 3,
                        code_of=lambda r: max((p["partition_error_code"] for tr in r["results_by_topic_v3_and_below"]
                                               for p in tr["results_by_partition"]), default=0),
                        v3_and_below_transactional_id=tid, v3_and_below_producer_id=pid,
                        v3_and_below_producer_epoch=epoch,
                        v3_and_below_topics=[{"name": n, "partitions": ps} for n, ps in topics])
            return sorted((tr["name"], p["partition_index"], error_name(p["partition_error_code"]))
                          for tr in r["results_by_topic_v3_and_below"] for p in tr["results_by_partition"])

        out = {"end_nothing_open": [end(3, True), end(3, False)],
               "end_stale_epoch": [end(1, False, producer_epoch=epoch - 1 if epoch > 0 else 5),
                                   end(3, False, producer_epoch=epoch + 7)],
               "end_other_pid": end(3, False, producer_id=pid + 1000),
               "add_with_unknown_topic": add([(topic, [0]), (t.name("no-such-topic"), [0])]),
               "add": add([(topic, [0])])}
        group = t.name("errs-group")
        r = settled(t, "AddOffsetsToTxn", 3, transactional_id=tid, producer_id=pid, producer_epoch=epoch,
                    group_id=group)
        out["add_offsets"] = error_name(r["error_code"])
        r = t.call("TxnOffsetCommit", 3, transactional_id=tid, group_id=group, producer_id=pid,
                   producer_epoch=epoch, generation_id=-1, member_id="", group_instance_id=None,
                   topics=[{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 0,
                                                           "committed_leader_epoch": -1,
                                                           "committed_metadata": "m"}]}])
        out["txn_offset_commit"] = [error_name(p["error_code"]) for tp in r["topics"] for p in tp["partitions"]]
        out["commit"] = end(3, True)
        out["commit_retried"] = end(3, True)
        out["abort_after_commit"] = end(3, False)
        return out
    both.compare(scenario)


def test_list_and_describe_transactions(both):
    """ListTransactions v2 with a transactional-id pattern, a state filter and an unknown state; the
    duration filter; DescribeTransactions of an ongoing, a completed and an unknown id."""
    def scenario(t):
        topic = t.topic("list", partitions=2)
        ids = [t.name("orders-1"), t.name("orders-2"), t.name("payments-1")]
        producers = {tid: txn_producer(t, tid) for tid in ids}
        ongoing = producers[ids[0]]
        ongoing.begin_transaction()
        ongoing.produce(topic, value=b"x", partition=1)
        assert ongoing.flush(30) == 0
        done = producers[ids[2]]
        done.begin_transaction()
        done.produce(topic, value=b"y", partition=0)
        done.commit_transaction(60)
        prefix = t.name("")

        def listed(**filters):
            r = t.call("ListTransactions", 2, state_filters=filters.get("states", []), producer_id_filters=[],
                       duration_filter=filters.get("duration", -1),
                       transactional_id_pattern=filters.get("pattern"))
            return {"error": error_name(r["error_code"]),
                    "unknown_states": r["unknown_state_filters"],
                    "ids": sorted((s["transactional_id"], s["transaction_state"]) for s in r["transaction_states"]
                                  if s["transactional_id"].startswith(prefix))}

        out = {"orders": listed(pattern=f"{prefix}orders-.*"),
               "ongoing": listed(states=["Ongoing", "Bogus"]),
               "all_ours": listed(pattern=f"{prefix}.*"),
               "long_running": listed(pattern=f"{prefix}.*", duration=3_600_000)}
        r = t.call("DescribeTransactions", 0, transactional_ids=[ids[0], ids[2], t.name("nobody")])
        out["describe"] = [{"id": s["transactional_id"], "error": error_name(s["error_code"]),
                            "state": s["transaction_state"], "timeout": s["transaction_timeout_ms"],
                            "started": s["transaction_start_time_ms"] > 0,
                            "topics": sorted((tp["topic"], sorted(tp["partitions"])) for tp in s["topics"])}
                           for s in r["transaction_states"]]
        ongoing.abort_transaction(60)
        return out
    both.compare(scenario)


def test_kafka_transactions_tool(both):
    """kafka-transactions.sh: list with --transactional-id-pattern, describe, describe-producers, and
    find-hanging on a partition with an open transaction."""
    def scenario(t):
        topic = t.topic("tool")
        tids = [t.name("orders-a"), t.name("orders-b"), t.name("other")]
        ps = {tid: txn_producer(t, tid) for tid in tids}
        for tid, p in ps.items():
            p.begin_transaction()
            p.produce(topic, value=tid.encode(), partition=0)
            assert p.flush(30) == 0
            if tid != tids[0]:
                p.commit_transaction(60)
        prefix = t.name("")
        rc, lines, _ = tool(t, "kafka-transactions", "list", "--transactional-id-pattern", f"{prefix}orders-.*")
        rows = sorted(" ".join(ln.split()[0:1] + ln.split()[3:4]) for ln in lines[1:])
        out = {"list": [rc, lines[0].split() if lines else None, rows]}
        rc, lines, _ = tool(t, "kafka-transactions", "describe", "--transactional-id", tids[0])
        cols = lines[1].split("\t") if len(lines) > 1 else []
        header = lines[0].split("\t") if lines else []
        row = dict(zip(header, cols))
        out["describe"] = [rc, header, {k: row.get(k) for k in ("TransactionalId", "TransactionState",
                                                                  "TransactionTimeoutMs", "TopicPartitions")}]
        rc, lines, _ = tool(t, "kafka-transactions", "describe-producers", "--topic", topic, "--partition", "0")
        out["describe_producers"] = [rc, lines[0].split("\t") if lines else None, len(lines) - 1]
        rc, lines, _ = tool(t, "kafka-transactions", "find-hanging", "--topic", topic, "--partition", "0",
                            "--max-transaction-timeout", "1")
        out["find_hanging"] = [rc, lines[0].split() if lines else None, len(lines) - 1]
        # an admin closes the open transaction with a marker (WriteTxnMarkers to the partition's leader)
        rc, lines, errs = tool(t, "kafka-transactions", "abort", "--topic", topic, "--partition", "0",
                               "--start-offset", "0")
        out["abort"] = [rc, lines, [e for e in errs if "Exception" in e][:1]]
        # values only: Kafka writes orders-b's commit marker after answering EndTxn, so the offset of the
        # next producer's record depends on timing there
        out["after_abort"] = [v for _, _, v in read(t, topic, "read_committed")]
        ps[tids[0]].abort_transaction(60)
        return out
    both.compare(scenario)


def test_read_committed_share_group(both_newest):
    """A share group with share.isolation.level=read_committed (Kafka 4.4): an aborted transaction's
    records are never delivered, a plain record and a committed transaction's are, once each; a record of
    a transaction still open is held back until the commit, then delivered."""
    from conformance.test_share import share_consumer
    from helpers import set_group_configs
    both = both_newest

    def scenario(t):
        topic = t.topic("rc-queue")
        group = t.name("rc-queue-group")
        set_group_configs(t.bootstrap, group, share_auto_offset_reset="earliest",
                          share_isolation_level="read_committed")
        # The plain record first: Kafka writes a transaction's markers after EndTxn answers, so a plain
        # record sent after an abort may land before or after its marker (Sluice: always after).
        plain = t.producer()
        plain.produce(topic, value=b"plain", partition=0)
        plain.flush(30)
        p = txn_producer(t, t.name("rc-queue-txn"))
        p.begin_transaction()
        for i in range(3):
            p.produce(topic, value=f"aborted-{i}".encode(), partition=0)
        p.flush(30)
        p.abort_transaction(30)
        p.begin_transaction()
        for i in range(2):
            p.produce(topic, value=f"committed-{i}".encode(), partition=0)
        p.commit_transaction(30)
        p.begin_transaction()
        p.produce(topic, value=b"open", partition=0)
        p.flush(30)

        c = share_consumer(t, group, topic)
        got = []

        def poll_for(n: int, seconds: float):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and len(got) < n:
                got.extend((m.offset(), m.value().decode(), m.delivery_count())
                           for m in (c.poll(1.0) or []) if m is not None and m.error() is None)
        try:
            poll_for(3, 60)
            poll_for(4, 4)  # the open transaction's record must not come
            before_commit = sorted(got)
            p.commit_transaction(30)
            poll_for(4, 60)
        finally:
            c.close()
        return {"before_commit": before_commit, "after_commit": sorted(got)}
    both.compare(scenario)


def test_transactional_produce_outside_the_transaction_by_version(both_newest):
    both = both_newest
    """A transactional batch to a partition its transaction never added, at each Produce version: refused
    with the code that version's clients understand (KIP-890 verification, KIP-1050's abortable class:
    TRANSACTION_ABORTABLE from v11), or added implicitly from v12 (transaction version 2). Kafka 4.4 is the
    reference: 4.1.2 answers NOT_LEADER_OR_FOLLOWER to every version before 12."""
    import kafkawire as kw

    def scenario(t):
        topic = t.topic("outside-txn")
        # Kafka creates its transaction state topic when a client looks for the coordinator.
        settled(t, "FindCoordinator", 4, code_of=lambda r: r["coordinators"][0]["error_code"], key_type=1,
                coordinator_keys=[t.name("outside-txn-id")])
        init = settled(t, "InitProducerId", 4, transactional_id=t.name("outside-txn-id"),
                       transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1)
        pid, epoch = init["producer_id"], init["producer_epoch"]
        out = {"init": error_name(init["error_code"])}
        for version in (3, 8, 9, 10, 11, 12):
            batch = kw.encode_batch([kw.Record(key=None, value=b"x")], BASE_TS,
                                    producer_id=pid, producer_epoch=epoch, base_sequence=0,
                                    attributes=0x10)
            r = t.call("Produce", version, transactional_id=t.name("outside-txn-id"), acks=-1,
                       timeout_ms=30000, topic_data=[{"name": topic, "partition_data": [
                           {"index": 0, "records": batch}]}])
            p = r["responses"][0]["partition_responses"][0]
            out[f"v{version}"] = [error_name(p["error_code"]), p["base_offset"]]
        return out
    both.compare(scenario)


def test_txn_offset_commit_outside_the_transaction_by_version(both_newest):
    """TxnOffsetCommit for a group the transaction never added (no AddOffsetsToTxn), at each version."""
    both = both_newest

    def scenario(t):
        topic = t.topic("outside-offsets")
        tid, group = t.name("outside-offsets-id"), t.name("outside-offsets-group")
        pid, epoch = init_pid(t, tid)
        settled(t, "FindCoordinator", 4, code_of=lambda r: r["coordinators"][0]["error_code"], key_type=0,
                coordinator_keys=[group])
        out = {}
        for version in (0, 2, 3, 4, 5):
            fields = dict(transactional_id=tid, group_id=group, producer_id=pid, producer_epoch=epoch,
                          topics=[{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 1,
                                                                  "committed_metadata": ""}]}])
            if version >= 3:
                fields.update(generation_id=-1, member_id="", group_instance_id=None)
            r = settled(t, "TxnOffsetCommit", version,
                        code_of=lambda r: r["topics"][0]["partitions"][0]["error_code"], **fields)
            out[f"v{version}"] = error_name(r["topics"][0]["partitions"][0]["error_code"])
        return out
    both.compare(scenario)


def test_add_partitions_verify_only(both_newest):
    """AddPartitionsToTxn v4 in its broker form with verify_only (KIP-890's verification): a partition the
    transaction holds is NONE, one it does not TRANSACTION_ABORTABLE (KIP-1050); a wrong epoch is
    PRODUCER_FENCED, an unknown transactional id INVALID_PRODUCER_ID_MAPPING."""
    both = both_newest

    def scenario(t):
        topic = t.topic("verify", partitions=2)
        tid = t.name("verify-txn")
        pid, epoch = init_pid(t, tid)
        added = settled(t, "AddPartitionsToTxn", 3, code_of=lambda r: r["results_by_topic_v3_and_below"][0][
            "results_by_partition"][0]["partition_error_code"], v3_and_below_transactional_id=tid,
            v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
            v3_and_below_topics=[{"name": topic, "partitions": [0]}])

        def verify(txn_id, producer_epoch):
            r = t.call("AddPartitionsToTxn", 4, transactions=[{
                "transactional_id": txn_id, "producer_id": pid, "producer_epoch": producer_epoch,
                "verify_only": True, "topics": [{"name": topic, "partitions": [0, 1]}]}])
            res = r["results_by_transaction"][0]
            return sorted((p["partition_index"], error_name(p["partition_error_code"]))
                          for tr in res["topic_results"] for p in tr["results_by_partition"])
        return {"added": error_name(added["results_by_topic_v3_and_below"][0]["results_by_partition"][0][
                    "partition_error_code"]),
                "verify": verify(tid, epoch), "stale_epoch": verify(tid, epoch - 1 if epoch > 0 else epoch + 1),
                "unknown_id": verify(t.name("never-initialized"), epoch)}
    both.compare(scenario)
