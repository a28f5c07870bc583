"""Storage lifecycle against Apache Kafka: DeleteRecords (AdminClient and the raw API), and what the log
start offset it moves means to ListOffsets(earliest), Fetch below the start and consumers resetting to
the earliest offset."""

from __future__ import annotations

from confluent_kafka import KafkaException, OFFSET_END, TopicPartition
from confluent_kafka.admin import OffsetSpec


def _produce(t, topic: str, partitions: int, per_partition: int, batches: int = 2):
    """`per_partition` records to each partition, in `batches` flushes (so several batches, as a log)."""
    p = t.producer()
    for b in range(batches):
        for part in range(partitions):
            for i in range(per_partition // batches):
                p.produce(topic, key=f"k{i}".encode(), value=f"v{b}-{i}".encode(), partition=part)
        assert p.flush(30) == 0


def _delete(t, tp: TopicPartition):
    """AdminClient.delete_records of one partition: its new low watermark, or the error's name."""
    f = t.admin().delete_records([tp], request_timeout=30)
    try:
        return f[tp].result(timeout=30).low_watermark
    except KafkaException as e:
        return e.args[0].name()


def _fetch_error(t, topic: str, partition: int, offset: int):
    r = t.call("Fetch", 12, replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=0,
               session_id=0, session_epoch=-1,
               topics=[{"topic": topic, "partitions": [{
                   "partition": partition, "current_leader_epoch": -1, "fetch_offset": offset,
                   "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}],
               forgotten_topics_data=[], rack_id="")
    p = r["responses"][0]["partitions"][0]
    return [t.err(p["error_code"]), p["log_start_offset"], p["high_watermark"]]


def test_delete_records(both):
    """delete_records moves the log start: inside a batch, to the end (-1), below the start (no move),
    past the end (OFFSET_OUT_OF_RANGE), on an unknown partition, on a compact-only topic
    (POLICY_VIOLATION); then ListOffsets earliest, watermarks, Fetch below the start and an
    `auto.offset.reset=earliest` consumer all agree on it."""
    def scenario(t):
        topic = t.topic("dr", partitions=2)
        compacted = t.topic("dr-compact", config={"cleanup.policy": "compact"})
        _produce(t, topic, 2, 10)
        out = {
            "inside": _delete(t, TopicPartition(topic, 0, 3)),
            "again_lower": _delete(t, TopicPartition(topic, 0, 1)),
            "to_end": _delete(t, TopicPartition(topic, 1, OFFSET_END)),
            "past_end": _delete(t, TopicPartition(topic, 0, 11)),
            "unknown_partition": _delete(t, TopicPartition(topic, 7, 0)),
            "compacted": _delete(t, TopicPartition(compacted, 0, 0)),
        }
        a = t.admin()
        for part in (0, 1):
            tp = TopicPartition(topic, part)
            out[f"earliest_{part}"] = a.list_offsets({tp: OffsetSpec.earliest()},
                                                     request_timeout=30)[tp].result(timeout=30).offset
            out[f"latest_{part}"] = a.list_offsets({tp: OffsetSpec.latest()},
                                                   request_timeout=30)[tp].result(timeout=30).offset
        out["fetch_below_start"] = _fetch_error(t, topic, 0, 1)
        out["fetch_at_start"] = _fetch_error(t, topic, 0, 3)
        c = t.consumer(**{"group.id": t.name("dr-reset"), "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = []
        while len(got) < 7:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                got.append((m.partition(), m.offset()))
        c.close()
        out["consumed"] = sorted(got)
        # an assignment below the start is reset to it (auto.offset.reset=earliest)
        c = t.consumer()
        c.assign([TopicPartition(topic, 0, 1)])
        first = None
        while first is None:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                first = m.offset()
        c.close()
        out["assigned_below_start_first"] = first
        return out
    both.compare(scenario)


def test_delete_records_raw(both):
    """The DeleteRecords API itself (v2): per-partition errors and low watermarks for a request naming
    partitions of two topics, unknown ones among them (sorted: Kafka answers in its maps' order)."""
    def scenario(t):
        topic = t.topic("drraw", partitions=2)
        _produce(t, topic, 2, 4)
        r = t.call("DeleteRecords", 2, timeout_ms=30000, topics=[
            {"name": topic, "partitions": [{"partition_index": 1, "offset": 2},
                                           {"partition_index": 0, "offset": -1},
                                           {"partition_index": 5, "offset": 0}]},
            {"name": t.name("nope"), "partitions": [{"partition_index": 0, "offset": 0}]},
        ])
        return sorted([x["name"] == topic, sorted([p["partition_index"], p["low_watermark"], t.err(p["error_code"])]
                                                  for p in x["partitions"])] for x in r["topics"])
    both.compare(scenario)
