"""An `s3://` store's bucket is checked when a process starts, not at the first produce.

- `--create-bucket` creates a missing bucket (with the lifecycle rule aborting incomplete
  multipart uploads) and the agent serves on it;
- without it, a missing bucket stops the agent (and a meta node's --snapshot-store) at start:
  exit code 1 and ONE line naming the bucket, the endpoint and the store's error;
- wrong credentials likewise. moto accepts any credentials in its default mode; started with
  INITIAL_NO_AUTH_ACTION_COUNT=0 it checks them against its (empty) IAM, so unknown keys are
  refused with 403 InvalidAccessKeyId, as AWS does."""

import os
import subprocess

import pytest

from conftest import sluice_bin
from helpers import DeliveryLog, consume_exact, create_topic, produce_all, producer
from s3server import S3_ENV, MotoServer


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path)
    yield server
    server.close()


def run_to_exit(args, env=None, timeout=60):
    """Runs sluice until it exits by itself; returns (exit code, stderr lines)."""
    p = subprocess.run([sluice_bin(), *args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, RUST_LOG="warn", **(env or S3_ENV)))
    return p.returncode, [line for line in p.stderr.splitlines() if line.strip()]


def test_create_bucket_creates_it_and_the_agent_serves(cluster, tmp_path, moto):
    assert not moto.bucket_exists("fresh")
    meta = cluster.meta(1)
    agent = cluster.agent(meta.url, tmp_path, 1, "agent", "--create-bucket", "--s3-endpoint", moto.endpoint,
                          "--linger-ms", "20", store_url="s3://fresh/cluster", env=S3_ENV)
    assert "created the bucket of s3://fresh/cluster" in agent.stdout_path.read_text()
    assert moto.bucket_exists("fresh")
    rules = moto.s3.get_bucket_lifecycle_configuration(Bucket="fresh")["Rules"]
    assert [(r["ID"], r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"], r["Filter"]["Prefix"])
            for r in rules] == [("sluice-abort-incomplete-multipart-uploads", 1, "cluster")]

    create_topic(agent.bootstrap, "t", 1)
    log = DeliveryLog()
    produce_all(producer(agent.bootstrap), [(i, "t", 0, None, f"v{i}".encode(), None, None) for i in range(20)], log)
    assert log.errors() == {}
    got = consume_exact(agent.bootstrap, "t", {0: 20})
    assert [m.value() for m in got[0]] == [f"v{i}".encode() for i in range(20)]
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket="fresh").get("Contents", [])]
    assert any(k.startswith("cluster/segments/") for k in keys), keys

    # Started again with --create-bucket on the existing bucket: nothing to create.
    agent.stop()
    agent.start()
    assert "created the bucket" not in agent.stdout_path.read_text()


def test_missing_bucket_stops_agent_and_meta_at_start_with_one_line(tmp_path, moto):
    code, lines = run_to_exit(["agent", "--meta", "http://127.0.0.1:1", "--object-store", "s3://nope/p",
                               "--s3-endpoint", moto.endpoint, "--cache-dir", str(tmp_path / "c"),
                               "--listen", "127.0.0.1:0"])
    assert code == 1, lines
    assert lines == [f"error: object store s3://nope/p: bucket 'nope' at endpoint {moto.endpoint}: the bucket "
                     "does not exist (NoSuchBucket); create it, or start with --create-bucket"], lines
    assert not moto.bucket_exists("nope")

    code, lines = run_to_exit(["meta", "--id", "1", "--data-dir", str(tmp_path / "m"), "--listen", "127.0.0.1:0",
                               "--snapshot-store", "s3://nope-either/snaps", "--s3-endpoint", moto.endpoint])
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith(
        f"error: object store s3://nope-either/snaps: bucket 'nope-either' at endpoint {moto.endpoint}: "
        "the bucket does not exist"), lines


def test_wrong_credentials_stop_the_agent_at_start(tmp_path):
    server = MotoServer(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        code, lines = run_to_exit(["agent", "--meta", "http://127.0.0.1:1", "--object-store", "s3://locked/p",
                                   "--s3-endpoint", server.endpoint, "--cache-dir", str(tmp_path / "c"),
                                   "--listen", "127.0.0.1:0"],
                                  env=dict(S3_ENV, AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG0", AWS_SECRET_ACCESS_KEY="bad"))
    finally:
        server.close()
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: object store s3://locked/p: bucket 'locked' at endpoint {server.endpoint}: "
                               "access denied (wrong credentials, or no permission on this bucket): "), lines
    assert "HTTP 403" in lines[0], lines


def test_unreachable_endpoint_stops_the_agent_at_start(tmp_path):
    code, lines = run_to_exit(["agent", "--meta", "http://127.0.0.1:1", "--object-store", "s3://b/p",
                               "--s3-endpoint", "http://127.0.0.1:1", "--cache-dir", str(tmp_path / "c"),
                               "--listen", "127.0.0.1:0"])
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith(
        "error: object store s3://b/p: bucket 'b' at endpoint http://127.0.0.1:1: "), lines
    assert "Connection refused" in lines[0] and "DispatchFailure" not in lines[0], lines
