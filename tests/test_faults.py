"""Faults under load: idempotent confluent-kafka producers write continuously through two agents
while, one after the other, an agent is SIGKILLed mid-flush, the meta leader is SIGKILLed, a meta
node is partitioned away from its peers and healed, and object-store PUTs fail 20% of the time.

Afterwards, from every agent: each partition's offsets are dense from 0 to the high watermark, no
record appears twice, and every acknowledged record is there, at the offset its acknowledgement
named. The faults are real: agents run with `--fault-injection-listen` (a FailingObjectStore in
front of the store, switched over HTTP) and meta nodes with `--fault-injection` (raft links cut
over HTTP); the kills are SIGKILL."""

import json
import time
import urllib.error

from clusterops import ContinuousProducer, http_json, membership, verify_exactly_once, wait_leader
from conftest import free_port
from helpers import create_topic, wait_until

PARTITIONS = 4


def store_faults(agent, **cfg) -> dict:
    return http_json(f"http://127.0.0.1:{agent.fault_port}/faults", cfg)


def store_fault_stats(agent) -> dict:
    return http_json(f"http://127.0.0.1:{agent.fault_port}/faults")["stats"]


def net_faults(node, **cfg) -> dict:
    return http_json(f"{node.url}/admin/net-faults", cfg)


def start_agent(cluster, meta_urls, objects, agent_id, name):
    fault_port = free_port()
    p = cluster.agent(meta_urls, objects, agent_id, name, "--fault-injection-listen", f"127.0.0.1:{fault_port}",
                      "--linger-ms", "20")
    p.fault_port = fault_port
    return p


def quorum_and_two_agents(cluster, tmp_path, topic: str):
    """3 meta nodes with raft fault injection, 2 agents with store fault injection on one object store,
    and `topic` with PARTITIONS partitions: (meta nodes, agent a, agent b)."""
    nodes = cluster.meta_quorum(3, "--fault-injection")
    meta_urls = ",".join(n.url for n in nodes)
    wait_leader(nodes)
    objects = tmp_path / "objects"
    objects.mkdir()
    a = start_agent(cluster, meta_urls, objects, 1, "agent-a")
    b = start_agent(cluster, meta_urls, objects, 2, "agent-b")
    create_topic(a.bootstrap, topic, PARTITIONS)
    return nodes, a, b


def test_no_acknowledged_record_is_lost_or_duplicated_under_faults(cluster, tmp_path):
    injected, verified = [], []

    def inject(what):
        print(f"[inject] {what}")
        injected.append(what)

    # given: 3 meta nodes, 2 agents on one store, one producer per agent (each knowing both)
    topic = "faults"
    nodes, a, b = quorum_and_two_agents(cluster, tmp_path, topic)
    pa = ContinuousProducer(f"{a.bootstrap},{b.bootstrap}", topic, PARTITIONS, "a").start()
    pb = ContinuousProducer(f"{b.bootstrap},{a.bootstrap}", topic, PARTITIONS, "b").start()
    pa.wait_acked(300)
    pb.wait_acked(300)
    started = time.monotonic()

    # 1. an agent dies mid-flush: its uploads take 300 ms, so flushes are in flight when it is killed
    store_faults(a, latency_ms=300)
    time.sleep(1.0)
    a.kill()
    inject("SIGKILL agent A with segment uploads in flight (300 ms injected PUT latency)")
    pb.wait_acked(200)
    pa.wait_acked(200, timeout=90)  # A's producer carries on through B once A drops out
    a.start()
    pa.wait_acked(100)
    pb.wait_acked(100)

    # 2. the meta leader dies
    leader = wait_leader(nodes)
    nodes[leader - 1].kill()
    inject(f"SIGKILL meta leader {leader}")
    new_leader = wait_leader(nodes, exclude=(leader,))
    pa.wait_acked(200)
    pb.wait_acked(200)
    nodes[leader - 1].start()
    wait_leader(nodes)
    verified.append(f"leader {leader} killed, {new_leader} took over, produce continued, {leader} rejoined")

    # 3. a follower is cut off from its peers; preferably the one the agents' change feeds moved to
    # when the old leader died (the next in their --meta list), so they must notice it went stale
    killed = leader
    leader = wait_leader(nodes)
    followers = [n for n in nodes if n.node_id != leader]
    victim = next((n for n in followers if n.node_id == killed % 3 + 1), followers[0])
    net_faults(victim, isolate=True)
    inject(f"partition meta node {victim.node_id} (all raft links cut, both directions; leader is {leader})")
    pa.wait_acked(200)
    pb.wait_acked(200)
    time.sleep(3.0)
    dropped = net_faults(victim, isolate=False)["dropped"]
    inject(f"heal meta node {victim.node_id} ({dropped} raft RPCs refused while cut)")
    assert dropped > 0
    wait_leader(nodes)
    pa.wait_acked(100)
    pb.wait_acked(100)
    wait_until("the healed node to rejoin (3 voters, a leader)",
               lambda: len(membership(victim)["voters"]) == 3 and membership(victim)["leader"] is not None,
               timeout=30, every=0.1, context=lambda: f"its membership: {membership(victim)}")

    # 4. 20% of object-store PUTs fail, on both agents, for 8 seconds
    for ag in (a, b):
        store_faults(ag, put_error_rate=0.2)
    inject("PUT error rate 20% on both agents for 8 s")
    t_end = time.monotonic() + 8
    pa.wait_acked(100, timeout=60)
    pb.wait_acked(100, timeout=60)
    time.sleep(max(0.0, t_end - time.monotonic()))
    put_errors = sum(store_fault_stats(ag)["errors"] for ag in (a, b))
    for ag in (a, b):
        store_faults(ag)
    inject(f"PUT errors off ({put_errors} PUTs failed)")
    assert put_errors > 0
    pa.wait_acked(200)
    pb.wait_acked(200)

    # then: every acknowledged record exactly once, at its offset, from both agents
    pa.stop()
    pb.stop()
    faults_took = time.monotonic() - started
    assert not pa.failed and not pb.failed, (list(pa.failed.items())[:3], list(pb.failed.items())[:3])
    hw = verify_exactly_once([a.bootstrap, b.bootstrap], topic, PARTITIONS, [pa, pb])
    acked = pa.acked_count() + pb.acked_count()
    assert sum(hw.values()) == acked == pa.sent + pb.sent, (sum(hw.values()), acked, pa.sent + pb.sent)
    verified.append(f"{acked} acknowledged records ({pa.offsetless() + pb.offsetless()} acknowledged without an "
                    f"offset by librdkafka); high watermarks {hw} (total {sum(hw.values())})")
    verified.append("every record sent was acknowledged once and the log holds exactly those records")
    verified.append("from both agents: offsets dense from 0, no record twice, every acknowledged record present "
                    "at its acknowledged offset; no producer error")
    switches = sum(ag.stderr_text().count("switching node") for ag in (a, b))
    verified.append(f"agents moved their change feed off a stale meta node {switches} time(s)")
    print(f"\ninjected ({faults_took:.0f} s of faults under load):\n  " + "\n  ".join(injected))
    print("verified:\n  " + "\n  ".join(verified))


def test_an_isolated_meta_leader_is_replaced_and_loses_no_acknowledged_record(cluster, tmp_path):
    # given: 3 meta nodes, 2 agents, an idempotent producer through each
    topic = "isolated-leader"
    nodes, a, b = quorum_and_two_agents(cluster, tmp_path, topic)
    leader = wait_leader(nodes)
    pa = ContinuousProducer(f"{a.bootstrap},{b.bootstrap}", topic, PARTITIONS, "a").start()
    pb = ContinuousProducer(f"{b.bootstrap},{a.bootstrap}", topic, PARTITIONS, "b").start()
    pa.wait_acked(300)
    pb.wait_acked(300)

    # when: the leader is cut off from both followers (every raft link, both directions)
    old = nodes[leader - 1]
    net_faults(old, isolate=True)
    print(f"[inject] meta leader {leader} isolated from both followers")
    majority = [n for n in nodes if n is not old]
    new_leader = wait_leader(majority, exclude=(leader,))

    # then: produce continues through the new leader ...
    pa.wait_acked(300)
    pb.wait_acked(300)
    # ... and the old leader, which has heard from no quorum since, refuses proposals at once
    try:
        http_json(f"{old.url}/api/propose", "Noop")
        raise AssertionError("the isolated old leader accepted a proposal")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert (e.code, body["error"], body.get("leader")) == (421, "not_leader", None), (e.code, body)
    print(f"[verified] {new_leader} elected by the majority; isolated {leader} refuses proposals (not leader)")

    # when: the partition heals
    dropped = net_faults(old, isolate=False)["dropped"]
    print(f"[inject] healed ({dropped} raft RPCs refused while isolated)")
    # then: the old leader follows the new one, and produce goes on
    agreed = wait_leader(nodes)
    assert membership(old)["leader"]["id"] == agreed
    pa.wait_acked(200)
    pb.wait_acked(200)

    pa.stop()
    pb.stop()
    assert not pa.failed and not pb.failed, (list(pa.failed.items())[:3], list(pb.failed.items())[:3])
    hw = verify_exactly_once([a.bootstrap, b.bootstrap], topic, PARTITIONS, [pa, pb])
    acked = pa.acked_count() + pb.acked_count()
    assert sum(hw.values()) == acked == pa.sent + pb.sent, (sum(hw.values()), acked, pa.sent + pb.sent)
    print(f"[verified] {acked} acknowledged records, high watermarks {hw}: each once at its acknowledged "
          f"offset, dense from 0, from both agents")
