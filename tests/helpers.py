"""Client-side helpers shared by the tests (confluent-kafka)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

# Explicit CreateTime for records whose timestamps a test compares (the same on both brokers of a
# conformance scenario, unlike client clocks): the whole hour an hour before this process started. It
# must be recent: under the default retention.ms (7 days) both Kafka (every 5 min) and Sluice (every
# minute) delete older records at their next retention check, and a fixed 2023 stamp let that sweep
# drop a share test's records between produce and fetch on one broker but not the other.
BASE_TS = (int(time.time()) // 3600 - 1) * 3_600_000

QUIET = {"log_level": 2}  # librdkafka: critical only (connection chatter from clients of stopped servers is noise)


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **QUIET})


def create_topic(bootstrap: str, name: str, partitions: int, config: dict | None = None):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=30, request_timeout=30)
    fs[name].result(timeout=30)

    def visible():
        t = a.list_topics(topic=name, timeout=10).topics.get(name)
        return t is not None and t.error is None and len(t.partitions) == partitions
    wait_until(f"topic {name} with {partitions} partitions in Metadata", visible, timeout=30, every=0.1)


def alter_topic_configs(bootstrap: str, topic: str, configs: dict):
    """IncrementalAlterConfigs SET of each {name: value} on a topic."""
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    a = admin(bootstrap)  # kept alive until the result arrives
    a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=30)


def delete_topic(bootstrap: str, name: str):
    """DeleteTopics, then wait until Metadata no longer shows the topic."""
    a = admin(bootstrap)
    a.delete_topics([name], operation_timeout=30)[name].result(timeout=30)
    wait_until(f"topic {name} to leave Metadata after its deletion",
               lambda: name not in a.list_topics(timeout=10).topics, timeout=30, every=0.1)


def producer(bootstrap: str, **conf) -> Producer:
    base = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 120000, **QUIET}
    base.update(conf)
    return Producer(base)


def consumer(bootstrap: str, **conf) -> Consumer:
    base = {"bootstrap.servers": bootstrap, "group.id": "sluice-tests-unused",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "error", "enable.partition.eof": False, **QUIET}
    base.update(conf)
    return Consumer(base)


class DeliveryLog:
    """Delivery callback that records (partition, offset, error, timestamp) by message index."""

    def __init__(self):
        self.results = {}

    def cb(self, idx):
        def _cb(err, msg):
            self.results[idx] = (err, msg.partition(), msg.offset(), msg.timestamp())
        return _cb

    def errors(self):
        return {i: r[0] for i, r in self.results.items() if r[0] is not None}


def produce_all(p: Producer, records, log: DeliveryLog, flush_timeout=180):
    """records: iterable of (idx, topic, partition, key, value, headers, timestamp_or_None)."""
    for idx, topic, part, key, value, headers, ts in records:
        kw = {}
        if ts is not None:
            kw["timestamp"] = ts
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=part, headers=headers,
                          on_delivery=log.cb(idx), **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(flush_timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after flush({flush_timeout})"


def consume_exact(bootstrap: str, topic: str, expected_counts: dict, timeout=180, start_offsets=None,
                  **conf) -> dict:
    """Assign every partition in expected_counts from offset 0 (or start_offsets[p]) and
    read until exactly expected_counts[p] messages per partition arrived; then check a
    short extra poll brings nothing more. Returns {partition: [Message, ...]}."""
    c = consumer(bootstrap, **conf)
    start_offsets = start_offsets or {}
    try:
        c.assign([TopicPartition(topic, p, start_offsets.get(p, 0)) for p in expected_counts])
        got = {p: [] for p in expected_counts}
        total = sum(expected_counts.values())
        n = 0
        deadline = time.monotonic() + timeout
        while n < total:
            if time.monotonic() > deadline:
                counts = {p: len(v) for p, v in got.items()}
                raise AssertionError(f"timed out consuming {topic}: got {counts}, expected {expected_counts}")
            for m in c.consume(num_messages=10000, timeout=1.0):
                if m.error():
                    raise AssertionError(f"consumer error: {m.error()}")
                got[m.partition()].append(m)
                n += 1
        # anything beyond the expected count is a duplicate or a phantom
        extra = [m for m in c.consume(num_messages=1000, timeout=1.0)]
        assert not extra, (f"{len(extra)} unexpected extra messages, first: partition {extra[0].partition()} "
                           f"offset {extra[0].offset()} error {extra[0].error()}")
        return got
    finally:
        c.close()


def read_to_end(c: Consumer, partitions: int, timeout: float = 60) -> list:
    """Every message an assigned consumer (with enable.partition.eof) gets until all `partitions` are at
    their end (read_committed: the last stable offset), in arrival order. Closes the consumer."""
    got, eof, deadline = [], set(), time.monotonic() + timeout
    try:
        while len(eof) < partitions:
            assert time.monotonic() < deadline, f"timed out reading to the end: eof on {sorted(eof)}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise AssertionError(f"consumer error: {m.error()}")
                eof.discard(m.partition())
                got.append(m)
        return got
    finally:
        c.close()


def wait_until(what: str, cond, timeout: float = 60.0, every: float = 0.2, context=None):
    """Returns once `cond()` is true; fails after `timeout` seconds naming `what`, followed by
    `context()` (e.g. the tail of a process's log, or the last state seen) when given."""
    poll_until(what, lambda: True if cond() else None, timeout, every, context)


def poll_until(what: str, step, timeout: float = 60.0, every: float = 0.2, context=None):
    """Calls `step()` every `every` seconds until it returns something other than None, and returns
    that; fails as wait_until does after `timeout` seconds. `step` may poll a client itself (then
    every=0) and may raise to fail at once."""
    deadline = time.monotonic() + timeout
    while (got := step()) is None:
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f"\n{context()}" if context else ""))
        time.sleep(every)
    return got


def wait_for_line(proc, text: str, timeout: float = 60.0) -> str:
    """Waits until a conftest SluiceProcess's stderr holds `text`; returns the first line holding it.
    Fails at once if the process exits first."""
    def line():
        found = next((ln for ln in proc.stderr_text().splitlines() if text in ln), None)
        assert found is not None or proc.alive(), f"{proc.name} exited before printing {text!r}"
        return found
    return poll_until(f"{proc.name} to print {text!r}", line, timeout, every=0.1)


def describe_topic_configs(bootstrap: str, topic: str) -> dict:
    """DescribeConfigs of one topic: {name: ConfigEntry}."""
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bootstrap)  # kept alive until the result arrives
    return a.describe_configs([res], request_timeout=30)[res].result(timeout=30)


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30, cached=False)
    finally:
        c.close()


def sasl_client_conf(port: int, user: str, password: str, mechanism: str = "SCRAM-SHA-256",
                     protocol: str = "SASL_PLAINTEXT", **extra) -> dict:
    """Client settings for a SASL listener on 127.0.0.1:port (add ssl.ca.location for SASL_SSL)."""
    return {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": protocol,
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password, **extra}


def upsert_scram_users(bootstrap: str, users: dict, mechanism=None, iterations: int = 4096):
    """AlterUserScramCredentials: one credential (SCRAM-SHA-256 unless told) per user -> password."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
    mech = mechanism or ScramMechanism.SCRAM_SHA_256
    ups = [UserScramCredentialUpsertion(u, ScramCredentialInfo(mech, iterations), pw.encode())
           for u, pw in users.items()]
    a = admin(bootstrap)  # keep the client alive until the futures resolve
    for f in a.alter_user_scram_credentials(ups).values():
        f.result(timeout=30)


def err_code(e) -> int:
    """KafkaException / KafkaError -> code."""
    if isinstance(e, KafkaError):
        return e.code()
    return e.args[0].code()


def set_group_configs(bootstrap: str, group: str, **configs):
    """IncrementalAlterConfigs SET on a GROUP resource; keyword names use _ for . (share_auto_offset_reset)."""
    entries = [ConfigEntry(k.replace("_", "."), str(v), incremental_operation=AlterConfigOpType.SET)
               for k, v in configs.items()]
    a = admin(bootstrap)  # keep the client alive until the futures resolve
    fs = a.incremental_alter_configs([ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)])
    for f in fs.values():
        f.result(timeout=30)


def scrape_metrics(url: str) -> dict:
    """GETs a Prometheus text page; returns {(name, ((label, value), ...)): float}, labels sorted."""
    import re
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def histogram_buckets(metrics: dict, name: str) -> list[tuple[float, float]]:
    """[(upper bound, cumulative count)] of histogram `name` (no other labels), +Inf last."""
    buckets = [(float(dict(labels)["le"]), v) for (n, labels), v in metrics.items() if n == f"{name}_bucket"]
    return sorted(buckets)


def histogram_quantile(buckets_before, buckets_after, q: float) -> float | None:
    """The q-quantile of what a histogram recorded between two scrapes (linear within a bucket,
    as Prometheus' histogram_quantile); None if nothing was recorded."""
    before = dict(buckets_before)
    delta = [(le, n - before.get(le, 0.0)) for le, n in buckets_after]
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, n in delta:
        if n >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * ((rank - below) / (n - below) if n > below else 1.0)
        lower, below = le, n
    return lower
