"""kcat (Debian's, with its own old librdkafka) lists metadata, produces and consumes."""

import json
import shutil
import subprocess

import pytest

from helpers import create_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed (tests/run.sh installs it)")


def kcat(*args, input=None, timeout=60):
    r = subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"kcat {' '.join(args)} exited {r.returncode}\nstderr:\n{r.stderr.decode()}"
    return r.stdout.decode()


def test_kcat_lists_metadata(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "kcat-meta", 3)
    md = json.loads(kcat("-b", bs, "-L", "-J"))
    brokers = {b["id"]: b["name"] for b in md["brokers"]}
    assert list(brokers.values()) == [bs]
    topics = {t["topic"]: t for t in md["topics"]}
    assert "kcat-meta" in topics
    t = topics["kcat-meta"]
    assert "error" not in t or t["error"] in (None, "Success")
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    for p in t["partitions"]:
        assert p["leader"] in brokers

    # the plain-text listing too
    text = kcat("-b", bs, "-L", "-t", "kcat-meta")
    assert "1 brokers:" in text
    assert f"at {bs}" in text
    assert 'topic "kcat-meta" with 3 partitions:' in text


def test_kcat_produce_consume_keys(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "kcat-t1"  # auto-created by kcat's producer (dev default: 1 partition)
    lines = [f"key{i}:value {i} with spaces" for i in range(50)]
    kcat("-b", bs, "-P", "-t", topic, "-K:", input=("\n".join(lines) + "\n").encode())
    out = kcat("-b", bs, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k|%s|%o|%p\n")
    assert out.splitlines() == [f"key{i}|value {i} with spaces|{i}|0" for i in range(50)]

    # more lines continue at offset 50
    kcat("-b", bs, "-P", "-t", topic, "-K:", input=b"late:tail\n")
    out = kcat("-b", bs, "-C", "-t", topic, "-e", "-o", "50", "-f", "%k|%s|%o|%p\n")
    assert out.splitlines() == ["late|tail|50|0"]


def test_kcat_partitions_and_compression(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "kcat-parts"
    create_topic(bs, topic, 3)
    expected = []
    for p in range(3):
        lines = [f"p{p}k{i}:p{p}v{i}" for i in range(20)]
        kcat("-b", bs, "-P", "-t", topic, "-p", str(p), "-K:", "-z", ["gzip", "snappy", "lz4"][p],
             input=("\n".join(lines) + "\n").encode())
        expected += [(p, i, f"p{p}k{i}", f"p{p}v{i}") for i in range(20)]
    out = kcat("-b", bs, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%p|%o|%k|%s\n")
    got = sorted((int(a), int(b), c, d) for a, b, c, d in (ln.split("|") for ln in out.splitlines()))
    assert got == expected
