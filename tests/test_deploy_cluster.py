"""The Kubernetes manifests' command lines, run for real: 3 metadata nodes and 2 agents started
with exactly the arguments and environment their pods get (deploy/kubernetes: StatefulSet args,
fieldRefs, ConfigMaps, Secrets), on moto's S3 server instead of MinIO, with each pod's DNS name,
port and volume mapped to 127.0.0.1, a free port and a temporary directory. Records go in through
one agent and come out through the other, and /health/ready flips as nodes start and stop."""

import json
import shutil
import urllib.error
import urllib.request

import pytest

from conftest import SluiceProcess, free_port
from deploycfg import pod_command
from helpers import DeliveryLog, consume_exact, create_topic, poll_until, produce_all, producer, wait_until
from s3server import MotoServer

BUCKET = "sluice"  # the bucket of the manifests' s3://sluice/cluster


def health(port: int, what: str = "ready"):
    """(HTTP status, JSON body) of /health/<what>, or (None, None) when nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/{what}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None, None


def wait_health(port: int, status, timeout: float = 60.0):
    seen = None

    def answered():
        nonlocal seen
        seen = health(port)
        return seen[1] if seen[0] == status else None
    return poll_until(f"/health/ready on :{port} to answer {status}", answered, timeout, every=0.1,
                      context=lambda: f"last {seen}")


class Pod:
    def __init__(self, cluster, tmp_path, statefulset, index, ports, shared, marker):
        self.name = f"{statefulset}-{index}"
        self.port, self.metrics = ports
        self.root = root = tmp_path / self.name
        root.mkdir()
        own = {"0.0.0.0:9500": f"127.0.0.1:{self.port}", "0.0.0.0:9092": f"127.0.0.1:{self.port}",
               "0.0.0.0:9100": f"127.0.0.1:{self.metrics}", "/var/lib/sluice": str(root)}
        args, env = pod_command(statefulset, index, {**shared, **own})
        self.args, self.env = args, env
        self.proc = SluiceProcess(self.name, args, tmp_path, marker, self.port, env=env)
        cluster.procs.append(self.proc)


def assert_rejoined(pod):
    """The node's log shows the --rejoin path: old incarnation removed, node added back."""
    wait_until(f"{pod.name} to log that it rejoined the quorum",
               lambda: "rejoined the quorum" in pod.proc.stderr_text(), timeout=60, every=0.1,
               context=lambda: pod.proc.stderr_text()[-3000:])
    assert "removing this node's old incarnation before rejoining" in pod.proc.stderr_text()


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path)
    yield server
    server.close()


def test_manifest_command_lines_serve_and_report_readiness(cluster, tmp_path, moto):
    meta_ports = [(free_port(), free_port()) for _ in range(3)]
    agent_ports = [(free_port(), free_port()) for _ in range(2)]
    shared = {"http://minio.minio:9000": moto.endpoint}
    shared.update({f"sluice-meta-{i}.sluice-meta:9500": f"127.0.0.1:{p}" for i, (p, _) in enumerate(meta_ports)})
    shared.update({f"sluice-agent-{i}.sluice-agent:9092": f"127.0.0.1:{p}" for i, (p, _) in enumerate(agent_ports)})
    metas = [Pod(cluster, tmp_path, "sluice-meta", i, meta_ports[i], shared, f"meta node {i} ready") for i in range(3)]
    agents = [Pod(cluster, tmp_path, "sluice-agent", i, agent_ports[i], shared, "Sluice ready") for i in range(2)]
    assert metas[0].args[:3] == ["meta", "--id", "0"] and agents[1].args[0] == "agent"
    assert metas[2].env["SLUICE_REJOIN"] == "true" and agents[0].env["SLUICE_CREATE_BUCKET"] == "true"
    assert not moto.bucket_exists(BUCKET)

    # given: one metadata node alone: alive, not ready (no quorum, so no leader); it created the
    # bucket of its snapshot store (SLUICE_CREATE_BUCKET), which the agents share
    metas[0].proc.start()
    assert moto.bucket_exists(BUCKET)
    assert health(metas[0].metrics, "live") == (200, {"live": True})
    assert health(metas[0].metrics) == (503, {"ready": False, "reason": "no meta leader known"})

    # when: a second node starts, the two form a quorum and are ready
    metas[1].proc.start()
    for m in metas[:2]:
        assert wait_health(m.metrics, 200) == {"ready": True}
    # and the third, started on an empty data directory next to a quorum with a leader, is
    # what a replacement pod looks like to --rejoin: the leader drops node 2 and it adds
    # itself back, then it is ready too
    metas[2].proc.start()
    assert wait_health(metas[2].metrics, 200) == {"ready": True}
    assert_rejoined(metas[2])

    # and the agents are ready too
    for a in agents:
        a.proc.start()
        assert wait_health(a.metrics, 200) == {"ready": True}

    # then: records produced through agent 0 are consumed through agent 1
    topic = "deployed"
    create_topic(agents[0].proc.bootstrap, topic, 2)
    log = DeliveryLog()
    records = [(i, topic, i % 2, f"k{i}".encode(), f"v{i}".encode(), None, None) for i in range(200)]
    produce_all(producer(agents[0].proc.bootstrap), records, log)
    assert log.errors() == {}
    got = consume_exact(agents[1].proc.bootstrap, topic, {0: 100, 1: 100})
    assert sorted(m.value() for p in got.values() for m in p) == sorted(r[4] for r in records)
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket=BUCKET, Prefix="cluster/segments/").get("Contents", [])]
    assert keys

    # when: node 2 loses its volume (killed, data wiped) and its replacement starts
    metas[2].proc.kill()
    shutil.rmtree(metas[2].root)
    metas[2].root.mkdir()
    metas[2].proc.start()
    assert wait_health(metas[2].metrics, 200) == {"ready": True}
    assert_rejoined(metas[2])
    produce_all(producer(agents[0].proc.bootstrap), [(200, topic, 0, None, b"after", None, None)], log)
    assert log.errors() == {}

    # when: two metadata nodes stop, the last one loses its quorum and turns not ready
    metas[2].proc.stop()
    assert health(metas[2].metrics) == (None, None)
    assert health(metas[0].metrics)[0] == 200 or wait_health(metas[0].metrics, 200)
    metas[1].proc.stop()
    body = wait_health(metas[0].metrics, 503)
    assert body["ready"] is False and body["reason"], body

    # and ready again once a second node is back
    metas[1].proc.start()
    for m in metas[:2]:
        wait_health(m.metrics, 200)

    # when: an agent stops, the other still serves everything
    agents[1].proc.stop()
    assert health(agents[1].metrics) == (None, None)
    assert wait_health(agents[0].metrics, 200) == {"ready": True}
    got = consume_exact(agents[0].proc.bootstrap, topic, {0: 101, 1: 100})
    assert sorted(m.value() for p in got.values() for m in p) == sorted([r[4] for r in records] + [b"after"])
