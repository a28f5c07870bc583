"""A meta node that loses its disk recovers from the raft snapshot archived in object storage.

Meta nodes run with `--snapshot-store` (a file:// store here; S3 works the same) and a small
`--snapshot-every`, so snapshots are built and uploaded while an agent commits segments. Then
node 3 is SIGKILLed, its data directory is wiped, and it is removed from the cluster. Restarted
on the empty directory, before any peer talks to it, it already holds the state of the newest
archived snapshot (read through its own change feed); added back, it catches up and votes."""

import shutil

from clusterops import http_json, meta_admin, membership, wait_leader
from helpers import DeliveryLog, consume_exact, create_topic, produce_all, producer, wait_until


def test_lost_meta_node_recovers_from_the_archived_snapshot(cluster, tmp_path):
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    nodes = cluster.meta_quorum(3, "--snapshot-store", snaps.resolve().as_uri(), "--snapshot-every", "10")
    meta_urls = ",".join(n.url for n in nodes)
    objects = tmp_path / "objects"
    objects.mkdir()
    agent = cluster.agent(meta_urls, objects, 1, "agent")
    topic = "archived"
    create_topic(agent.bootstrap, topic, 2)
    log = DeliveryLog()
    for round_ in range(8):  # many small flushes: many commits, several snapshots
        produce_all(producer(agent.bootstrap), [(i, topic, i % 2, None, f"v{i}".encode(), None, None)
                                                for i in range(round_ * 50, round_ * 50 + 50)], log)
    assert log.errors() == {}
    wait_until("a snapshot archived", lambda: any((snaps / "meta-snapshots").glob("*.snap")), timeout=30)
    archived = sorted(p.name for p in (snaps / "meta-snapshots").glob("*.snap"))
    archived_index = int(archived[-1].split("-")[0])
    print(f"archived snapshots: {archived}")

    # when: node 3 (not the leader) loses its disk and is removed
    leader = wait_leader(nodes)
    lost = next(n for n in reversed(nodes) if n.node_id != leader)
    lost.kill()
    shutil.rmtree(lost.data_dir)
    lost.data_dir.mkdir()
    out = meta_admin("remove-node", "--meta", meta_urls, "--id", str(lost.node_id))
    assert str(lost.node_id) not in out["voters"]

    # then: restarted empty, it starts from the archive, before hearing from any peer
    lost.start()
    assert "restored metadata snapshot from the object store" in lost.stderr_text()
    state = http_json(f"{lost.url}/api/changes?after=0&wait_ms=0")
    assert "snapshot" in state, state.keys()
    index = state["snapshot"]["index"]
    assert index >= archived_index, (index, archived_index)
    assert topic in str(state["snapshot"]["state"])[:1_000_000], "topic missing from the restored state"
    print(f"node {lost.node_id} restored from the archive at index {index}")

    # when: added back, it catches up and is a voter again; the cluster keeps working
    out = meta_admin("add-node", "--meta", meta_urls, "--id", str(lost.node_id), "--addr", f"127.0.0.1:{lost.port}")
    assert sorted(int(k) for k in out["voters"]) == [1, 2, 3]
    wait_until("the restored node to rejoin (a leader, 3 voters)",
               lambda: membership(lost).get("leader") is not None and len(membership(lost)["voters"]) == 3,
               timeout=30, every=0.1, context=lambda: f"its membership: {membership(lost)}")
    produce_all(producer(agent.bootstrap), [(i, topic, i % 2, None, f"v{i}".encode(), None, None)
                                            for i in range(400, 500)], log)
    assert log.errors() == {}
    got = consume_exact(agent.bootstrap, topic, {0: 250, 1: 250})
    assert sorted(int(m.value()[1:]) for part in got.values() for m in part) == list(range(500))
