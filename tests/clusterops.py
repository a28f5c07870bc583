"""Helpers for multi-node tests: the meta nodes' HTTP API, admin endpoints, and a
continuous idempotent producer that records every acknowledgement."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import sluice_bin


def http_json(url: str, body=None, timeout: float = 5.0):
    """GET (body None) or POST JSON; returns the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def membership(node) -> dict:
    return http_json(f"{node.url}/api/membership")


def wait_leader(nodes, timeout: float = 30.0, exclude=()) -> int:
    """Waits until every live node in `nodes` names the same leader (not in exclude); returns its id."""
    from helpers import poll_until
    seen = None

    def agreed():
        nonlocal seen
        seen = set()
        for n in nodes:
            if not n.alive():
                continue
            try:
                leader = membership(n).get("leader")
            except (OSError, urllib.error.URLError):
                leader = None
            seen.add(leader["id"] if leader else None)
        if len(seen) == 1 and None not in seen and not seen & set(exclude):
            return next(iter(seen))
        return None
    return poll_until("an agreed leader", agreed, timeout, every=0.1, context=lambda: f"leaders seen: {seen}")


def meta_admin(*args: str, timeout: float = 150.0) -> dict:
    """Runs `sluice meta <args>` (an admin subcommand) and returns its JSON output."""
    out = subprocess.run([sluice_bin(), "meta", *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"sluice meta {' '.join(args)} failed: {out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


class ContinuousProducer:
    """Produces numbered records to `topic` from a background thread through an idempotent
    confluent-kafka producer until stopped; records every acknowledgement and every error."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, tag: str, rate: float = 400.0, **conf):
        from helpers import producer
        self.topic = topic
        self.partitions = partitions
        self.tag = tag
        self.rate = rate
        # PDEBUG=eos (or any librdkafka debug contexts) logs the producers' idempotence decisions.
        self.p = producer(bootstrap, **{"enable.idempotence": True, "acks": "all",
                                        "message.timeout.ms": 300000, "linger.ms": 5, **({"debug": os.environ["PDEBUG"]} if os.environ.get("PDEBUG") else {}), **conf})
        self.acked: dict[str, tuple[int, int]] = {}  # value -> (partition, offset)
        self.failed: dict[str, str] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cb(self, err, msg):
        v = msg.value().decode()
        if err is not None:
            self.failed[v] = str(err)
        else:
            self.acked[v] = (msg.partition(), msg.offset())

    def _run(self):
        i = 0
        period = 1.0 / self.rate
        while not self._stop.is_set():
            value = f"{self.tag}-{i}"
            try:
                self.p.produce(self.topic, value=value.encode(), partition=i % self.partitions,
                               on_delivery=self._cb)
                i += 1
                self.sent = i
            except BufferError:
                pass
            self.p.poll(period)

    def start(self):
        self._thread.start()
        return self

    def stop(self, flush_timeout: float = 120.0):
        self._stop.set()
        self._thread.join()
        left = self.p.flush(flush_timeout)
        assert left == 0, f"{left} records of {self.tag} never acknowledged nor failed"

    def acked_count(self) -> int:
        return len(self.acked)

    def offsetless(self) -> int:
        """Acknowledged records whose offset the client was not told (inferred-persisted retries)."""
        return sum(1 for _, o in self.acked.values() if o is None or o < 0)

    def wait_acked(self, more: int, timeout: float = 60.0):
        """Waits until `more` further records are acknowledged (proves produce works now)."""
        from helpers import wait_until
        target = len(self.acked) + more
        wait_until(f"{self.tag}: {target} records acked", lambda: len(self.acked) >= target, timeout, every=0.05,
                   context=lambda: f"only {len(self.acked)}/{target} acked; errors: {list(self.failed.items())[:3]}")


def verify_exactly_once(bootstraps, topic: str, partitions: int, producers, timeout: float = 120.0) -> dict:
    """Reads every partition from offset 0 up to its high watermark through each bootstrap and checks:
    offsets are dense from 0, no value appears twice, every acknowledged value is at the offset its
    acknowledgement named. Returns {partition: high watermark}."""
    from confluent_kafka import TopicPartition
    from helpers import consumer
    acked = {}
    for pr in producers:
        acked.update(pr.acked)
    first_hw = None
    for bs in bootstraps:
        c = consumer(bs)
        try:
            hws = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1]
                   for p in range(partitions)}
            if first_hw is None:
                first_hw = hws
            assert hws == first_hw, f"high watermarks differ between agents: {first_hw} vs {hws} ({bs})"
            c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
            got = {p: [] for p in range(partitions)}
            need = sum(hws.values())
            n = 0
            deadline = time.monotonic() + timeout
            while n < need:
                assert time.monotonic() < deadline, f"{bs}: read {n}/{need} before timing out"
                for m in c.consume(num_messages=10000, timeout=1.0):
                    assert not m.error(), f"{bs}: consumer error {m.error()}"
                    got[m.partition()].append((m.offset(), m.value().decode()))
                    n += 1
            for p in range(partitions):
                offsets = [o for o, _ in got[p]]
                assert offsets == list(range(hws[p])), f"{bs}: partition {p} offsets not dense: " \
                    f"first gap near {next((i for i, o in enumerate(offsets) if o != i), None)}"
            where = {}
            for p in range(partitions):
                for o, v in got[p]:
                    assert v not in where, f"{bs}: {v} duplicated at {where[v]} and {(p, o)}"
                    where[v] = (p, o)
            missing = [v for v in acked if v not in where]
            assert not missing, f"{bs}: {len(missing)} acknowledged records missing, e.g. {missing[:5]}"
            # librdkafka reports no offset for a retried batch it infers was persisted (a later
            # batch of the same producer succeeded); those need only be present exactly once.
            moved = [(v, acked[v], where[v]) for v in acked
                     if acked[v][1] is not None and acked[v][1] >= 0 and where[v] != acked[v]]
            assert not moved, f"{bs}: records not at their acknowledged offsets, e.g. {moved[:5]}"
        finally:
            c.close()
    return first_hw
