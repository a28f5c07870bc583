"""The S3 path: a meta node and two agents on an S3-compatible server (moto's server, a faithful
S3 stand-in installable from PyPI; users run MinIO via deploy/). Records produced through one agent
are read back through the other, which has never seen them and must fetch them from S3."""

import os

import pytest

from conftest import SluiceProcess, free_port
from helpers import DeliveryLog, consume_exact, create_topic, produce_all, producer
from s3server import S3_ENV, MotoServer

BUCKET = "sluice-test"


@pytest.fixture
def s3_endpoint(tmp_path):
    server = MotoServer(tmp_path)
    server.create_bucket(BUCKET)
    yield server.endpoint, server.s3
    server.close()


def start_agent(cluster, tmp_path, meta_url, endpoint, agent_id, name):
    port = free_port()
    cache = tmp_path / f"{name}-cache"
    cache.mkdir()
    args = ["agent", "--meta", meta_url, "--object-store", f"s3://{BUCKET}/cluster1",
            "--s3-endpoint", endpoint, "--cache-dir", str(cache), "--listen", f"127.0.0.1:{port}",
            "--agent-id", str(agent_id), "--linger-ms", "20"]
    p = SluiceProcess(name, args, tmp_path, "Sluice ready", port, env=dict(os.environ, **S3_ENV))
    cluster.procs.append(p)
    return p.start()


def test_produce_and_consume_through_s3(cluster, tmp_path, s3_endpoint):
    endpoint, s3 = s3_endpoint
    meta = cluster.meta(1)
    a = start_agent(cluster, tmp_path, meta.url, endpoint, 1, "s3-agent-a")
    b = start_agent(cluster, tmp_path, meta.url, endpoint, 2, "s3-agent-b")
    topic = "s3-topic"
    create_topic(a.bootstrap, topic, 3)
    n = 3000
    records = [(i, topic, i % 3, f"k{i}".encode(), f"value-{i}".encode() * 10, [("h", str(i).encode())], None)
               for i in range(n)]
    log = DeliveryLog()
    produce_all(producer(a.bootstrap, **{"compression.type": "zstd"}), records, log)
    assert log.errors() == {}

    # Every acknowledged record lives in segment objects under the configured prefix.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cluster1/segments/").get("Contents", [])]
    assert keys, "no segment objects in the bucket"
    assert all(k.endswith(".seg") for k in keys)

    got = consume_exact(b.bootstrap, topic, {0: n // 3, 1: n // 3, 2: n // 3})
    for p in range(3):
        expected = [r for r in records if r[2] == p]
        assert [m.offset() for m in got[p]] == list(range(n // 3))
        assert [(m.key(), m.value(), m.headers()) for m in got[p]] == \
            [(r[3], r[4], [("h", r[5][0][1])]) for r in expected]
