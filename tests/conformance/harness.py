"""Scenario comparison: the same scripted interaction against Apache Kafka and against Sluice.

A conformance test is an ordinary pytest test that takes the `both` fixture and hands it a *scenario*: a
function of one `Target` that talks to that broker (confluent-kafka, raw wire requests through
`kafkawire.KafkaConn`, the Java client, Kafka's tools) and returns what a client observes as plain data —
error codes, offsets, timestamps, record contents, group states — never ids, addresses or wall-clock
times that differ from run to run:

    def test_produce_zstd_needs_v7(both):
        def scenario(t):
            topic = t.topic("z")
            with t.conn() as c:
                ...
            return {"error": t.err(code), "base_offset": base}
        both.compare(scenario)

`Both.compare` runs the scenario against the reference Kafka broker, then against Sluice, flattens both
results into `path -> value` pairs (`records[2].key`, `partitions.0.error`) and fails the test on any path
whose values differ, unless `allowlist.toml` (beside this file) lists that scenario and path with the
reason the difference is by design (`CONFORMANCE_DUMP=file.jsonl` appends every scenario's results on both
brokers to that file, to read what each did). The session summary counts scenarios and differences, and names
allow-list entries that no longer match anything (stale entries should go).

Names are per scenario: `t.topic("orders")` in `test_x` is `test_x-orders` on both brokers, so results
that mention names compare equal, and scenarios sharing a broker never see each other's topics or groups.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kafkawire
import wire

ALLOWLIST_PATH = Path(__file__).resolve().parent / "allowlist.toml"
QUIET = {"log_level": 2}
ABSENT = "<absent>"


def error_name(code: int | None) -> str | None:
    """A Kafka error code as `NAME(code)` (names from kafka-python's table), `NONE(0)` for success."""
    if code is None:
        return None
    if code == 0:
        return "NONE(0)"
    try:
        from kafka.errors import for_code

        name = for_code(code).__name__
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).upper()
    except Exception:
        name = "UNKNOWN"
    return f"{name}({code})"


class Target:
    """One broker under test, as a scenario sees it."""

    def __init__(self, kind: str, bootstrap: str, scenario: str, *, extra_client_conf: dict | None = None):
        self.kind = kind  # "kafka" or "sluice"
        self.bootstrap = bootstrap
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)
        self.scenario = scenario
        self.client_conf = dict(extra_client_conf or {})
        self._admin: AdminClient | None = None

    # --- names -------------------------------------------------------------------------------------
    def name(self, base: str) -> str:
        """A topic/group/transactional id unique to this scenario, equal on both brokers."""
        stem = re.sub(r"[^a-zA-Z0-9._-]", "_", self.scenario.removeprefix("test_"))
        return f"{stem}-{base}"[:240]

    def topic(self, base: str, partitions: int = 1, config: dict | None = None, create: bool = True) -> str:
        """Creates topic `name(base)` (unless `create` is false) and waits until Metadata shows all its
        partitions; returns its name."""
        name = self.name(base)
        if create:
            fs = self.admin().create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                                      config=config or {})], request_timeout=30)
            fs[name].result(timeout=30)
            self.wait_for_topic(name, partitions)
        return name

    def wait_for_topic(self, name: str, partitions: int, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.admin().list_topics(topic=name, timeout=10).topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.kind}: topic {name} with {partitions} partitions not in Metadata")

    # --- clients -----------------------------------------------------------------------------------
    def conf(self, **overrides) -> dict:
        return {"bootstrap.servers": self.bootstrap, **QUIET, **self.client_conf, **overrides}

    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.conf())
        return self._admin

    def producer(self, **conf) -> Producer:
        return Producer(self.conf(**{"linger.ms": 5, **conf}))

    def consumer(self, **conf) -> Consumer:
        return Consumer(self.conf(**{"group.id": self.name("unused-group"), "enable.auto.commit": False,
                                     "auto.offset.reset": "earliest", **conf}))

    def conn(self, timeout: float = 30.0) -> kafkawire.KafkaConn:
        """A raw wire connection (tests/kafkawire.py) to this broker."""
        return kafkawire.KafkaConn(self.host, self.port, timeout=timeout)

    def call(self, api: str, version: int, **fields) -> dict:
        """One raw request of any API and version (tests/wire.py) on a fresh connection; the decoded
        response as nested dicts."""
        with self.conn() as c:
            return wire.call(c, api, version, **fields)

    err = staticmethod(error_name)

    def __repr__(self):
        return f"Target({self.kind}, {self.bootstrap})"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists/tuples as `path -> leaf` (`a.b`, `a[3].c`); empty containers are leaves."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, (list, tuple)) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8", "backslashreplace")
        elif isinstance(value, (list, tuple, dict)):
            value = type(value)()
        out[prefix or "."] = value
    return out


@dataclass
class Difference:
    path: str
    kafka: Any
    sluice: Any

    def __str__(self):
        return f"  {self.path}: kafka={self.kafka!r} sluice={self.sluice!r}"


def diff(kafka: Any, sluice: Any) -> list[Difference]:
    a, b = flatten(kafka), flatten(sluice)
    return [Difference(p, a.get(p, ABSENT), b.get(p, ABSENT))
            for p in sorted(set(a) | set(b), key=_path_key) if a.get(p, ABSENT) != b.get(p, ABSENT)]


def _path_key(p: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p)]


@dataclass
class AllowEntry:
    scenario: str
    path: str
    reason: str
    used: int = 0

    def matches(self, scenario: str, path: str) -> bool:
        return glob_match(self.scenario, scenario) and glob_match(self.path, path)


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters; everything else is literal (paths contain `[i]` and `.`)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


@dataclass
class AllowList:
    entries: list[AllowEntry] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path = ALLOWLIST_PATH) -> "AllowList":
        data = tomllib.loads(path.read_text()) if path.exists() else {}
        entries = []
        for e in data.get("allow", []):
            missing = {"scenario", "path", "reason"} - set(e)
            if missing or not e["reason"].strip():
                raise ValueError(f"{path}: allow entry {e} needs scenario, path and a reason")
            entries.append(AllowEntry(e["scenario"], e["path"], e["reason"]))
        return cls(entries)

    def find(self, scenario: str, path: str) -> AllowEntry | None:
        for e in self.entries:
            if e.matches(scenario, path):
                return e
        return None


@dataclass
class Outcome:
    scenario: str
    allowed: list[tuple[Difference, AllowEntry]]
    unexpected: list[Difference]


class Session:
    """What all scenarios of a pytest session found (for the terminal summary)."""

    def __init__(self):
        self.allowlist = AllowList.load()
        self.outcomes: list[Outcome] = []
        # Scenarios that differed (or raised) once and agreed when run again: (scenario, what happened first).
        self.flaky: list[tuple[str, str]] = []

    def summary_lines(self) -> list[str]:
        n = len(self.outcomes)
        allowed = sum(len(o.allowed) for o in self.outcomes)
        unexpected = [o for o in self.outcomes if o.unexpected]
        lines = [f"conformance: {n} scenarios compared with Apache Kafka; {n - len(unexpected)} agree "
                 f"(allowing {allowed} listed differences), {len(unexpected)} differ"]
        for o in unexpected:
            lines.append(f"  {o.scenario}: {len(o.unexpected)} unexpected difference(s)")
        for scenario, first in self.flaky:
            lines.append(f"  flaky: {scenario} agreed only when run again; first run: {first[:500]}")
        ran = {o.scenario for o in self.outcomes}
        for e in self.allowlist.entries:
            if not e.used and any(glob_match(e.scenario, s) for s in ran):
                lines.append(f"  stale allow-list entry (matched nothing): {e.scenario} {e.path}")
        return lines


class Both:
    """The `both` fixture: runs scenarios against the reference Kafka and Sluice and compares."""

    def __init__(self, scenario: str, kafka_bootstrap: str, sluice_bootstrap: str, session: Session,
                 client_conf: dict | None = None, sluice_log: Callable[[], str] | None = None):
        self.scenario = scenario
        self.kafka = Target("kafka", kafka_bootstrap, scenario, extra_client_conf=client_conf)
        self.sluice = Target("sluice", sluice_bootstrap, scenario, extra_client_conf=client_conf)
        self.session = session
        self.sluice_log = sluice_log

    def run(self, fn: Callable[[Target], Any]) -> dict[str, Any]:
        """Runs `fn` against both brokers (Kafka first) and returns {"kafka": ..., "sluice": ...}."""
        results = {}
        for t in (self.kafka, self.sluice):
            try:
                results[t.kind] = json.loads(json.dumps(fn(t), default=_jsonable))
            except AssertionError as e:
                raise AssertionError(f"scenario {self.scenario} on {t.kind}: {e}") from e
        return results

    def compare(self, fn: Callable[[Target], Any]) -> dict[str, Any]:
        """Runs `fn` on both brokers and fails on any difference the allow-list does not explain.
        Returns both results (for extra assertions on what Kafka itself did).

        A scenario that differs (or raises) is run once more under fresh names before it fails: the
        reference broker's clients are timing-sensitive too (a share consumer that gets nothing within
        a minute on a loaded machine). One that agrees then passes, and the session summary lists it as
        flaky with what its first run did, so intermittent differences stay visible."""
        log_mark = len(self.sluice_log()) if self.sluice_log else 0
        try:
            results = self.run(fn)
            first = self._differences(results)
        except Exception as e:  # noqa: BLE001 - any failure of the first run earns the scenario a second
            results, first = None, [f"raised {type(e).__name__}: {e}"]
        if first:
            for t in (self.kafka, self.sluice):
                t.scenario = f"{self.scenario}-again"
            try:
                results = self.run(fn)
            except AssertionError as e:
                raise AssertionError(f"{e}\n(first run: {'; '.join(map(str, first))[:2000]})"
                                     + self._sluice_log_since(log_mark)) from e
            if not self._differences(results):
                self.session.flaky.append((self.scenario, "; ".join(map(str, first))))
        return self._judge(results, log_mark)

    def _differences(self, results: dict[str, Any]) -> list:
        """The differences the allow-list does not explain."""
        return [d for d in diff(results["kafka"], results["sluice"])
                if self.session.allowlist.find(self.scenario, d.path) is None]

    def _sluice_log_since(self, mark: int) -> str:
        """Sluice's warnings and errors logged since `mark` (a length of its log), for a failure message."""
        if not self.sluice_log:
            return ""
        lines = [ln for ln in self.sluice_log()[mark:].splitlines() if " WARN" in ln or "ERROR" in ln]
        return "\nsluice warnings and errors meanwhile:\n" + "\n".join(lines[-40:]) if lines else ""

    def _judge(self, results: dict[str, Any], log_mark: int) -> dict[str, Any]:
        if os.environ.get("CONFORMANCE_DUMP"):  # a JSON line per scenario, to read what both brokers did
            with open(os.environ["CONFORMANCE_DUMP"], "a") as f:
                f.write(json.dumps({"scenario": self.scenario, **results}, sort_keys=True) + "\n")
        allowed, unexpected = [], []
        for d in diff(results["kafka"], results["sluice"]):
            entry = self.session.allowlist.find(self.scenario, d.path)
            if entry is None:
                unexpected.append(d)
            else:
                entry.used += 1
                allowed.append((d, entry))
        self.session.outcomes.append(Outcome(self.scenario, allowed, unexpected))
        if unexpected:
            raise AssertionError(
                f"Sluice differs from Apache Kafka in {self.scenario} "
                f"(fix it, or list it with a reason in {ALLOWLIST_PATH.name}):\n"
                + "\n".join(map(str, unexpected))
                + f"\nkafka:  {json.dumps(results['kafka'], sort_keys=True)[:3000]}"
                + f"\nsluice: {json.dumps(results['sluice'], sort_keys=True)[:3000]}"
                + self._sluice_log_since(log_mark))
        return results


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    if hasattr(v, "__dict__"):
        return {k: x for k, x in vars(v).items() if not k.startswith("_")}
    return str(v)
