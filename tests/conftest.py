"""Fixtures that run the real `sluice` binary on free ports with a temporary data dir.

Binary: $SLUICE_BIN, else <repo>/target/release/sluice.
Each process writes stdout/stderr to files next to (not inside) its data dir so a
failure can show the tail of its log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

# One free_port, so Kafka reference brokers and Sluice processes never share a port.
from reference.kafka_ref import free_port  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def sluice_bin() -> str:
    b = os.environ.get("SLUICE_BIN") or str(REPO / "target" / "release" / "sluice")
    if not os.path.exists(b):
        pytest.fail(f"sluice binary not found at {b} (build it with cargo build --release, or set SLUICE_BIN)")
    return b




def _tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "<no output file>"
    return "\n".join(lines[-n:])


class SluiceProcess:
    """One running sluice process (dev, meta or agent)."""

    def __init__(self, name: str, args: list[str], workdir: Path, ready_marker: str,
                 port: int | None, env: dict | None = None):
        self.name = name
        self.args = list(args)
        self.workdir = workdir
        self.ready_marker = ready_marker
        self.port = port
        self.env = env
        # the ready line must name this address ("bootstrap 127.0.0.1:PORT"); None = any
        self.expect_bootstrap = f"bootstrap 127.0.0.1:{port}" if port else None
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.stdout_path: Path | None = None
        self.stderr_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        assert self.proc is None, f"{self.name} already running"
        self.generation += 1
        self.stdout_path = self.workdir / f"{self.name}.{self.generation}.stdout"
        self.stderr_path = self.workdir / f"{self.name}.{self.generation}.stderr"
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        if self.env:
            env.update(self.env)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sluice_bin()] + self.args, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        want_bootstrap = None
        if self.ready_marker == "Sluice ready":
            want_bootstrap = self.expect_bootstrap or "bootstrap "
        while time.monotonic() < deadline:
            text = self.stdout_path.read_text(errors="replace")
            # "(?!\d)": a wanted port must not match a longer one (":1234" vs ":12345")
            tail = r"(?!\d)" if want_bootstrap and want_bootstrap[-1].isdigit() else ""
            if self.ready_marker in text and (want_bootstrap is None
                                              or re.search(re.escape(want_bootstrap) + tail, text)):
                return
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                pytest.fail(f"{self.name} exited with {rc} before printing {self.ready_marker!r}\n"
                            f"args: {self.args}\n--- stdout ---\n{_tail(self.stdout_path)}\n"
                            f"--- stderr tail ---\n{_tail(self.stderr_path)}")
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        pytest.fail(f"{self.name} not ready within {READY_TIMEOUT}s (waiting for {self.ready_marker!r}"
                    f"{' and ' + repr(want_bootstrap) if want_bootstrap else ''})\nargs: {self.args}\n"
                    f"--- stdout ---\n{_tail(self.stdout_path)}\n--- stderr tail ---\n{_tail(self.stderr_path)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    def stop(self, sig=signal.SIGTERM, check=True) -> int:
        """Stop with SIGTERM (or SIGINT) and assert a clean exit 0 within STOP_TIMEOUT."""
        assert self.proc is not None, f"{self.name} not running"
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            rc = proc.returncode
            if check:
                pytest.fail(f"{self.name} had already exited with {rc}\n--- stderr tail ---\n"
                            f"{_tail(self.stderr_path)}")
            return rc
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            if check:
                pytest.fail(f"{self.name} did not exit within {STOP_TIMEOUT}s of {sig.name}\n"
                            f"--- stderr tail ---\n{_tail(self.stderr_path)}")
            return -9
        if check:
            assert rc == 0, (f"{self.name} exited with {rc} after {sig.name}\n--- stderr tail ---\n"
                             f"{_tail(self.stderr_path)}")
        return rc

    def restart(self):
        """Clean stop (asserted) and start again with the same arguments and data dir."""
        self.stop()
        return self.start()

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# Test agents let groups set short sessions, heartbeats and record locks (a test waits seconds, not
# Kafka's 45 s minimum), as a test Kafka broker lowers its group.*.min.* configs. The conformance
# counterpart (sluice_ref) keeps Kafka's defaults, so refusals compare.
RELAXED_GROUP_BOUNDS = {f"SLUICE_GROUP_{kind}_MIN_{what}_MS": value for kind, what, value in [
    ("CONSUMER", "SESSION_TIMEOUT", "1000"), ("CONSUMER", "HEARTBEAT_INTERVAL", "100"),
    ("SHARE", "SESSION_TIMEOUT", "1000"), ("SHARE", "HEARTBEAT_INTERVAL", "100"),
    ("SHARE", "RECORD_LOCK_DURATION", "1000"),
    ("STREAMS", "SESSION_TIMEOUT", "1000"), ("STREAMS", "HEARTBEAT_INTERVAL", "100")]}


class Cluster:
    """Starts sluice processes for one test and stops them all at the end. Agents get
    RELAXED_GROUP_BOUNDS unless `kafka_group_bounds`."""

    def __init__(self, tmp_path: Path, kafka_group_bounds: bool = False):
        self.tmp = tmp_path
        self.procs: list[SluiceProcess] = []
        self.group_env = {} if kafka_group_bounds else RELAXED_GROUP_BOUNDS

    def _agent_env(self, env: dict | None) -> dict:
        return {**self.group_env, **(env or {})}

    def dev(self, *extra: str, name: str = "dev", port: int | None = None, env=None,
            expect_bootstrap: str | None = "") -> SluiceProcess:
        """expect_bootstrap: "" = the listen address; None = any "bootstrap ..." line."""
        port = port or free_port()
        data = self.tmp / f"{name}-data"
        data.mkdir(exist_ok=True)
        args = ["dev", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}", *extra]
        p = SluiceProcess(name, args, self.tmp, "Sluice ready", port, self._agent_env(env))
        if expect_bootstrap != "":
            p.expect_bootstrap = expect_bootstrap
        p.data_dir = data
        self.procs.append(p)
        return p.start()

    def meta(self, node_id: int = 1, name: str = "meta") -> SluiceProcess:
        port = free_port()
        data = self.tmp / f"{name}-data"
        data.mkdir(exist_ok=True)
        args = ["meta", "--id", str(node_id), "--data-dir", str(data),
                "--listen", f"127.0.0.1:{port}", "--bootstrap"]
        p = SluiceProcess(name, args, self.tmp, f"meta node {node_id} ready", port)
        p.url = f"http://127.0.0.1:{port}"
        self.procs.append(p)
        return p.start()

    def meta_quorum(self, n: int = 3, *extra: str, prefix: str = "meta") -> list[SluiceProcess]:
        """n `sluice meta` nodes (ids 1..n) bootstrapped together with --peers (plus `extra` flags);
        each has .url, .node_id and .data_dir. Node 1 initializes the cluster; the others wait for it."""
        ports = {i: free_port() for i in range(1, n + 1)}
        peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
        nodes = []
        for i, port in ports.items():
            data = self.tmp / f"{prefix}{i}-data"
            data.mkdir(exist_ok=True)
            args = ["meta", "--id", str(i), "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
                    "--peers", peers, "--bootstrap", *extra]
            p = SluiceProcess(f"{prefix}{i}", args, self.tmp, f"meta node {i} ready", port)
            p.url = f"http://127.0.0.1:{port}"
            p.node_id = i
            p.data_dir = data
            self.procs.append(p)
            nodes.append(p.start())
        return nodes

    def agent(self, meta_url: str, object_dir: Path, agent_id: int, name: str, *extra: str,
              store_url: str | None = None, env: dict | None = None) -> SluiceProcess:
        """extra: more flags; store_url replaces the file:// store under object_dir."""
        port = free_port()
        cache = self.tmp / f"{name}-cache"
        cache.mkdir(exist_ok=True)
        args = ["agent", "--meta", meta_url, "--object-store", store_url or object_dir.resolve().as_uri(),
                "--cache-dir", str(cache), "--listen", f"127.0.0.1:{port}", "--agent-id", str(agent_id),
                *extra]
        p = SluiceProcess(name, args, self.tmp, "Sluice ready", port, self._agent_env(env))
        self.procs.append(p)
        return p.start()

    def close(self):
        """Stop everything (agents before meta); report unclean exits after stopping all."""
        failures = []
        for p in reversed(self.procs):
            if p.proc is None:
                continue
            if p.proc.poll() is not None:
                failures.append(f"{p.name} died during the test with exit code {p.proc.returncode}\n"
                                f"--- stderr tail ---\n{_tail(p.stderr_path)}")
                p.proc = None
                continue
            p.proc.send_signal(signal.SIGTERM)
            try:
                rc = p.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                failures.append(f"{p.name} did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                                f"--- stderr tail ---\n{_tail(p.stderr_path)}")
                continue
            p.proc = None
            if rc != 0:
                failures.append(f"{p.name} exited with {rc} after SIGTERM\n--- stderr tail ---\n"
                                f"{_tail(p.stderr_path)}")
        for p in self.procs:
            if p.stderr_path and "panicked" in p.stderr_text():
                failures.append(f"{p.name} logged a panic:\n{_tail(p.stderr_path)}")
        if failures:
            pytest.fail("\n\n".join(failures))


@pytest.fixture
def cluster(tmp_path):
    """Factory for custom setups: cluster.dev(*flags), cluster.meta(), cluster.agent(...)."""
    c = Cluster(tmp_path)
    yield c
    c.close()


@pytest.fixture
def sluice_dev(cluster):
    """`sluice dev` on a free port with a fresh data dir. Has .bootstrap, .port,
    .data_dir, .restart() (same data dir, same port), .stop(), .start()."""
    return cluster.dev()


class MetaAndTwoAgents:
    def __init__(self, meta, a, b, objects):
        self.meta = meta
        self.a = a
        self.b = b
        self.objects = objects


@pytest.fixture
def meta_and_two_agents(cluster, tmp_path):
    """One `sluice meta` node and two `sluice agent`s sharing one file:// object store."""
    objects = tmp_path / "objects"
    objects.mkdir()
    meta = cluster.meta(1)
    a = cluster.agent(meta.url, objects, 1, "agent-a")
    b = cluster.agent(meta.url, objects, 2, "agent-b")
    return MetaAndTwoAgents(meta, a, b, objects)


def target_broker(tmp_path_factory, target: str, name: str, *, release: str = "reference",
                  props: dict | None = None, sluice_args: tuple[str, ...] = ()):
    """Generator for a module fixture of the end-to-end tests that run against either broker (env
    STREAMS_TARGET, CONNECT_TARGET...): `target` "kafka" yields a started Apache Kafka (tests/reference,
    `release`, extra broker `props`), anything else one `sluice dev` (extra flags `sluice_args`); stopped
    when the module ends. Both
    have .bootstrap; the broker's own log is `.server_log` (Kafka) or `.stderr_path` (Sluice), also as
    `.log_path` on both."""
    if target == "kafka":
        from reference.kafka_ref import KafkaReference

        ref = KafkaReference(tmp_path_factory.mktemp(f"kafka-{name}"), release=release, props=props)
        try:
            ref.start()
        except RuntimeError as e:
            pytest.fail(f"the Kafka broker did not start: {e}")
        ref.log_path = ref.server_log
        yield ref
        ref.close()
    else:
        c = Cluster(tmp_path_factory.mktemp(f"sluice-{name}"))
        p = c.dev(*sluice_args, name=f"sluice-{name}")
        p.log_path = p.stderr_path
        yield p
        c.close()


# --- the reference Apache Kafka broker and a Sluice to compare it with (tests/conformance/) ------------

@pytest.fixture(scope="session")
def kafka_ref(tmp_path_factory):
    """A real Apache Kafka broker (reference release, KRaft combined mode, fresh) for the whole session.
    Has .bootstrap, .host, .port, .workdir; see tests/reference/kafka_ref.py."""
    from reference.kafka_ref import KafkaReference

    ref = KafkaReference(tmp_path_factory.mktemp("kafka-ref"))
    try:
        ref.start()
    except RuntimeError as e:
        pytest.fail(f"the reference Kafka broker did not start: {e}")
    yield ref
    ref.close()


@pytest.fixture(scope="session")
def kafka_newest(tmp_path_factory):
    """A broker of the newest 4.x (tests/java/reference-newest), the oracle for what changed after the
    reference release: share groups (GA in 4.2), streams groups."""
    from reference.kafka_ref import KafkaReference

    ref = KafkaReference(tmp_path_factory.mktemp("kafka-newest"), release="newest")
    try:
        ref.start()
    except RuntimeError as e:
        pytest.fail(f"the newest Kafka broker did not start: {e}")
    yield ref
    ref.close()


@pytest.fixture(scope="session")
def sluice_ref(tmp_path_factory):
    """`sluice dev` shared by the whole session, the counterpart of `kafka_ref` in conformance scenarios
    (each scenario makes its own topics and groups, so they do not see each other)."""
    c = Cluster(tmp_path_factory.mktemp("sluice-ref"), kafka_group_bounds=True)
    metrics_port = free_port()
    p = c.dev("--metrics-listen", f"127.0.0.1:{metrics_port}", name="sluice-ref")
    p.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # per-API request counts, for coverage
    yield p
    c.close()
