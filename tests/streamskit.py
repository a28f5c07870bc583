"""Kafka Streams applications (tests/java/clients/src/main/java/StreamsApp.java, group.protocol=streams,
KIP-1071) as subprocesses, for the end-to-end tests of streams groups (tests/test_streams_apps.py).

    app = StreamsGroup(bootstrap, "wc-app", "wordcount", "in", "out", workdir)
    a, b, c = app.start(3)                       # three instances in parallel, each its own state dir
    app.wait(lambda: app.settled(12), "12 tasks spread")   # polls the instances' JSON lines
    b.kill()                                     # SIGKILL; b.restart() starts it again on its state dir
    app.stop_all()                               # stdin closed: clean KafkaStreams.close(), exit 0 asserted

Each instance prints one JSON object per line (see StreamsApp.java for the events); a reader thread keeps
them in `Instance.events`. Waiting is always "until a condition holds, or fail at a deadline with the
instances' last lines", never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from confluent_kafka import Consumer, KafkaError, TopicPartition

from helpers import QUIET, wait_until

# Kafka Streams logs WARN and up to stderr (statuses such as "Missing source topics" are WARN lines)
_LOG4J2 = """status = warn
appender.err.type = File
appender.err.name = err
appender.err.fileName = {log}
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
{extra}"""


def java_classpath(client: str = "newest") -> str:
    """The classpath of the Java programs: on the newest 4.x kafka-streams/kafka-clients they are compiled
    against, or ("reference") the same classes on the reference release's jars (Kafka Streams 4.1.x, whose
    streams protocol is early access and speaks StreamsGroupHeartbeat v0 only)."""
    from reference.kafka_ref import clients_classpath, reference_classpath
    if client == "reference":
        programs = [p for p in clients_classpath().split(":") if "sluice-tests-clients" in p]
        return ":".join(programs + [reference_classpath()])
    return clients_classpath()


class Instance:
    """One StreamsApp process. `events` holds its parsed stdout lines (dicts with "ev" and "t", epoch ms)."""

    def __init__(self, group: "StreamsGroup", name: str, args: list[str]):
        self.group = group
        self.name = name
        self.args = args
        self.state_dir = group.workdir / f"{name}-state"
        self.proc: subprocess.Popen | None = None
        self.events: list[dict] = []
        self.generation = 0
        self.killed_at_ms: int | None = None  # wall-clock ms of the last SIGKILL
        self.kills: dict[int, int] = {}  # generation -> wall-clock ms of its SIGKILL
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @property
    def log_path(self) -> Path:
        return self.group.workdir / f"{self.name}.{self.generation}.log"

    def start(self) -> "Instance":
        """Starts the JVM (does not wait for anything); events of an earlier run are kept."""
        from reference.kafka_ref import java_cmd

        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.generation += 1
        log4j = self.group.workdir / f"{self.name}.{self.generation}.log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.log_path, extra=self.group.log_extra))
        cmd = java_cmd(self.group.classpath, "StreamsApp", *self.args, "--state-dir", str(self.state_dir),
                       "--instance", self.name, heap="256m", log_config=log4j)
        self.started_at_ms = int(time.time() * 1000)
        with open(self.group.workdir / f"{self.name}.{self.generation}.stderr", "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         text=True)
        self._reader = threading.Thread(target=self._read, args=(self.proc, self.generation), daemon=True)
        self._reader.start()
        return self

    def _read(self, proc: subprocess.Popen, generation: int):
        with open(self.group.workdir / f"{self.name}.{generation}.out", "w") as raw:
            for line in proc.stdout:
                raw.write(line)
                raw.flush()
                line = line.strip()
                if not line.startswith("{"):
                    continue
                ev = json.loads(line)
                ev["gen"] = generation
                with self._lock:
                    self.events.append(ev)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def of(self, kind: str, generation: int | None = None) -> list[dict]:
        """The events of one kind ("tasks", "open", ...), of one run (generation) or of all."""
        with self._lock:
            return [e for e in self.events if e["ev"] == kind and (generation is None or e["gen"] == generation)]

    def tasks(self) -> tuple[set[str], set[str]]:
        """(active, standby) task ids of the current run's last "tasks" line; empty sets before one."""
        t = self.of("tasks", self.generation)
        return (set(t[-1]["active"]), set(t[-1]["standby"])) if t else (set(), set())

    def state(self) -> str | None:
        s = self.of("state", self.generation)
        return s[-1]["to"] if s else None

    def running(self) -> bool:
        return self.alive() and self.state() == "RUNNING"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, n: int = 15) -> str:
        with self._lock:
            lines = [json.dumps(e) for e in self.events[-n:]]
        log = self.log_text().splitlines()[-8:]
        err = self.group.workdir / f"{self.name}.{self.generation}.stderr"
        log += err.read_text(errors="replace").splitlines()[-8:] if err.exists() else []
        return (f"--- {self.name} (alive={self.alive()}, generation {self.generation})\n" + "\n".join(lines)
                + "\n--- its log tail\n" + "\n".join(log))

    def stop(self, timeout: float = 60):
        """Closes stdin: the app closes KafkaStreams cleanly and exits 0 (asserted, with a "closed" line)."""
        if not self.alive():
            return
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of stdin closing\n{self.tail()}")
        self._reader.join(10)
        assert rc == 0, f"{self.name} exited {rc}\n{self.tail()}"
        assert self.of("closed", self.generation), f"{self.name} exited without closing\n{self.tail()}"

    def kill(self):
        """SIGKILL: no close, no commit, no leave-group heartbeat. Records the wall-clock time (ms)."""
        self.killed_at_ms = int(time.time() * 1000)
        self.kills[self.generation] = self.killed_at_ms
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)

    def restart(self) -> "Instance":
        """Starts the app again (after kill or stop) on the same state directory."""
        return self.start()


class StreamsGroup:
    """The instances of one Kafka Streams application (one application.id = one streams group).

    `options` become StreamsApp flags (`standby=1` -> `--standby 1`, `guarantee="exactly_once_v2"`,
    `cache_bytes=0`, `commit_ms=200`); `log_extra` is appended to each instance's log4j2 properties;
    `client` picks the Kafka Streams release (see java_classpath); `broker_log` (the broker's log file) has its last error and streams lines shown when a wait fails.

    Timeouts: against Apache Kafka every wait of tests/test_streams_apps.py completes within ~10 s (5 s
    session timeout included); the deadlines below leave a slower broker room without making a broken one
    cost minutes per test."""

    def __init__(self, bootstrap: str, app_id: str, mode: str, input_topic: str, output_topic: str,
                 workdir: Path, log_extra: str = "", broker_log: Path | None = None, client: str = "newest",
                 **options):
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.workdir = Path(workdir) / app_id
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.classpath = java_classpath(client)
        self.log_extra = log_extra
        self.broker_log = broker_log
        self.args = ["--mode", mode, "--bootstrap", bootstrap, "--app-id", app_id, "--input", input_topic,
                     "--output", output_topic]
        for k, v in options.items():
            self.args += [f"--{k.replace('_', '-')}", str(v)]
        self.instances: list[Instance] = []
        # uncaught exceptions a test expects (StreamsApp --on-error replace keeps such an instance up)
        self.expected_errors: tuple[str, ...] = ()

    def start(self, n: int) -> list[Instance]:
        """Starts n more instances at once (named i0, i1, ... in order); returns them."""
        new = [Instance(self, f"i{len(self.instances) + k}", self.args) for k in range(n)]
        self.instances += new
        for i in new:
            i.start()
        return new

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive()]

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = 60, poll: float = 0.1):
        """Returns once `cond()` is true; fails after `timeout` seconds with every instance's tail. Also
        fails early when an instance reports an uncaught exception."""
        def done():
            if cond():
                return True
            errors = self.errors()
            assert not errors, f"a Streams instance failed while waiting for {what}: {errors}\n{self.tails()}"
            return False
        wait_until(what, done, timeout, every=poll, context=self.tails)

    def tails(self) -> str:
        text = "\n".join(i.tail() for i in self.instances)
        if self.broker_log is not None and Path(self.broker_log).exists():
            lines = [line for line in Path(self.broker_log).read_text(errors="replace").splitlines()
                     if "ERROR" in line or "stream" in line.lower()]
            text += f"\n--- broker log ({self.broker_log}), last error/streams lines\n" + "\n".join(lines[-10:])
        return text

    def settled(self, tasks: int, instances: list[Instance] | None = None) -> bool:
        """True when every given (default: live) instance is RUNNING and owns at least one active task, and
        their active tasks are disjoint and number `tasks` in all."""
        insts = instances if instances is not None else self.live()
        if not insts or not all(i.running() for i in insts):
            return False
        actives = [i.tasks()[0] for i in insts]
        return all(actives) and sum(map(len, actives)) == tasks and len(set().union(*actives)) == tasks

    def stop_all(self):
        """Stops every live instance (in parallel: each closes on its own), asserting clean exits."""
        live = self.live()
        for i in live:
            i.proc.stdin.close()
        for i in live:
            i.stop()

    def kill_all(self):
        """Teardown: SIGKILL whatever still runs."""
        for i in self.live():
            i.kill()

    def errors(self) -> list[tuple[str, str]]:
        """(instance, exception) of every uncaught exception an instance reported, but the expected ones
        (substrings in `expected_errors`)."""
        return [(i.name, e["error"]) for i in self.instances for e in i.of("error")
                if not any(x in e["error"] for x in self.expected_errors)]

    def overlaps(self) -> list[str]:
        """Pairs of processing intervals of one task on two instances that overlap in time. An interval runs
        from the task's tracker processor `open` (init) to its `close`, or to the SIGKILL of its process
        (or now, if still running). Clocks: all instances run on this machine (epoch ms)."""
        intervals: dict[str, list[tuple[int, int, str]]] = {}
        now = int(time.time() * 1000)
        for inst in self.instances:
            for gen in range(1, inst.generation + 1):
                end_of_run = now
                if gen in inst.kills:
                    end_of_run = inst.kills[gen]
                elif gen < inst.generation or not inst.alive():
                    run_events = [e["t"] for e in inst.events if e["gen"] == gen]
                    end_of_run = max(run_events) if run_events else now
                opened: dict[str, int] = {}
                for e in inst.events:
                    if e["gen"] != gen or e["ev"] not in ("open", "close"):
                        continue
                    if e["ev"] == "open":
                        opened[e["task"]] = e["t"]
                    elif e["task"] in opened:
                        intervals.setdefault(e["task"], []).append((opened.pop(e["task"]), e["t"], inst.name))
                for task, start in opened.items():
                    intervals.setdefault(task, []).append((start, end_of_run, inst.name))
        bad = []
        for task, spans in intervals.items():
            spans.sort()
            for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
                if s2 < e1 and n1 != n2:
                    bad.append(f"{task}: {n1} [{s1}, {e1}] and {n2} [{s2}, {e2}]")
        return bad


def words_input(n: int, vocabulary: int = 200, start: int = 0) -> list[str]:
    """n two-word lines (records start..start+n-1), deterministic: "w{i % V} w{(7i + 3) % V}"."""
    return [f"w{i % vocabulary} w{(7 * i + 3) % vocabulary}" for i in range(start, start + n)]


def word_counts(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
    return counts


class OutputReader:
    """Reads an output topic from the start, keeping every (key, value) in offset order per partition (a
    null key as ""). `read_committed` hides aborted transactions (exactly_once_v2 output)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, read_committed: bool = False):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "streams-output-reader",
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                           "enable.partition.eof": False, **QUIET})
        self.c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records: list[tuple[str, str]] = []
        self.last: dict[str, str] = {}

    def poll(self, timeout: float = 0.2) -> int:
        msgs = self.c.consume(num_messages=5000, timeout=timeout)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"output consumer error: {m.error()}")
            k, v = (m.key() or b"").decode(), m.value().decode()
            self.records.append((k, v))
            self.last[k] = v
        return len(msgs)

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.last.items()}

    def close(self):
        self.c.close()


def wait_counts(app: StreamsGroup, out: OutputReader, expected: dict[str, int], timeout: float = 90):
    """Reads the output until the last count per key equals `expected` (fails on a deadline with the
    keys that differ)."""
    def exact():
        out.poll(0.2)
        if out.counts() == expected:
            return True
        errors = app.errors()
        assert not errors, f"a Streams instance failed: {errors}\n{app.tails()}"
        return False

    def differences():
        got = out.counts()
        diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected) if got.get(k) != expected.get(k)}
        return f"{len(diff)} keys differ (got, want), e.g. {dict(list(diff.items())[:8])}\n{app.tails()}"
    wait_until("exact output counts", exact, timeout, every=0, context=differences)
