"""Storage lifecycle benchmark (issue 14): compaction throughput, storage amplification before and after,
and the cold catch-up read throughput of one partition before and after segment compaction.

    python3 benches/lifecycle.py [--mib 40] [--partitions 4] [--flush-kib 256]   # issue 14 report: --mib 200 --partitions 2

One `sluice dev` (file:// store, no disk cache tier so a restart makes the read cache cold):
1. compaction off: writes two topics side by side in small flushes (--flush-kib each), one kept forever and
   one with retention.ms=1 s, waits for retention; measures object bytes / live bytes and a cold read of
   one partition of the kept topic;
2. restarts with compaction on, waits until every flush object is gone, and measures again, with the
   compaction throughput from the agent's `compaction pass` log lines (input bytes / seconds; the agent
   compacts on one task, i.e. one core at most).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from confluent_kafka import TopicPartition  # noqa: E402

from conftest import Cluster  # noqa: E402
from helpers import DeliveryLog, consumer, create_topic, produce_all, producer  # noqa: E402


def seg_bytes(objects: Path) -> tuple[int, int, int]:
    """(bytes of all objects, bytes of flush objects, number of objects)."""
    sizes = {}
    for f in (objects / "segments").glob("*.seg"):
        try:
            sizes[f.name] = f.stat().st_size
        except FileNotFoundError:  # deleted by the janitor meanwhile
            pass
    return (sum(sizes.values()), sum(v for k, v in sizes.items() if not k.startswith("c-")), len(sizes))


def cold_read(bootstrap: str, topic: str, partition: int, records: int) -> float:
    """MiB/s (of record values) reading one partition from offset 0 to its end with kcat (librdkafka,
    printing nothing per record: the broker's read path, not a Python loop, is what is timed), or, without
    kcat, confluent-kafka timed from the first record."""
    if shutil.which("kcat"):
        t0 = time.monotonic()
        r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o", "beginning",
                            "-c", str(records), "-e", "-q", "-f", "%S\n",
                            "-X", "fetch.max.bytes=52428800", "-X", "max.partition.fetch.bytes=52428800"],
                           capture_output=True, text=True, timeout=600, check=True)
        secs = time.monotonic() - t0
        sizes = [int(x) for x in r.stdout.split()]
        assert len(sizes) == records, f"kcat read {len(sizes)} of {records} records"
        return sum(sizes) / secs / (1 << 20)
    c = consumer(bootstrap, **{"fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 52428800})
    c.assign([TopicPartition(topic, partition, 0)])
    n, nbytes = 0, 0
    t0 = None
    while n < records:
        for m in c.consume(num_messages=10000, timeout=1.0):
            assert m.error() is None, m.error()
            if t0 is None:
                t0 = time.monotonic()
            n += 1
            nbytes += len(m.value())
    secs = time.monotonic() - t0
    c.close()
    return nbytes / secs / (1 << 20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=float, default=40, help="MiB written to each of the two topics")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--flush-kib", type=int, default=256, help="bytes produced per flush (one object each: small flushes of a busy multi-partition agent)")
    args = ap.parse_args()
    size = 1024
    per_topic = int(args.mib * (1 << 20) / size)
    tmp = Path(tempfile.mkdtemp(prefix="sluice-lifecycle-bench-"))
    c = Cluster(tmp)
    common = ["--cache-disk-mb", "0", "--log-retention-check-interval-ms", "500", "--file-delete-delay-ms", "0",
              "--orphan-grace-secs", "30", "--compaction-target-bytes", str(64 << 20),
              # unthrottled, to measure what one task can do (the default rate limit is 64 MiB/s)
              "--compaction-max-bytes-per-sec", str(1 << 40), "--compaction-min-age-ms", "0"]
    dev = c.dev(*common, "--compaction-interval-ms", "0", name="bench")
    objects = dev.data_dir / "objects"
    try:
        create_topic(dev.bootstrap, "keep", args.partitions, config={"retention.ms": "-1"})
        create_topic(dev.bootstrap, "short", args.partitions, config={"retention.ms": "1000"})
        log = DeliveryLog()
        value = os.urandom(size)
        recs = [(i, t, (i // 2) % args.partitions, None, value, None, None)
                for i, t in enumerate(t for _ in range(per_topic) for t in ("keep", "short"))]
        t0 = time.monotonic()
        p = producer(dev.bootstrap, **{"linger.ms": 5, "batch.size": 65536})
        per_round = max(1, (args.flush_kib << 10) // size)
        for r in range(0, len(recs), per_round):  # one flush object per round
            produce_all(p, recs[r:r + per_round], log)
        print(f"produced {2 * args.mib:.0f} MiB in {time.monotonic() - t0:.1f} s")
        per_partition = per_topic // args.partitions
        live = per_topic * (size + 8)  # what "keep" holds; "short" goes
        time.sleep(4)  # retention of "short" (1 s; checked every 0.5 s)
        total, flush, count = seg_bytes(objects)
        print(f"before: {count} objects, {total / (1 << 20):.1f} MiB for ~{live / (1 << 20):.1f} MiB live: "
              f"amplification {total / live:.2f}")
        dev.restart()
        before = cold_read(dev.bootstrap, "keep", 0, per_partition)
        print(f"before: cold catch-up read of one partition: {before:.1f} MiB/s")
        dev.stop()
        i = dev.args.index("--compaction-interval-ms")
        dev.args[i + 1] = "1000"
        dev.start()
        deadline = time.monotonic() + 600
        while seg_bytes(objects)[1] > 0:
            assert time.monotonic() < deadline, "compaction did not finish"
            time.sleep(1)
        total, _, count = seg_bytes(objects)
        passes = [tuple(map(float, m)) for m in re.findall(
            r"compaction pass.*?bytes_in=(\d+) bytes_out=(\d+) secs=([\d.]+)",
            re.sub(r"\x1b\[[0-9;]*m", "", dev.stderr_text()))]
        bin_, bout, secs = (sum(p[i] for p in passes) for i in range(3))
        print(f"compaction: {len(passes)} passes, {bin_ / (1 << 20):.1f} MiB in, {bout / (1 << 20):.1f} MiB out, "
              f"{secs:.1f} s: {bin_ / (1 << 20) / max(secs, 1e-9):.1f} MiB/s of input on one task")
        print(f"after: {count} objects, {total / (1 << 20):.1f} MiB for ~{live / (1 << 20):.1f} MiB live: "
              f"amplification {total / live:.2f}")
        dev.restart()
        after = cold_read(dev.bootstrap, "keep", 0, per_partition)
        print(f"after: cold catch-up read of one partition: {after:.1f} MiB/s")
        warm = cold_read(dev.bootstrap, "keep", 0, per_partition)
        print(f"after: the same read again, from the agent's memory cache: {warm:.1f} MiB/s "
              "(a cold read near it is bound by the client, not the object store)")
    finally:
        c.close()


if __name__ == "__main__":
    main()
