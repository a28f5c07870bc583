"""Topics as tables: write throughput, produce-to-queryable lag and extra PUTs, on `sluice dev`.

Starts `sluice dev` (fresh data dir), then
1. throughput: produces --records JSON records to an 8-partition topic without the table
   config, turns `sluice.table.enable` on, and times the table job catching up: MiB of topic
   data (key + value + headers) per CPU-second of the sluice process (/proc/PID/stat);
2. lag: with `sluice.table.lag.ms` = --lag-ms, produces one record at a time and polls DuckDB's
   iceberg_scan until it shows it, --samples times;
3. PUTs: counts the objects written under tables/ (+ one version-hint rewrite per commit).

    python3 benches/table_bench.py --bin target/release/sluice --records 1000000
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType  # noqa: E402

from tables import connect, iceberg, iceberg_count  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table_objects(objects: Path, topic: str):
    d = objects / "tables" / topic
    files = [p for p in d.rglob("*") if p.is_file()]
    commits = sum(1 for p in files if p.name.endswith(".metadata.json"))
    return len(files), commits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/sluice")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--lag-ms", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=10)
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="table-bench-"))
    port = free_port()
    bs = f"127.0.0.1:{port}"
    log = open(work / "dev.log", "wb")
    dev = subprocess.Popen([a.bin, "dev", "--data-dir", str(work), "--listen", bs], stdout=log, stderr=log)
    objects = work / "objects"
    try:
        deadline = time.time() + 60
        while b"Sluice ready" not in (work / "dev.log").read_bytes():
            assert time.time() < deadline and dev.poll() is None, "sluice dev did not start"
            time.sleep(0.1)
        adm = AdminClient({"bootstrap.servers": bs})
        topic = "bench"
        adm.create_topics([NewTopic(topic, 8, 1)])[topic].result()
        p = Producer({"bootstrap.servers": bs, "linger.ms": 50, "compression.type": "lz4",
                      "batch.size": 1 << 20, "queue.buffering.max.messages": 1_000_000})
        payload = 0
        for i in range(a.records):
            v = json.dumps({"id": i, "amount": i % 1000, "name": f"customer-{i % 5000}",
                            "ok": i % 3 == 0, "score": random.random()}).encode()
            k = f"k{i}".encode()
            payload += len(v) + len(k)
            while True:
                try:
                    p.produce(topic, value=v, key=k, partition=i % 8)
                    break
                except BufferError:
                    p.poll(0.1)
        assert p.flush(300) == 0
        mib = payload / (1 << 20)
        print(f"produced {a.records} records, {mib:.1f} MiB of keys+values", flush=True)

        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("sluice.table.enable", "true", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("sluice.table.lag.ms", str(a.lag_ms), incremental_operation=AlterConfigOpType.SET)])
        cpu0, t0 = cpu_seconds(dev.pid), time.time()
        adm.incremental_alter_configs([res])[res].result()
        while iceberg_count(objects, topic) < a.records:
            time.sleep(0.2)
        wall, cpu = time.time() - t0, cpu_seconds(dev.pid) - cpu0
        files, commits = table_objects(objects, topic)
        puts = files + commits  # each file once, plus the version hint rewritten per commit
        print(json.dumps({"catch_up": {"records": a.records, "mib": round(mib, 1), "wall_s": round(wall, 2),
                                        "cpu_s": round(cpu, 2), "mib_per_cpu_s": round(mib / cpu, 1),
                                        "commits": commits, "puts": puts,
                                        "puts_per_gib": round(puts / (mib / 1024), 1)}}), flush=True)

        lags = []
        p2 = Producer({"bootstrap.servers": bs, "linger.ms": 0})
        with connect() as c:
            for s in range(a.samples):
                marker = 10_000_000 + s
                p2.produce(topic, value=json.dumps({"id": marker}).encode(), partition=s % 8)
                p2.flush(30)
                t = time.time()
                while c.execute(f"select count(*) from {iceberg(objects, topic)} where id = {marker}").fetchone()[0] == 0:
                    time.sleep(0.05)
                lags.append(time.time() - t)
        print(json.dumps({"lag_s": {"lag_ms_config": a.lag_ms, "samples": len(lags),
                                    "p50": round(statistics.median(lags), 2), "max": round(max(lags), 2)}}))
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(30)


if __name__ == "__main__":
    main()
