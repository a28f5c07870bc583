"""Sluice against Apache Kafka on the same machine, driven by Kafka's own perf tools.

    cargo build --release && bash tests/java/build.sh && python3 benches/compare.py
    python3 benches/compare.py --records 300000 --workloads 1k,100b      # a quicker look

Starts, one after the other (never two at once, so each has the machine to itself):
- Apache Kafka (the reference release from tests/java, KRaft, single node, full JIT) with its default
  settings, then again with `log.flush.interval.messages=1` (an fsync per append: durability parity with
  Sluice, which answers a produce only once its segment is in object storage and committed);
- Sluice's embedded default (`sluice dev`: one meta node, one agent, a local-directory object store).
Each broker gets the same workloads from `kafka-producer-perf-test` and `kafka-consumer-perf-test`
(acks=all, linger 5 ms, one producer), and the table shows per workload: records/s, MiB/s, produce
latency p50/p99/p99.9, the broker's CPU seconds per GiB produced (from /proc/PID/stat), its resident
memory after the run, for Sluice the object PUTs per GiB produced, the p99 of a segment PUT (the agent's
`sluice_segment_upload_seconds`, its last minute) and the object GETs (block fetches into the cache) per
GiB read cold, and the ratio Sluice / Kafka for each column. The client runs on the same
machine and shares its cores: compare ratios, not absolute numbers.

The `1k-txn` workload is the headline with a transactional producer committing every 100 ms and a
read_committed consumer (compare it with `1k`); for Sluice it also reports quorum commands and object
PUTs per transaction, from the agent's Prometheus metrics.

`--brokers ...,sluice-s3` adds Sluice on an S3-compatible server: `s3s-fs` (Rust, over a local directory;
installed into target/tools with `cargo install` on first use), a 3-node metadata quorum and one agent;
`sluice-moto` the same on moto's S3 server with one meta node, as a second opinion. For these the run ends
with issue 17's latency check: produce p99 against the agent's linger + PUT p99 + 20 ms.

`1p-catchup` reads one partition back twice: from the cache right after writing it, then after a restart
with the caches emptied (Sluice: its block cache, so every block comes from the object store; the kernel's
page cache too, dropped when run as root, for Kafka and for Sluice's local-directory store) -- one consumer
catching up from cold storage.

`groups` writes 1 GiB and drains it with a KIP-848 consumer group of 10 (Java KafkaConsumer,
group.protocol=consumer), then with a share group of 10 (KafkaShareConsumer, implicit acknowledgement),
from `tests/java` GroupDrain; the clock includes joining the group.

`1k` is also produced with librdkafka (confluent-kafka, one producer process per core, acks=all, linger
5 ms) into a second topic: "librdkafka produce MiB/s".

`tansu-memory` and `tansu-s3` add Tansu, the other object-storage broker in Rust (crates.io, installed into
target/tools on first use): its memory engine (nothing durable: what a broker can move on this machine) and
its S3 engine on moto's server (it needs conditional PUTs). The ratio rows compare each Sluice row with every
other broker.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import free_port, sluice_bin  # noqa: E402
from kafkatools import run_tool  # noqa: E402
from reference.kafka_ref import KafkaReference  # noqa: E402

GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Workload:
    name: str
    record_size: int
    records: int  # at the default --records scale (1.0)
    partitions: int
    txn_ms: int = 0  # > 0: a transactional producer committing every txn_ms (read_committed consumer)
    consume: bool = False  # consume it all after producing, from the broker's cache (just written)
    cold: bool = False  # then restart the broker with its caches emptied and consume it all again
    rdkafka: bool = False  # also produce it again with librdkafka (confluent-kafka) into a second topic
    drains: tuple = ()  # then drain it with a group of 10 consumers of each kind: "consumer" (KIP-848), "share"
    consumer_props: tuple = ()  # extra kafka-consumer-perf-test consumer settings ("key=value")


WORKLOADS = {
    "1k": Workload("1 KiB x 8 partitions", 1024, 1_500_000, 8, consume=True, rdkafka=True),
    "100b": Workload("100 B x 8 partitions", 100, 3_000_000, 8),
    "64k": Workload("64 KiB x 8 partitions", 65536, 24_000, 8),
    "1k-1000p": Workload("1 KiB x 1000 partitions", 1024, 1_000_000, 1000),
    "1k-txn": Workload("1 KiB x 8 partitions, 100 ms transactions", 1024, 1_500_000, 8, txn_ms=100,
                       consume=True),
    # One partition catching up: ~290 MiB written, then read from the cache and, after a restart with the
    # caches emptied, from the object store (Sluice) or the log files on disk (Kafka, page cache dropped).
    # The consumer asks for 16 MiB per fetch, as one tuned for catching up would: with the default 1 MiB
    # (max.partition.fetch.bytes) one partition's fetch round trips cap every broker near 30 MiB/s here.
    "1p-catchup": Workload("1 KiB x 1 partition, catch-up", 1024, 300_000, 1, consume=True, cold=True,
                           consumer_props=("max.partition.fetch.bytes=16777216",)),
    # 1 GiB drained by a KIP-848 consumer group of 10, then by a share group of 10 (Java clients, one JVM).
    "groups": Workload("1 KiB x 20 partitions, 1 GiB drained by groups of 10", 1024, 1 << 20, 20,
                       drains=("consumer", "share")),
}


@dataclass
class Result:
    records_per_s: float = 0.0
    mib_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    cpu_s_per_gib: float = 0.0
    rss_mib: float = 0.0
    consume_mib_per_s: float | None = None
    cold_consume_mib_per_s: float | None = None
    puts_per_gib: float | None = None
    put_p99_ms: float | None = None
    gets_per_gib: float | None = None
    rdkafka_mib_per_s: float | None = None
    drain_consumer_mib_per_s: float | None = None
    drain_share_mib_per_s: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def rss_mib(pid: int) -> float:
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) / 1024 if m else 0.0


# "1500000 records sent, 181028.3 records/sec (176.79 MB/sec), 160.9 ms avg latency, 700.0 ms max latency,
#  150 ms 50th, 300 ms 95th, 400 ms 99th, 600 ms 99.9th."
PRODUCE_SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\).*?(\d+) ms 50th, (\d+) ms 95th, "
    r"(\d+) ms 99th, (\d+) ms 99.9th")


class Broker:
    """One broker under test: start(), bootstrap, pid, stop()."""

    name: str
    bootstrap: str
    pid: int

    def start(self): ...
    def stop(self): ...

    def restart_cold(self):
        """Stops the broker, empties what it caches of the data (Sluice: the block cache; Kafka: the
        kernel's page cache, where the machine lets us), and starts it again on the same data."""
        ...


def drop_page_cache() -> bool:
    """Drops the kernel's clean page cache (needs root); False where the machine does not allow it."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return True
    except OSError:
        return False


class KafkaBroker(Broker):
    def __init__(self, name: str, workdir: Path, props: dict):
        self.name = name
        self.ref = KafkaReference(workdir / name, props=props, fast_start=False, heap="2g", log_level="WARN")

    def start(self):
        self.ref.start()
        self.bootstrap, self.pid = self.ref.bootstrap, self.ref.proc.pid

    def stop(self):
        self.ref.close()

    def restart_cold(self):
        self.ref.stop()
        if not drop_page_cache():
            print(" (page cache not dropped: not root)", end="", flush=True)
        self.start()


class SluiceBroker(Broker):
    def __init__(self, name: str, workdir: Path, args: list[str]):
        self.name, self.workdir, self.args = name, workdir / name, args
        self.proc = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        log = open(self.workdir / "sluice.log", "wb")
        self.metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
        self.proc = subprocess.Popen([sluice_bin(), "dev", "--data-dir", str(self.workdir / "data"), "--listen",
                                      self.bootstrap, "--metrics-listen", self.metrics_url[7:-8], *self.args],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"Sluice ready" not in (self.workdir / "sluice.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sluice did not start: {(self.workdir / 'sluice.log').read_text()[-2000:]}")
            time.sleep(0.1)
        self.pid = self.proc.pid

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)

    def restart_cold(self):
        self.stop()
        # The block cache goes with the process (older builds also kept a disk tier in <data-dir>/cache);
        # the objects are local files, so the page cache goes too, as for Kafka.
        shutil.rmtree(self.workdir / "data" / "cache", ignore_errors=True)
        if not drop_page_cache():
            print(" (page cache not dropped: not root)", end="", flush=True)
        self.start()


class SluiceS3Broker(Broker):
    """`sluice meta` nodes (1 or 3, a raft quorum) and one `sluice agent` on an S3-compatible server started
    here: `s3s-fs` (a Rust server over a local directory, so the S3 server is not the bottleneck) or moto's
    (Python, single-threaded: a second opinion). What changes against `sluice dev` is the object store's
    latency and request path and the quorum's commit round trips. The CPU and memory columns are the
    agent's; the counters are the agent's and the meta nodes' summed."""

    linger_ms = 250  # the agent's default `--linger-ms` on a remote object store (issue 17's latency goal)

    def __init__(self, name: str, workdir: Path, server: str = "s3s", meta_nodes: int = 3):
        self.name, self.workdir, self.server, self.meta_nodes = name, workdir / name, server, meta_nodes
        self.procs: list[subprocess.Popen] = []
        self.s3 = None

    def _spawn(self, args: list[str], log_name: str, ready: bytes, env: dict | None = None) -> subprocess.Popen:
        log_path = self.workdir / log_name
        proc = subprocess.Popen([sluice_bin(), *args], stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
                                env=env)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while ready not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{log_name} did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        return proc

    def start(self):
        from s3server import S3_ENV, MotoServer, S3sFsServer
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.s3 = S3sFsServer(self.workdir) if self.server == "s3s" else MotoServer(self.workdir)
        self.s3.create_bucket("bench")
        ports = {i: free_port() for i in range(1, self.meta_nodes + 1)}
        peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
        self.metrics_urls = []
        for i, port in ports.items():
            (self.workdir / f"meta{i}").mkdir(exist_ok=True)
            url = f"http://127.0.0.1:{free_port()}/metrics"
            self.metrics_urls.append(url)
            self._spawn(["meta", "--id", str(i), "--data-dir", str(self.workdir / f"meta{i}"), "--listen",
                         f"127.0.0.1:{port}", "--peers", peers, "--bootstrap", "--metrics-listen", url[7:-8]],
                        f"meta{i}.log", f"meta node {i} ready".encode())
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        agent_metrics = f"http://127.0.0.1:{free_port()}/metrics"
        self.metrics_urls.append(agent_metrics)
        (self.workdir / "cache").mkdir(exist_ok=True)
        meta = ",".join(f"http://127.0.0.1:{p}" for p in ports.values())
        self.agent_args = ["agent", "--meta", meta, "--object-store", "s3://bench/c", "--s3-endpoint",
                           self.s3.endpoint, "--cache-dir", str(self.workdir / "cache"), "--listen", self.bootstrap,
                           "--agent-id", "1", "--metrics-listen", agent_metrics[7:-8]]
        self.agent_env = dict(os.environ, **S3_ENV)
        self.agent = self._spawn(self.agent_args, "agent.log", b"Sluice ready", env=self.agent_env)
        self.pid = self.agent.pid

    def restart_cold(self):
        self.agent.terminate()
        self.agent.wait(30)
        self.procs.remove(self.agent)
        shutil.rmtree(self.workdir / "cache", ignore_errors=True)
        (self.workdir / "cache").mkdir()
        (self.workdir / "agent.log").rename(self.workdir / f"agent-{time.time():.0f}.log")
        self.agent = self._spawn(self.agent_args, "agent.log", b"Sluice ready", env=self.agent_env)
        self.pid = self.agent.pid

    def stop(self):
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(30)
        if self.s3:
            self.s3.close()


TANSU_VERSION = "0.6.0"


def tansu_bin() -> str:
    """Tansu (crates.io `tansu`, the other object-storage broker in Rust), installed into target/tools on
    first use with `cargo install` (tens of minutes on 2 cores, once)."""
    root = Path(__file__).resolve().parent.parent / "target" / "tools"
    exe = root / "bin" / "tansu"
    if not exe.exists():
        print(f"installing tansu {TANSU_VERSION} into {root} (cargo install, once; slow) ...", flush=True)
        subprocess.run(["cargo", "install", "--quiet", "tansu", "--version", TANSU_VERSION, "--features", "dynostore",
                        "--root", str(root)], check=True)
    return str(exe)


class TansuBroker(Broker):
    """Tansu's broker: its memory engine (`memory://`, nothing durable: the bound of what a broker on this
    machine and these clients can move) or its S3 engine on moto's server (it needs conditional PUTs).
    Tansu 0.6 has neither KIP-848 consumer groups nor share groups: no group drains."""

    group_protocols = False

    def __init__(self, name: str, workdir: Path, engine: str):
        self.name, self.workdir, self.engine = name, workdir / name, engine
        self.proc, self.s3 = None, None

    def start(self, s3=None):
        from s3server import S3_ENV, MotoServer
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        url = "memory://tansu/"
        if self.engine == "s3":
            self.s3 = s3
            if self.s3 is None:
                self.s3 = MotoServer(self.workdir)
                self.s3.create_bucket("tansu")
            env.update(S3_ENV, AWS_ENDPOINT=self.s3.endpoint, AWS_ALLOW_HTTP="true")
            url = "s3://tansu/"
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        log = self.workdir / "tansu.log"
        self.proc = subprocess.Popen([tansu_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                                      "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine", url],
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        import socket
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tansu did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        self.pid = self.proc.pid

    def restart_cold(self):
        # The broker only: the S3 server keeps the data (the memory engine loses it all, so its cold
        # consume reads nothing and reports 0).
        self.proc.terminate()
        self.proc.wait(30)
        s3, self.s3 = self.s3, None
        self.start(s3)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)
        if self.s3:
            self.s3.close()


def consume_all(b: Broker, topic: str, messages: int, read_committed: bool, props: tuple = ()) -> float | None:
    """MiB/s of one `kafka-consumer-perf-test` run reading `messages` records of `topic` from the start
    (`props`: extra consumer settings, "key=value")."""
    conf = Path(tempfile.mkstemp(suffix=".properties")[1])
    conf.write_text(f"isolation.level={'read_committed' if read_committed else 'read_uncommitted'}\n"
                    + "".join(f"{kv}\n" for kv in props))
    c = run_tool("kafka-consumer-perf-test", "--bootstrap-server", b.bootstrap, "--topic", topic,
                 "--messages", str(messages), "--timeout", "120000", "--consumer.config", str(conf),
                 timeout=3600)
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
    rows = [ln.split(",") for ln in c.stdout.splitlines() if ln.count(",") >= 5 and ln[0].isdigit()]
    return float(rows[-1][3]) * 1e6 / (1 << 20) if rows else None


# librdkafka (confluent-kafka) as a second producer: one process per core, each sending its share of the
# records with acks=all and linger 5 ms, as fast as librdkafka takes them; prints MiB/s delivered.
RDKAFKA_PRODUCER = r"""
import os, sys, time
from multiprocessing import get_context
from confluent_kafka import Producer

def send(args):
    bootstrap, topic, n, size = args
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1048576,
                  "queue.buffering.max.kbytes": 262144, "enable.idempotence": False})
    value, failed = os.urandom(size), []
    cb = lambda err, _msg: failed.append(err) if err else None
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.005)
    p.flush(300)
    return len(failed)

bootstrap, topic, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
procs = os.cpu_count() or 1
t0 = time.monotonic()
with get_context("fork").Pool(procs) as pool:
    failed = sum(pool.map(send, [(bootstrap, topic, n // procs, size)] * procs))
elapsed = time.monotonic() - t0
print(f"RDKAFKA {n // procs * procs} {failed} {elapsed:.3f}")
"""


def rdkafka_produce(b: Broker, topic: str, records: int, size: int) -> float | None:
    """MiB/s that librdkafka producers (confluent-kafka, one process per core) deliver to `topic`."""
    r = subprocess.run([sys.executable, "-c", RDKAFKA_PRODUCER, b.bootstrap, topic, str(records), str(size)],
                       capture_output=True, text=True, timeout=1800)
    m = re.search(r"RDKAFKA (\d+) (\d+) ([\d.]+)", r.stdout)
    if r.returncode != 0 or m is None or int(m.group(2)):
        print(f" (librdkafka producer failed: {(r.stderr or r.stdout)[-300:]})", end="", flush=True)
        return None
    return int(m.group(1)) * size / (1 << 20) / float(m.group(3))


def drain(b: Broker, topic: str, records: int, kind: str, consumers: int = 10) -> float | None:
    """MiB/s at which a group of `consumers` Java consumers (tests/java GroupDrain: `kind` "consumer" is a
    KIP-848 group, "share" a KIP-932 share group) receives `records` records of `topic`, joining included."""
    from reference.kafka_ref import clients_classpath, java_cmd
    cmd = java_cmd(clients_classpath(), "GroupDrain", b.bootstrap, f"{topic}-{kind}", topic, str(consumers),
                   str(records), kind, heap="1g", fast_start=False)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    m = re.search(r"DRAINED (\d+) (\d+) ([\d.]+)", r.stdout)
    if r.returncode != 0 or m is None:
        print(f" ({kind} drain failed: {(r.stderr or r.stdout)[-300:]})", end="", flush=True)
        return None
    return int(m.group(2)) / (1 << 20) / float(m.group(3))


def run_workload(b: Broker, w: Workload, records: int) -> Result:
    topic = f"bench-{w.record_size}-{w.partitions}-{int(time.time())}"
    run_tool("kafka-topics", "--bootstrap-server", b.bootstrap, "--create", "--topic", topic, "--partitions",
             str(w.partitions), "--replication-factor", "1", check=True)
    txn_args = (["--transactional-id", f"{topic}-txn", "--transaction-duration-ms", str(w.txn_ms)]
                if w.txn_ms else [])
    counters0 = sluice_counters(b)
    cpu0 = cpu_seconds(b.pid)
    r = run_tool("kafka-producer-perf-test", "--topic", topic, "--num-records", str(records), "--record-size",
                 str(w.record_size), "--throughput", "-1", *txn_args,
                 "--producer-props", f"bootstrap.servers={b.bootstrap}",
                 "acks=all", "linger.ms=5", "batch.size=1048576", "max.request.size=10485760",
                 "buffer.memory=268435456", timeout=3600)
    cpu1 = cpu_seconds(b.pid)
    counters1 = sluice_counters(b)
    m = PRODUCE_SUMMARY.search(r.stdout)
    if r.returncode != 0 or m is None:
        return Result(error=(r.stderr or r.stdout)[-300:])
    sent = int(m.group(1))
    gib = sent * w.record_size / GIB
    res = Result(records_per_s=float(m.group(2)), mib_per_s=float(m.group(2)) * w.record_size / (1 << 20),
                 p50_ms=float(m.group(4)), p99_ms=float(m.group(6)), p999_ms=float(m.group(7)),
                 cpu_s_per_gib=(cpu1 - cpu0) / gib if gib else 0.0, rss_mib=rss_mib(b.pid))
    if counters0 is not None and counters1 is not None:
        delta = {k: counters1.get(k, 0) - counters0.get(k, 0) for k in counters1}
        if gib:
            res.puts_per_gib = delta.get("sluice_segment_upload_seconds_count", 0) / gib
        q99 = counters1.get('sluice_segment_upload_seconds{quantile="0.99"}')
        if q99 is not None and delta.get("sluice_segment_upload_seconds_count", 0):
            res.put_p99_ms = q99 * 1000  # only the agent records it: the sum over nodes is the agent's
        txns = delta.get('sluice_meta_proposals_total{kind="txn_end"}', 0)
        if txns:
            quorum = sum(v for k, v in delta.items() if k.startswith("sluice_meta_proposals_total")
                         and "commit_segment" not in k and "agent_heartbeat" not in k)
            res.extra = {"transactions": txns, "quorum commands per transaction (besides segment commits)":
                         quorum / txns, "object PUTs per transaction":
                         delta.get("sluice_segment_upload_seconds_count", 0) / txns}
    if w.consume:
        res.consume_mib_per_s = consume_all(b, topic, sent, bool(w.txn_ms), w.consumer_props)
    if w.rdkafka:
        run_tool("kafka-topics", "--bootstrap-server", b.bootstrap, "--create", "--topic", f"{topic}-rdkafka",
                 "--partitions", str(w.partitions), "--replication-factor", "1", check=True)
        res.rdkafka_mib_per_s = rdkafka_produce(b, f"{topic}-rdkafka", sent, w.record_size)
    for kind in w.drains if getattr(b, "group_protocols", True) else ():
        setattr(res, f"drain_{kind}_mib_per_s", drain(b, topic, sent, kind))
    if w.cold:
        b.restart_cold()
        before = sluice_counters(b)
        res.cold_consume_mib_per_s = consume_all(b, topic, sent, bool(w.txn_ms), w.consumer_props)
        after = sluice_counters(b)
        if before is not None and after is not None and gib:
            key = "sluice_cache_block_fetches_total"
            res.gets_per_gib = (after.get(key, 0) - before.get(key, 0)) / gib
    return res


def sluice_counters(b: Broker) -> dict | None:
    """Sluice's Prometheus counters (name{labels} -> value; the agent's and, when separate, the meta
    node's, summed), None for other brokers."""
    urls = getattr(b, "metrics_urls", None) or [u for u in (getattr(b, "metrics_url", None),) if u]
    if not urls:
        return None
    import urllib.request
    out = {}
    for url in urls:
        for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = out.get(name, 0.0) + float(value)
                except ValueError:
                    pass
    return out


COLUMNS = [("records/s", "records_per_s", "{:,.0f}"), ("MiB/s", "mib_per_s", "{:.1f}"),
           ("p50 ms", "p50_ms", "{:.0f}"), ("p99 ms", "p99_ms", "{:.0f}"), ("p99.9 ms", "p999_ms", "{:.0f}"),
           ("CPU s/GiB", "cpu_s_per_gib", "{:.1f}"), ("RSS MiB", "rss_mib", "{:.0f}"),
           ("consume MiB/s", "consume_mib_per_s", "{:.1f}"), ("cold consume MiB/s", "cold_consume_mib_per_s", "{:.1f}"),
           ("PUTs/GiB", "puts_per_gib", "{:.1f}"), ("PUT p99 ms", "put_p99_ms", "{:.0f}"),
           ("GETs/GiB", "gets_per_gib", "{:.0f}"),
           ("librdkafka produce MiB/s", "rdkafka_mib_per_s", "{:.1f}"),
           ("KIP-848 group drain MiB/s", "drain_consumer_mib_per_s", "{:.1f}"),
           ("share group drain MiB/s", "drain_share_mib_per_s", "{:.1f}")]


def print_table(results: dict, brokers: list[str], workloads: list[str]):
    print()
    print("| workload | broker | " + " | ".join(c for c, _, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for wk in workloads:
        for b in brokers:
            r = results.get((b, wk))
            if r is None:
                continue
            if r.error:
                print(f"| {WORKLOADS[wk].name} | {b} | error: {r.error.splitlines()[-1] if r.error else ''} |")
                continue
            cells = [("-" if getattr(r, a) is None else f.format(getattr(r, a))) for _, a, f in COLUMNS]
            print(f"| {WORKLOADS[wk].name} | {b} | " + " | ".join(cells) + " |")
        for ours in [b for b in brokers if b.startswith("sluice")]:
            sl = results.get((ours, wk))
            for base in [b for b in brokers if not b.startswith("sluice")]:
                k = results.get((base, wk))
                if not sl or not k or sl.error or k.error:
                    continue
                cells = []
                for _, a, _f in COLUMNS:
                    x, y = getattr(sl, a), getattr(k, a)
                    cells.append(f"{x / y:.2f}x" if x is not None and y else "-")
                print(f"| {WORKLOADS[wk].name} | {ours} / {base} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=float, default=1.0, help="scale of each workload's record count")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    ap.add_argument("--brokers", default="kafka,kafka-flush,sluice", help="comma list of kafka, kafka-flush, sluice, sluice-s3 (s3s-fs, 3 meta nodes), "
                    "sluice-moto (moto's S3 server, 1 meta node), tansu-memory (not durable), tansu-s3 (moto)")
    args = ap.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    names = [b for b in args.brokers.split(",") if b]
    tmp = Path(tempfile.mkdtemp(prefix="sluice-compare-"))
    makers = {"kafka": lambda: KafkaBroker("kafka", tmp, {}),
              "kafka-flush": lambda: KafkaBroker("kafka-flush", tmp, {"log.flush.interval.messages": "1"}),
              "sluice": lambda: SluiceBroker("sluice", tmp, []),
              "sluice-s3": lambda: SluiceS3Broker("sluice-s3", tmp),
              "sluice-moto": lambda: SluiceS3Broker("sluice-moto", tmp, server="moto", meta_nodes=1),
              "tansu-memory": lambda: TansuBroker("tansu-memory", tmp, "memory"),
              "tansu-s3": lambda: TansuBroker("tansu-s3", tmp, "s3")}
    results, makers_built = {}, {}
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB; "
          f"work dir {tmp}", flush=True)
    try:
        for name in names:
            b = makers_built[name] = makers[name]()
            print(f"[{name}] starting", flush=True)
            b.start()
            try:
                for wk in workloads:
                    w = WORKLOADS[wk]
                    n = max(1000, int(w.records * args.records))
                    t0 = time.monotonic()
                    print(f"[{name}] {w.name}: {n:,} records ...", end="", flush=True)
                    results[(name, wk)] = r = run_workload(b, w, n)
                    print(f" {r.mib_per_s:.1f} MiB/s, p99 {r.p99_ms:.0f} ms ({time.monotonic() - t0:.0f}s)"
                          if not r.error else f" error: {r.error[-200:]}", flush=True)
            finally:
                b.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results, names, workloads)
    for (name, wk), r in results.items():
        for k, v in r.extra.items():
            print(f"{name} {WORKLOADS[wk].name}: {k}: {v:,.2f}")
    for (name, wk), r in results.items():
        linger = getattr(makers_built.get(name), "linger_ms", None)
        if linger is not None and r.put_p99_ms is not None and not r.error:
            bound = linger + r.put_p99_ms + 20
            print(f"{name} {WORKLOADS[wk].name}: produce p99 {r.p99_ms:.0f} ms against linger {linger} + PUT p99 "
                  f"{r.put_p99_ms:.0f} + 20 = {bound:.0f} ms: {'met' if r.p99_ms <= bound else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
