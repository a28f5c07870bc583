"""Share-group throughput on a running Sluice (`sluice dev`): N ShareConsumer processes in one
group drain a topic; reports records/s and raft entries per 1,000 records delivered (read from
the metadata node's change feed: /api/changes).

    python3 benches/share_throughput.py --bootstrap 127.0.0.1:9092 --meta http://127.0.0.1:PORT \
        --records 200000 --consumers 4
"""

import argparse
import json
import multiprocessing as mp
import time
import urllib.request

from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType


def consume(bs, group, topic, expected, counter, done):
    c = ShareConsumer({"bootstrap.servers": bs, "group.id": group, "log_level": 3})
    c.subscribe([topic])
    while counter.value < expected and not done.is_set():
        ms = c.poll(0.5) or []
        n = sum(1 for m in ms if m.error() is None)
        if n:
            with counter.get_lock():
                counter.value += n
    c.close()


def start_dev(sluice, port, data_dir, env=None):
    """Starts `sluice dev` on 127.0.0.1:`port` with its data in `data_dir` (env: the process's
    environment, default inherited); returns (process, metadata node URL) once it is ready."""
    import re
    import subprocess
    proc = subprocess.Popen([sluice, "dev", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    meta = None
    for line in proc.stdout:
        m = re.search(r"metadata node \d+ up at (\S+)", line)
        if m:
            meta = f"http://{m.group(1)}"
        if "Sluice ready" in line:
            break
    return proc, meta


def feed_entries(meta, after):
    """Counts change-feed entries after `after` by command kind."""
    kinds = {}
    last = after
    while True:
        with urllib.request.urlopen(f"{meta}/api/changes?after={last}&wait_ms=0") as r:
            body = json.load(r)
        if "snapshot" in body:  # older than the feed's window: skip to what it reflects
            last = body["snapshot"]["index"]
            continue
        entries = body.get("entries") or []
        if not entries:
            return kinds, last
        for e in entries:
            cmd = e.get("command")
            kind = "blank" if cmd is None else (next(iter(cmd)) if isinstance(cmd, dict) else cmd)
            if kind in ("Share", "Group"):
                kind = f"{kind}/" + next(iter(cmd[kind]))
            kinds[kind] = kinds.get(kind, 0) + 1
            last = e["index"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--meta", required=True)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--consumers", type=int, default=4)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--value-size", type=int, default=100)
    a = ap.parse_args()
    topic, group = f"share-bench-{int(time.time())}", f"share-bench-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.create_topics([NewTopic(topic, a.partitions, 1)])[topic].result()
    entry = ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)
    for f in admin.incremental_alter_configs([ConfigResource(ResourceType.GROUP, group, incremental_configs=[entry])]).values():
        f.result()
    p = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    value = b"x" * a.value_size
    for i in range(a.records):
        while True:
            try:
                p.produce(topic, value=value, partition=i % a.partitions)
                break
            except BufferError:
                p.poll(0.05)
    p.flush()
    _, start_index = feed_entries(a.meta, 0)
    counter, done = mp.Value("q", 0), mp.Event()
    t0 = time.monotonic()
    procs = [mp.Process(target=consume, args=(a.bootstrap, group, topic, a.records, counter, done))
             for _ in range(a.consumers)]
    for pr in procs:
        pr.start()
    while counter.value < a.records:
        time.sleep(1)
        print(f"  {counter.value} records delivered", flush=True)
    elapsed = time.monotonic() - t0
    done.set()
    for pr in procs:
        pr.join(30)
    kinds, _ = feed_entries(a.meta, start_index)
    share_entries = sum(v for k, v in kinds.items() if k.startswith("Share/"))
    print(json.dumps({
        "records": counter.value, "consumers": a.consumers, "seconds": round(elapsed, 2),
        "records_per_sec": round(counter.value / elapsed), "raft_entries_by_kind": kinds,
        "share_raft_entries_per_1000_records": round(share_entries * 1000 / max(counter.value, 1), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
