"""A 3-node metadata quorum started from the CLI, two agents against it, and the quorum
losing its leader (SIGKILL) while producers keep going; then a 4th node is added and
removed with `sluice meta add-node|remove-node` without interrupting produce."""


from clusterops import ContinuousProducer, meta_admin, membership, verify_exactly_once, wait_leader
from conftest import SluiceProcess, free_port
from helpers import create_topic, wait_until

PARTITIONS = 3


def test_three_meta_nodes_survive_leader_kill_and_membership_changes(cluster, tmp_path):
    # given: 3 meta nodes bootstrapped from --peers, 2 agents knowing all of them
    nodes = cluster.meta_quorum(3)
    meta_urls = ",".join(n.url for n in nodes)
    leader = wait_leader(nodes)
    m = membership(nodes[0])
    assert sorted(int(k) for k in m["voters"]) == [1, 2, 3]
    objects = tmp_path / "objects"
    objects.mkdir()
    a = cluster.agent(meta_urls, objects, 1, "agent-a")
    b = cluster.agent(meta_urls, objects, 2, "agent-b")
    topic = "quorum"
    create_topic(a.bootstrap, topic, PARTITIONS)
    pa = ContinuousProducer(a.bootstrap, topic, PARTITIONS, "a").start()
    pb = ContinuousProducer(b.bootstrap, topic, PARTITIONS, "b").start()
    pa.wait_acked(300)
    pb.wait_acked(300)

    # when: the leader is SIGKILLed
    victim = nodes[leader - 1]
    victim.kill()
    print(f"killed meta leader {leader}")
    new_leader = wait_leader(nodes, exclude=(leader,))
    print(f"new leader {new_leader}")
    # then: both agents keep committing
    pa.wait_acked(300)
    pb.wait_acked(300)

    # when: the old leader restarts with the same flags (--bootstrap again: must not re-initialize)
    victim.start()
    wait_leader(nodes)
    assert sorted(int(k) for k in membership(victim)["voters"]) == [1, 2, 3]
    assert "initializing meta cluster" not in victim.stderr_text()

    # when: a 4th node is added (learner, catch-up, voter) and removed again, under load
    port = free_port()
    data = tmp_path / "meta4-data"
    data.mkdir()
    n4 = SluiceProcess("meta4", ["meta", "--id", "4", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}"],
                       tmp_path, "meta node 4 ready", port)
    n4.url = f"http://127.0.0.1:{port}"
    cluster.procs.append(n4)
    n4.start()
    out = meta_admin("add-node", "--meta", meta_urls, "--id", "4", "--addr", f"127.0.0.1:{port}")
    assert sorted(int(k) for k in out["voters"]) == [1, 2, 3, 4], out
    wait_until("node 4 to learn it is a voter",
               lambda: sorted(int(k) for k in membership(n4)["voters"]) == [1, 2, 3, 4], timeout=30, every=0.1,
               context=lambda: f"its membership: {membership(n4)}")
    pa.wait_acked(200)
    out = meta_admin("remove-node", "--meta", meta_urls, "--id", "4")
    assert sorted(int(k) for k in out["voters"]) == [1, 2, 3], out
    n4.stop()
    pb.wait_acked(200)
    listed = meta_admin("members", "--meta", meta_urls)
    assert sorted(int(k) for k in listed["voters"]) == [1, 2, 3] and not listed["learners"]

    pa.stop()
    pb.stop()
    hw = verify_exactly_once([a.bootstrap, b.bootstrap], topic, PARTITIONS, [pa, pb])
    print(f"acked a={pa.acked_count()} b={pb.acked_count()} (without offset: {pa.offsetless() + pb.offsetless()}), "
          f"high watermarks {hw}: every acked record read once, at its acked offset, from both agents")
    assert not pa.failed and not pb.failed, (list(pa.failed.items())[:3], list(pb.failed.items())[:3])
