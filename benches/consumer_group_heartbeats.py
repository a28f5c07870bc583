"""What a KIP-848 consumer group costs the metadata quorum: M members (raw ConsumerGroupHeartbeat
v1 on M connections) join one group on a topic of P partitions, reconcile to a stable assignment,
then heartbeat steadily. Starts its own `sluice dev`; reports raft entries for the joins and the
reconciliation, raft entries during the steady rounds (expected: none), and heartbeat latency.

    python3 benches/consumer_group_heartbeats.py --members 100 --partitions 400 --rounds 20
"""

import argparse
import os
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import kafkawire as kw  # noqa: E402
from share_throughput import feed_entries, start_dev  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_topic(port, name, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(HERE, "..", "target", "release", "sluice"))
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="sluice-bench-")
    proc, meta = start_dev(args.sluice, port, data)
    try:
        create_topic(port, "bench-848", args.partitions)
        _, last = feed_entries(meta, 0)
        conns = [kw.KafkaConn("127.0.0.1", port) for _ in range(args.members)]
        ids = [f"member-{i:03d}" for i in range(args.members)]
        epoch = [0] * args.members
        owned = [dict() for _ in range(args.members)]
        report = [None] * args.members  # what to tell the coordinator we own, when it changed
        group = "bench-848-group"

        def beat(i):
            t0 = time.perf_counter()
            if epoch[i] == 0:
                r = kw.consumer_group_heartbeat_v1(conns[i], group, ids[i], 0, rebalance_timeout_ms=60000,
                                                   topics=["bench-848"])
            else:
                r = kw.consumer_group_heartbeat_v1(conns[i], group, ids[i], epoch[i], owned=report[i])
            dt = time.perf_counter() - t0
            assert r["error"] == 0, r
            report[i] = None
            epoch[i] = r["epoch"]
            if r["assignment"] is not None and r["assignment"] != owned[i]:
                owned[i] = r["assignment"]  # revoke at once, take what is given
                report[i] = [(t, ps) for t, ps in owned[i].items()]
                return dt, True
            return dt, False

        t0 = time.monotonic()
        rounds = 0
        while True:
            rounds += 1
            changed = False
            for i in range(args.members):
                _, c = beat(i)
                changed |= c or report[i] is not None
            owners = [p for o in owned for ps in o.values() for p in ps]
            if not changed and len(set(epoch)) == 1 and len(owners) == len(set(owners)) == args.partitions:
                break
            if rounds > 200:
                raise SystemExit("never settled")
        settle = time.monotonic() - t0
        kinds, last = feed_entries(meta, last)
        counts = sorted(sum(len(ps) for ps in o.values()) for o in owned)
        print(f"{args.members} members, {args.partitions} partitions: settled in {rounds} rounds, {settle:.1f}s; "
              f"assignment sizes {counts[0]}..{counts[-1]}, final epoch {epoch[0]}")
        print(f"  raft entries for joining and reconciling: {sum(kinds.values())} {kinds}")

        lat = []
        for _ in range(args.rounds):
            for i in range(args.members):
                dt, c = beat(i)
                assert not c
                lat.append(dt)
        kinds, last = feed_entries(meta, last)
        groups = {k: v for k, v in kinds.items() if k.startswith("Group")}
        print(f"  steady: {args.rounds * args.members} heartbeats, raft entries {sum(kinds.values())} "
              f"(group commands: {sum(groups.values())}) {kinds}")
        print(f"  heartbeat latency p50 {pct(lat, 50) * 1e3:.2f} ms, p99 {pct(lat, 99) * 1e3:.2f} ms, "
              f"max {max(lat) * 1e3:.2f} ms")
        for c in conns:
            c.close()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
