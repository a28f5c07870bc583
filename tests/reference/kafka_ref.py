"""A real Apache Kafka broker (the reference release pinned in tests/java/pom.xml) beside Sluice.

`KafkaReference` formats a fresh KRaft log directory and starts Kafka in combined mode (one process is
broker and controller, node id 1) on free loopback ports, from the classpath Maven resolved
(`tests/java/reference/target/classpath.txt`, built by `tests/java/build.sh`). Share groups (KIP-932) are enabled as a finalized feature at format time, so scenarios can compare
classic, consumer and share groups. It is what the conformance tests (`tests/conformance/`) and the Kafka-tool tests run
against, and what the benchmark harness compares Sluice with.

Run one by hand:

    python3 tests/reference/kafka_ref.py [--port 9093] [--prop key=value ...]

prints `bootstrap: 127.0.0.1:PORT` once the broker serves requests and runs until Ctrl-C.

In pytest, the session fixture `kafka_ref` (tests/conftest.py) gives a started broker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
JAVA_DIR = TESTS / "java"
REFERENCE_CLASSPATH = JAVA_DIR / "reference" / "target" / "classpath.txt"
# the newest 4.x broker, for features that changed after the reference release (share groups: GA in 4.2)
NEWEST_CLASSPATH = JAVA_DIR / "reference-newest" / "target" / "classpath.txt"
CLIENTS_DIR = JAVA_DIR / "clients" / "target"

# Broker settings every reference broker gets. Kafka's defaults otherwise (the point is to compare with
# Kafka as users run it), except what a single node needs (replication factors of 1) and what keeps
# start-up cheap on a small machine (few partitions for the internal topics).
BASE_PROPS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "share.coordinator.state.topic.num.partitions": "4",
    "auto.create.topics.enable": "true",
}

# Finalized features set at format time (kafka-storage format --feature NAME=LEVEL), beyond the release's
# defaults. Share groups are a preview in 4.1, off unless share.version=1. Streams groups (streams.version=1)
# are early access in 4.1 and need unstable feature versions, which would also move metadata.version past
# the release; they are GA from 4.2, so the newest 4.x reference enables them.
FEATURES = {"reference": {"share.version": 1}, "newest": {"share.version": 1, "streams.version": 1}}


_ISSUED_PORTS: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and that this process has not handed out before: the kernel may
    return the port it just gave for the previous bind to 0, and two services given the same port
    fail to start ("Address already in use", seen in CI)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ISSUED_PORTS:
            _ISSUED_PORTS.add(port)
            return port


def build_java() -> None:
    """Runs tests/java/build.sh (Maven; a no-op when nothing changed)."""
    subprocess.run(["bash", str(JAVA_DIR / "build.sh")], check=True)


def reference_classpath(release: str = "reference") -> str:
    """The Kafka classpath of `release`: "reference" (4.1.x: broker, tools, streams, connect) or "newest"
    (the newest 4.x: broker and tools), building it if needed."""
    path = NEWEST_CLASSPATH if release == "newest" else REFERENCE_CLASSPATH
    if not path.exists():
        build_java()
    return path.read_text().strip()


def clients_classpath() -> str:
    """The Java client programs (tests/java/clients) and their kafka-clients classpath."""
    cp = CLIENTS_DIR / "classpath.txt"
    if not cp.exists():
        build_java()
    jars = sorted(str(p) for p in CLIENTS_DIR.glob("sluice-tests-clients-*.jar"))
    return ":".join(jars + [cp.read_text().strip()])


def java_cmd(classpath: str, main: str, *args: str, heap: str = "512m", fast_start: bool = True,
             log_config: Path | None = None) -> list[str]:
    """A `java` command line for `main` on `classpath`. `fast_start` trades peak speed for start-up time and
    CPU (C1 only): right for tests on a 2-core machine, wrong for benchmarks."""
    cmd = ["java", f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    if fast_start:
        cmd += ["-XX:TieredStopAtLevel=1", "-Xshare:auto"]
    if log_config is not None:
        cmd.append(f"-Dlog4j2.configurationFile={log_config}")
    return cmd + ["-cp", classpath, main, *args]


def log4j2_properties(log: Path, root: str = "INFO", loggers: dict[str, str] | None = None) -> str:
    """A log4j2 properties file's text that logs to the file `log` ("[time] LEVEL message (logger)"), at
    level `root` but for the `loggers` given as {logger name: level}."""
    text = ("status = warn\nappender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {log}\nappender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            f"rootLogger.level = {root}\nrootLogger.appenderRef.file.ref = file\n")
    for i, (name, level) in enumerate((loggers or {}).items()):
        text += f"logger.l{i}.name = {name}\nlogger.l{i}.level = {level}\n"
    return text


class KafkaReference:
    """One Apache Kafka broker in KRaft combined mode on free loopback ports.

    `props` are extra broker settings (server.properties keys), e.g. `{"sasl.enabled.mechanisms": "PLAIN"}`;
    `listeners` maps a listener name to its security protocol (default: one PLAINTEXT listener named
    PLAINTEXT); `release` is "reference" (4.1.x, the default) or "newest" (the newest 4.x); `jaas` is the broker's JAAS text per listener and mechanism where SASL is used
    (`{"listener.name.sasl_plaintext.plain.sasl.jaas.config": "..."}` goes in `props` as Kafka expects).
    """

    def __init__(self, workdir: Path | str | None = None, *, props: dict | None = None,
                 listeners: dict | None = None, port: int | None = None, fast_start: bool = True,
                 heap: str = "1g", log_level: str = "INFO", release: str = "reference"):
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kafka-ref-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.listeners = listeners or {"PLAINTEXT": "PLAINTEXT"}
        self.ports = {name: (port if (port and i == 0) else free_port()) for i, name in enumerate(self.listeners)}
        self.controller_port = free_port()
        self.extra_props = dict(props or {})
        self.fast_start = fast_start
        self.heap = heap
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.cluster_id = uuid.uuid4().hex[:22]
        self.release = release

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return next(iter(self.ports.values()))

    @property
    def bootstrap(self) -> str:
        """host:port of the first listener."""
        return f"{self.host}:{self.port}"

    def bootstrap_for(self, listener: str) -> str:
        return f"{self.host}:{self.ports[listener]}"

    @property
    def server_log(self) -> Path:
        return self.workdir / "server.log"

    def properties(self) -> dict:
        listeners = ",".join(f"{n}://127.0.0.1:{p}" for n, p in self.ports.items())
        protocol_map = ",".join(f"{n}:{proto}" for n, proto in self.listeners.items())
        props = dict(BASE_PROPS)
        props.update({
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"{listeners},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": listeners,
            "listener.security.protocol.map": f"{protocol_map},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": next(iter(self.listeners)),
            "log.dirs": str(self.workdir / "logs"),
        })
        props.update(self.extra_props)
        return props

    def _write_config(self) -> Path:
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        # "Kafka Server started" (kafka.server.KafkaRaftServer, INFO) marks readiness, whatever the level
        (self.workdir / "log4j2.properties").write_text(log4j2_properties(
            self.server_log, self.log_level, {"kafka": self.log_level, "org.apache.kafka.server": self.log_level,
                                              "kafka.server.KafkaRaftServer": "INFO"}))
        return path

    def start(self, timeout: float = 120.0) -> "KafkaReference":
        """Formats the log directory (first start only) and starts the broker; returns once it serves
        Metadata on its first listener. Raises RuntimeError with the log's tail if it does not."""
        cp = reference_classpath(self.release)
        config = self._write_config()
        log4j = self.workdir / "log4j2.properties"
        if not (self.workdir / "logs" / "meta.properties").exists():
            feature_args = [a for name, level in FEATURES[self.release].items() for a in ("--feature", f"{name}={level}")]
            fmt = subprocess.run(
                java_cmd(cp, "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config),
                         *feature_args, "--ignore-formatted", heap="256m", log_config=log4j),
                capture_output=True, text=True, timeout=120)
            if fmt.returncode != 0:
                raise RuntimeError(f"kafka-storage format failed:\n{fmt.stdout}\n{fmt.stderr}")
        stdout = open(self.workdir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            java_cmd(cp, "kafka.Kafka", str(config), heap=self.heap, fast_start=self.fast_start,
                     log_config=log4j),
            stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self.proc.returncode}:\n{self.tail()}")
            if self.server_log.exists() and "Kafka Server started" in self.server_log.read_text(errors="replace"):
                if self._metadata_ok():
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Kafka did not start within {timeout}s:\n{self.tail()}")

    def _metadata_ok(self) -> bool:
        """True once the first listener answers ApiVersions (for SASL listeners, accepting TCP is enough)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=2):
                return True
        except OSError:
            return False

    def tail(self, n: int = 60) -> str:
        text = ""
        for f in (self.workdir / "stdout.log", self.server_log):
            if f.exists():
                text += f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-n:]) + "\n"
        return text

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0):
        """Stops the broker (SIGTERM, then SIGKILL after `timeout`)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run a reference Apache Kafka broker (KRaft, single node).")
    ap.add_argument("--port", type=int, default=None, help="client port (default: a free one)")
    ap.add_argument("--dir", default=None, help="data directory (default: a fresh temporary one)")
    ap.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="extra broker setting")
    ap.add_argument("--full-jit", action="store_true", help="full JIT (for benchmarks; slower start)")
    ap.add_argument("--newest", action="store_true", help="the newest 4.x instead of the reference 4.1.x")
    args = ap.parse_args(argv)
    props = dict(p.split("=", 1) for p in args.prop)
    ref = KafkaReference(args.dir, props=props, port=args.port, fast_start=not args.full_jit,
                         release="newest" if args.newest else "reference")
    t0 = time.monotonic()
    ref.start()
    print(f"bootstrap: {ref.bootstrap}  (Apache Kafka, started in {time.monotonic() - t0:.1f}s, "
          f"logs in {ref.workdir})", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        ref.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
