"""What a Kafka Streams application (KIP-1071 streams group) costs the metadata quorum, and how fast it
fails over (issue 13's speed report). Starts its own `sluice dev`, runs the stateless filter app of the
tests (tests/java StreamsApp, the newest kafka-streams 4.x, group.protocol=streams) as N instances over a
P-partition input with the tests' group configs (5 s sessions, 500 ms heartbeats), and reports:

- raft entries, by command kind, for N instances joining and settling, then during a steady period of
  --steady seconds (goal: none: heartbeats that change nothing are answered from the coordinator's copy);
- SIGKILL of one instance: the time until its tasks run on the others, and the raft entries it cost;
- restart of that instance: the time until it runs a task again, and the raft entries.

    cargo build --release && bash tests/java/build.sh && python3 benches/streams_rebalance.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from conftest import RELAXED_GROUP_BOUNDS, free_port, sluice_bin  # noqa: E402
from helpers import create_topic, set_group_configs  # noqa: E402
from share_throughput import feed_entries, start_dev  # noqa: E402
from streamskit import StreamsGroup  # noqa: E402


def wait(cond, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def show(label: str, kinds: dict):
    print(f"  {label}: {sum(kinds.values())} raft entries {dict(sorted(kinds.items()))}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--steady", type=float, default=20.0, help="seconds of steady heartbeats")
    args = ap.parse_args()

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="sluice-streams-bench-"))
    # the tests' lowered group bounds (5 s sessions)
    proc, meta = start_dev(sluice_bin(), port, work / "data", env={**os.environ, **RELAXED_GROUP_BOUNDS})
    bs, app = f"127.0.0.1:{port}", None
    try:
        app_id = "bench-streams"
        src, dst = f"{app_id}-in", f"{app_id}-out"
        create_topic(bs, src, args.partitions)
        create_topic(bs, dst, args.partitions)
        set_group_configs(bs, app_id, streams_session_timeout_ms=5000, streams_heartbeat_interval_ms=500)
        _, last = feed_entries(meta, 0)

        app = StreamsGroup(bs, app_id, "filter", src, dst, work)
        t0 = time.monotonic()
        app.start(args.instances)
        wait(lambda: app.settled(args.partitions), f"{args.partitions} tasks over {args.instances} instances")
        print(f"{args.instances} instances, {args.partitions} tasks: settled {time.monotonic() - t0:.1f}s after "
              "the JVMs started", flush=True)
        time.sleep(2)  # the last acknowledgements of the settled assignment
        kinds, last = feed_entries(meta, last)
        show("joining and settling", kinds)

        time.sleep(args.steady)
        kinds, last = feed_entries(meta, last)
        show(f"steady, {args.steady:.0f}s of heartbeats every 500 ms from {args.instances} members", kinds)

        victim = max(app.instances, key=lambda i: len(i.tasks()[0]))
        moved = set(victim.tasks()[0])
        victim.kill()
        survivors = [i for i in app.instances if i is not victim]
        wait(lambda: moved <= set().union(*(i.tasks()[0] for i in survivors))
             and app.settled(args.partitions, survivors), "the victim's tasks on the survivors")
        print(f"SIGKILL -> the victim's {len(moved)} tasks running elsewhere: "
              f"{time.time() * 1000 - victim.killed_at_ms:.0f} ms (session timeout 5000 ms)", flush=True)
        time.sleep(2)
        kinds, last = feed_entries(meta, last)
        show("failover", kinds)

        victim.restart()
        wait(lambda: victim.running() and bool(victim.tasks()[0]) and app.settled(args.partitions),
             "the restarted instance running tasks again")
        print(f"restart -> running tasks again: {time.time() * 1000 - victim.started_at_ms:.0f} ms "
              "(JVM start included)", flush=True)
        time.sleep(2)
        kinds, last = feed_entries(meta, last)
        show("rejoin", kinds)
        app.stop_all()
    finally:
        if app is not None:
            app.kill_all()
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
