"""Scale-out benchmark on S3 (moto): produce throughput and latency through 1 agent, then 2, with the
default S3 linger (250 ms), against a 3-node metadata quorum; plus the quorum's commit latency.

    cargo build --release && python3 benches/scale_out.py            # ~2 minutes on 2 cores
    python3 benches/scale_out.py --duration 30 --connections 16 --in-flight 16

What it starts (all on 127.0.0.1, free ports, a temporary directory): `moto_server` (pip
'moto[s3]' flask flask-cors) with one bucket, 3 `sluice meta` nodes bootstrapped with --peers,
and `sluice agent`s on s3://BUCKET/bench with --metrics-listen. Then, per phase, `sluice bench
produce --json` for --duration seconds on a fresh topic:

- phase 1: one agent leads every partition; the bench opens --connections connections to it;
- phase 2: a second agent joins; Metadata spreads the partitions over both and the bench opens
  --connections / 2 to each, so the client's total concurrency (connections x in-flight requests,
  each request --partitions-per-request batches of --batch-records records) is the same.

The defaults keep enough requests in flight that the client is not the bottleneck: with a 250 ms
linger a connection's throughput is at most in-flight x records-per-request / latency (the agent
serves at most 16 requests of a connection at once). The raft commit p50/p99 are read from the
meta leader's `sluice_meta_raft_commit_seconds` histogram (bucket deltas over the phase,
interpolated as Prometheus' histogram_quantile does), so they come from the very run measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import SluiceProcess, free_port, sluice_bin  # noqa: E402
from helpers import admin, histogram_buckets, histogram_quantile, scrape_metrics  # noqa: E402

BUCKET = "sluice-bench"
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
          "AWS_DEFAULT_REGION": "us-east-1"}
COMMIT = "sluice_meta_raft_commit_seconds"


def start_moto(workdir: Path):
    import boto3
    exe = shutil.which("moto_server")
    if not exe:
        sys.exit("moto_server not found: pip install 'moto[s3]' flask flask-cors")
    port = free_port()
    log = open(workdir / "moto.log", "wb")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                      region_name="us-east-1")
    deadline = time.monotonic() + 30
    while True:
        try:
            s3.create_bucket(Bucket=BUCKET)
            return proc, endpoint
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)


def start_meta_quorum(workdir: Path, n: int = 3):
    ports = {i: free_port() for i in range(1, n + 1)}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    nodes = []
    for i, port in ports.items():
        data = workdir / f"meta{i}"
        data.mkdir()
        mport = free_port()
        p = SluiceProcess(f"meta{i}", ["meta", "--id", str(i), "--data-dir", str(data), "--listen",
                                       f"127.0.0.1:{port}", "--peers", peers, "--bootstrap",
                                       "--metrics-listen", f"127.0.0.1:{mport}"],
                          workdir, f"meta node {i} ready", port)
        p.url = f"http://127.0.0.1:{port}"
        p.metrics = f"http://127.0.0.1:{mport}/metrics"
        nodes.append(p.start())
    return nodes


def start_agent(workdir: Path, meta_urls: str, endpoint: str, agent_id: int):
    port, mport = free_port(), free_port()
    cache = workdir / f"agent{agent_id}-cache"
    cache.mkdir()
    p = SluiceProcess(f"agent{agent_id}", ["agent", "--meta", meta_urls, "--object-store", f"s3://{BUCKET}/bench",
                                           "--s3-endpoint", endpoint, "--cache-dir", str(cache),
                                           "--listen", f"127.0.0.1:{port}", "--agent-id", str(agent_id),
                                           "--metrics-listen", f"127.0.0.1:{mport}"],
                      workdir, "Sluice ready", port, env=dict(os.environ, **S3_ENV))
    p.metrics = f"http://127.0.0.1:{mport}/metrics"
    return p.start()


def wait_brokers(bootstrap: str, want: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while len(admin(bootstrap).list_topics(timeout=10).brokers) != want:
        if time.monotonic() > deadline:
            sys.exit(f"Metadata never listed {want} agents")
        time.sleep(0.2)


def commit_buckets(meta_nodes) -> list[tuple[float, float]]:
    """The commit histogram summed over the meta nodes (only a leader records; a leader change
    mid-run would spread it over two)."""
    total: dict[float, float] = {}
    for n in meta_nodes:
        for le, c in histogram_buckets(scrape_metrics(n.metrics), COMMIT):
            total[le] = total.get(le, 0.0) + c
    return sorted(total.items())


def counter_sum(procs, name: str) -> float:
    return sum(v for p in procs for (n, _), v in scrape_metrics(p.metrics).items() if n == name)


def run_phase(label, args, bootstrap, connections_per_agent, meta_nodes, agents) -> dict:
    before = commit_buckets(meta_nodes)
    flushes_before = counter_sum(agents, "sluice_segments_flushed_total")
    cmd = [sluice_bin(), "bench", "produce", "--bootstrap", bootstrap, "--topic", f"scale-{label}",
           "--partitions", str(args.partitions), "--record-size", str(args.record_size),
           "--batch-records", str(args.batch_records), "--partitions-per-request", str(args.partitions_per_request),
           "--connections", str(connections_per_agent), "--in-flight", str(args.in_flight),
           "--duration-secs", str(args.duration), "--json"]
    print(f"[{label}] {' '.join(cmd[1:])}", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    after = commit_buckets(meta_nodes)
    result["raft_commits"] = (after[-1][1] - dict(before).get(float("inf"), 0.0)) if after else 0
    result["raft_p50_ms"] = (histogram_quantile(before, after, 0.50) or 0) * 1000
    result["raft_p99_ms"] = (histogram_quantile(before, after, 0.99) or 0) * 1000
    result["flushes"] = counter_sum(agents, "sluice_segments_flushed_total") - flushes_before
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=20, help="seconds of produce per phase")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--batch-records", type=int, default=32)
    ap.add_argument("--partitions-per-request", type=int, default=4,
                    help="batches per Produce request (same in both phases, so requests are alike)")
    ap.add_argument("--connections", type=int, default=16, help="total client connections (split over agents)")
    ap.add_argument("--in-flight", type=int, default=16, help="Produce requests outstanding per connection")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (logs)")
    args = ap.parse_args()
    if args.connections % 2:
        sys.exit("--connections must be even (split over 2 agents)")

    workdir = Path(tempfile.mkdtemp(prefix="sluice-scale-out-"))
    procs, moto = [], None
    try:
        moto, endpoint = start_moto(workdir)
        meta = start_meta_quorum(workdir)
        procs += meta
        meta_urls = ",".join(n.url for n in meta)
        a1 = start_agent(workdir, meta_urls, endpoint, 1)
        procs.append(a1)
        wait_brokers(a1.bootstrap, 1)
        one = run_phase("1-agent", args, a1.bootstrap, args.connections, meta, [a1])
        a2 = start_agent(workdir, meta_urls, endpoint, 2)
        procs.append(a2)
        wait_brokers(a1.bootstrap, 2)
        two = run_phase("2-agents", args, a1.bootstrap, args.connections // 2, meta, [a1, a2])
    finally:
        for p in reversed(procs):
            if p.alive():
                p.stop(check=False)
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=10)
        if args.keep:
            print(f"logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nscale-out on moto S3, default linger (250 ms), 3 meta nodes; {args.record_size} B records, "
          f"{args.partitions} partitions, {args.connections} connections x {args.in_flight} in flight, "
          f"{args.partitions_per_request} x {args.batch_records}-record batches per request, "
          f"{args.duration} s per phase")
    print(f"{'agents':>6} {'brokers':>7} {'records/s':>10} {'MiB/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'flushes':>7} {'raft commits':>12} {'raft p50 ms':>11} {'raft p99 ms':>11}")
    for n, r in ((1, one), (2, two)):
        lat = r["latency"]
        print(f"{n:>6} {r['brokers']:>7} {r['records_per_sec']:>10.0f} {r['mib_per_sec']:>7.1f} "
              f"{lat['p50_ms']:>7.1f} {lat['p99_ms']:>7.1f} {r['flushes']:>7.0f} {r['raft_commits']:>12.0f} "
              f"{r['raft_p50_ms']:>11.2f} {r['raft_p99_ms']:>11.2f}")
    print(f"2 agents / 1 agent throughput: {two['records_per_sec'] / max(one['records_per_sec'], 1):.2f}x")


if __name__ == "__main__":
    main()
