"""Kafka Connect end to end on Sluice (issue 14): an unmodified distributed worker
(org.apache.kafka.connect.cli.ConnectDistributed, connect-runtime from Maven Central) keeps its config,
offset and status topics on the broker, where it creates them itself with cleanup.policy=compact.

- FileStreamSource -> topic -> FileStreamSink delivers every line of a file, in order (on the newest 4.x
  worker through tests/java/connect-plugin's subclasses of them: Kafka's own fail on a 4.2+ worker).
- The worker stopped (SIGTERM) and started again resumes from the offsets it stored in its compacted offset
  topic (source) and in its consumer group (sink): lines appended meanwhile arrive, none twice.
- KIP-891: one connector plugin installed in two versions side by side (tests/java/connect-plugin, on
  plugin.path as versions 1.0.0 and 2.0.0); two connectors choose one each with connector.plugin.version and
  each runs the version it asked for.

Every test runs on the reference release's worker (4.1.x) and on the newest 4.x worker (module fixture
`worker`, parametrized: one worker start per runtime, one restart).

Target: env CONNECT_TARGET=sluice (default: one `sluice dev` for the module) or kafka (one Apache Kafka of
the reference release), to tell a Sluice bug from a test's mistake.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, target_broker
from helpers import consumer, create_topic, describe_topic_configs, read_to_end, wait_until, watermarks

TARGET = os.environ.get("CONNECT_TARGET", "sluice")

JAVA = Path(__file__).resolve().parent / "java"
# the KIP-891 test plugin in two versions: connect-plugin/target/connect-plugins/{1.0.0,2.0.0}/
PLUGINS = JAVA / "connect-plugin" / "target" / "connect-plugins"
VERSIONED = "dev.sluice.connect.VersionedFileStreamSourceConnector"
# The file pipeline's connectors per runtime: Kafka's own on 4.1.x; on the newest 4.x (where Kafka's file
# connectors of every published release fail: see tests/java/connect-plugin/pom.xml) the same code through
# the test plugin's subclasses, in its latest installed version.
FILE_CONNECTORS = {
    "reference": ("FileStreamSource", "FileStreamSink"),
    "newest": (VERSIONED, "dev.sluice.connect.VersionedFileStreamSinkConnector"),
}

LINES, MORE = 2_000, 1_000

# Connect logs its own progress at INFO (the worker's join, task starts, "Kafka Connect stopped"), but for
# its plugin scan and REST access lines; the clients' config dumps and everything else only from WARN.
LOGGERS = {"org.apache.kafka.connect": "INFO", "org.apache.kafka.connect.runtime.isolation": "WARN",
           "org.apache.kafka.connect.runtime.rest.RestServer": "WARN"}


class ConnectWorker:
    """One Kafka Connect distributed worker (a JVM) of `runtime` ("reference": 4.1.x, "newest": the newest
    4.x), on a free REST port, its internal topics named `<group>-configs/-offsets/-status`. start() returns
    once GET /health answers 200 (the worker joined its group and read the config topic); stop() is SIGTERM
    and a clean exit. REST calls: get/put/delete, JSON in and out."""

    def __init__(self, bootstrap: str, runtime: str, workdir: Path, broker_log: Path | None = None):
        self.runtime = runtime
        self.group = f"connect-{runtime}"
        self.workdir = workdir
        self.broker_log = broker_log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.topics = {k: f"{self.group}-{k}" for k in ("configs", "offsets", "status")}
        self.props = {
            "bootstrap.servers": bootstrap,
            "group.id": self.group,
            "config.storage.topic": self.topics["configs"],
            "offset.storage.topic": self.topics["offsets"],
            "status.storage.topic": self.topics["status"],
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "5",
            "status.storage.partitions": "2",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "listeners": f"http://127.0.0.1:{self.port}",
            "rest.advertised.host.name": "127.0.0.1",
            "offset.flush.interval.ms": "300",
            "plugin.path": ",".join(str(p) for p in sorted(PLUGINS.iterdir())),
            # plugins from their META-INF/services manifests only: no reflective scan of the whole classpath
            "plugin.discovery": "service_load",
        }
        self.proc: subprocess.Popen | None = None
        self.generation = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.group}.{self.generation}.log"

    def start(self, timeout: float = 90) -> "ConnectWorker":
        from reference.kafka_ref import java_cmd, log4j2_properties, reference_classpath

        assert self.proc is None
        self.generation += 1
        config = self.workdir / f"{self.group}.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.props.items()))
        log4j = self.workdir / f"{self.group}.log4j2.properties"
        log4j.write_text(log4j2_properties(self.log_path, "WARN", LOGGERS))
        cmd = java_cmd(reference_classpath(self.runtime), "org.apache.kafka.connect.cli.ConnectDistributed",
                       str(config), log_config=log4j)
        with open(self.workdir / f"{self.group}.{self.generation}.stdout", "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(f"the {self.runtime} Connect worker to be ready", self._ready, timeout, 0.2, self.tail)
        return self

    def _ready(self) -> bool:
        assert self.proc.poll() is None, f"the Connect worker exited with {self.proc.returncode}\n{self.tail()}"
        try:
            # 404 while the REST server registers its resources, 503 until the worker joined its group
            return self.call("GET", "/health", ok=(200, 404, 503))[0] == 200
        except OSError:
            return False

    def stop(self, timeout: float = 60):
        """SIGTERM: the worker stops its tasks (committing their offsets), leaves its group and exits."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the Connect worker did not exit within {timeout}s of SIGTERM\n{self.tail()}")
        finally:
            self.proc = None
        # the JVM's exit status after SIGTERM with shutdown hooks run is 128 + 15
        assert rc in (0, 143), f"the Connect worker exited with {rc}\n{self.tail()}"
        assert "Kafka Connect stopped" in self.log_path.read_text(errors="replace"), self.tail()

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def tail(self, n: int = 25) -> str:
        text = f"--- Connect worker {self.runtime} (generation {self.generation}), {self.log_path}\n"
        if self.log_path.exists():
            text += "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        if self.broker_log is not None and Path(self.broker_log).exists():
            lines = [ln for ln in Path(self.broker_log).read_text(errors="replace").splitlines()
                     if "ERROR" in ln or "WARN" in ln]
            text += f"\n--- broker log ({self.broker_log}), last warnings and errors\n" + "\n".join(lines[-10:])
        return text

    def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201, 204)) -> tuple[int, object]:
        """(status, parsed JSON or None). A status outside `ok` fails with the body and the worker's log."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        assert status in ok, f"{method} {path} -> {status} {raw[:500]!r}\n{self.tail()}"
        return status, (json.loads(raw) if raw else None)

    def get(self, path: str):
        return self.call("GET", path)[1]

    def put_connector(self, name: str, config: dict):
        """PUT /connectors/NAME/config (create or update), retried while the worker is rebalancing (409)."""
        status: list[int] = []

        def put() -> bool:
            status[:] = [self.call("PUT", f"/connectors/{name}/config", config, ok=(200, 201, 409))[0]]
            return status[0] != 409
        wait_until(f"connector {name} created", put, 60, 0.5, self.tail)

    def running(self, name: str, tasks: int = 1) -> dict | None:
        """The connector's status when it and `tasks` tasks are RUNNING (fails on FAILED), else None."""
        code, st = self.call("GET", f"/connectors/{name}/status", ok=(200, 404))
        if code == 404:
            return None
        states = [st["connector"]["state"]] + [t["state"] for t in st["tasks"]]
        assert "FAILED" not in states, f"connector {name} failed: {json.dumps(st)[:3000]}\n{self.tail()}"
        return st if len(st["tasks"]) == tasks and set(states) == {"RUNNING"} else None

    def wait_running(self, name: str, tasks: int = 1) -> dict:
        wait_until(f"connector {name} RUNNING with {tasks} task(s)", lambda: self.running(name, tasks), 60, 0.2,
                   self.tail)
        return self.running(name, tasks)

    def offsets(self, name: str) -> list[dict]:
        """GET /connectors/NAME/offsets (KIP-875): [{"partition": {...}, "offset": {...}}] as stored."""
        return self.get(f"/connectors/{name}/offsets")["offsets"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """The module's broker. Sluice runs a compaction pass every 300 ms (default 30 s), so that Connect's
    internal topics are log-compacted while the worker uses them and before it restarts."""
    yield from target_broker(tmp_path_factory, TARGET, "connect", sluice_args=("--compaction-interval-ms", "300"))


@pytest.fixture(scope="module", params=["reference", "newest"])
def worker(request, broker, tmp_path_factory):
    """A Connect worker of each runtime in turn on the module's broker (the tests of one runtime share it)."""
    if not PLUGINS.is_dir():
        from reference.kafka_ref import build_java
        build_java()
    w = ConnectWorker(broker.bootstrap, request.param, tmp_path_factory.mktemp(f"connect-{request.param}"),
                      broker.log_path)
    try:
        yield w.start()
    finally:
        w.kill()


def line(i: int) -> str:
    return f"line {i:05d} {'x' * (i % 37)}"


def file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_file_pipeline_delivers_every_line_and_resumes_after_restart(broker, worker, tmp_path):
    """FileStreamSource -> topic (1 partition) -> FileStreamSink: the sink file holds exactly the 2,000
    lines in order. SIGTERM the worker, append 1,000 lines, start it again: the sink file then holds exactly
    the 3,000 lines, each once; the offsets read back after the restart are those stored before it, in
    the worker's compacted offset topic (source: file position) and the sink's consumer group."""
    w, bs = worker, broker.bootstrap
    topic, src_name, sink_name = f"lines-{w.runtime}", f"src-{w.runtime}", f"sink-{w.runtime}"
    create_topic(bs, topic, 1)
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [line(i) for i in range(LINES + MORE)]
    src.write_text("".join(f"{x}\n" for x in lines[:LINES]))

    source_class, sink_class = FILE_CONNECTORS[w.runtime]
    w.put_connector(src_name, {"connector.class": source_class, "tasks.max": "1", "file": str(src), "topic": topic})
    w.put_connector(sink_name, {"connector.class": sink_class, "tasks.max": "1", "file": str(out), "topics": topic})
    w.wait_running(src_name)
    w.wait_running(sink_name)
    sink_offset = [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": LINES}}]
    source_offset = [{"partition": {"filename": str(src)}, "offset": {"position": src.stat().st_size}}]
    wait_until("the sink's committed offset at the end of the topic", lambda: w.offsets(sink_name) == sink_offset,
               60, 0.2, w.tail)
    assert file_lines(out) == lines[:LINES]
    wait_until("the source's stored offset at the end of its file", lambda: w.offsets(src_name) == source_offset,
               30, 0.2, w.tail)

    w.stop()
    stopped_at = src.stat().st_size
    # on the broker: the worker's last source offset is the latest record of its key in the offset topic
    key = json.dumps([src_name, {"filename": str(src)}], separators=(",", ":")).encode()
    latest = latest_values(bs, w.topics["offsets"], 5)
    assert json.loads(latest[key]) == {"position": stopped_at}
    if TARGET != "kafka":  # (Kafka never cleans a partition's active segment: nothing within a test's time)
        wait_until(f"log compaction of {w.topics['status']} (records older than their key's latest dropped)",
                   lambda: has_gaps(bs, w.topics["status"], 2), 30, 0.3, w.tail)

    with open(src, "a") as f:
        f.write("".join(f"{x}\n" for x in lines[LINES:]))
    w.start()
    # read back from the broker by the new worker (its tasks may already have moved on from there)
    assert stopped_at <= w.offsets(src_name)[0]["offset"]["position"] <= src.stat().st_size
    assert LINES <= w.offsets(sink_name)[0]["offset"]["kafka_offset"] <= LINES + MORE
    w.wait_running(src_name)
    w.wait_running(sink_name)
    sink_offset[0]["offset"]["kafka_offset"] = LINES + MORE
    source_offset[0]["offset"]["position"] = src.stat().st_size
    wait_until("the sink's committed offset at the new end of the topic",
               lambda: w.offsets(sink_name) == sink_offset, 60, 0.2, w.tail)
    assert file_lines(out) == lines
    wait_until("the source's stored offset at the new end of its file",
               lambda: w.offsets(src_name) == source_offset, 30, 0.2, w.tail)


def latest_values(bootstrap: str, topic: str, partitions: int) -> dict[bytes, bytes | None]:
    """The latest value per key of a topic, read from the start of its partitions."""
    from confluent_kafka import TopicPartition

    c = consumer(bootstrap, **{"enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    return {m.key(): m.value() for m in read_to_end(c, partitions)}


def has_gaps(bootstrap: str, topic: str, partitions: int) -> bool:
    """True when reading the topic from its start yields fewer records than its offsets span: log
    compaction dropped some."""
    from confluent_kafka import TopicPartition

    c = consumer(bootstrap, **{"enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    span = sum(watermarks(bootstrap, topic, p)[1] - watermarks(bootstrap, topic, p)[0] for p in range(partitions))
    return len(read_to_end(c, partitions)) < span


def test_internal_topics_are_compacted(broker, worker):
    """The worker created its config, offset and status topics itself with cleanup.policy=compact (and
    checked that policy at start-up): DescribeConfigs on the broker says so."""
    for kind, name in worker.topics.items():
        cfg = describe_topic_configs(broker.bootstrap, name)
        assert cfg["cleanup.policy"].value == "compact", (kind, name, cfg["cleanup.policy"].value)


def test_two_versions_of_one_plugin_side_by_side(broker, worker, tmp_path):
    """KIP-891: the plugin installed as 1.0.0 and 2.0.0 is listed in both versions; a connector with
    connector.plugin.version=1.0.0 and one with 2.0.0 each run the version they asked for, connector and
    task (status), and both deliver their file's line to a topic the worker created."""
    w, bs = worker, broker.bootstrap
    listed = w.get("/connector-plugins?connectorsOnly=true")
    assert sorted(p["version"] for p in listed if p["class"] == VERSIONED) == ["1.0.0", "2.0.0"]
    for version in ("1.0.0", "2.0.0"):
        name, topic = f"v{version[0]}-{w.runtime}", f"v{version[0]}-lines-{w.runtime}"
        src = tmp_path / f"{name}.txt"
        src.write_text(f"from {version}\n")
        # the topic is created by the worker (KIP-158), with the broker's defaults (KIP-464: -1)
        w.put_connector(name, {"connector.class": VERSIONED, "connector.plugin.version": version,
                               "tasks.max": "1", "file": str(src), "topic": topic,
                               "topic.creation.default.replication.factor": "-1",
                               "topic.creation.default.partitions": "-1"})
        st = w.wait_running(name)
        assert (st["connector"]["version"], st["tasks"][0]["version"]) == (version, version), json.dumps(st)
        assert w.get(f"/connectors/{name}/config")["connector.plugin.version"] == version
        wait_until(f"the {version} connector's line in {topic}", lambda: watermarks(bs, topic, 0)[1] == 1,
                   30, 0.2, w.tail)
        assert latest_values(bs, topic, 1) == {None: f"from {version}".encode()}
