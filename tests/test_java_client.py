"""The Java client (kafka-clients, the newest 4.x pinned in tests/java/pom.xml) against Sluice:
AdminClient, idempotent producer, manually assigned consumer, group and share consumers. The programs are
tests/java/clients/src/main/java, built by Maven (tests/java/build.sh)."""

import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def compiled():
    """The classpath of the compiled client programs and their dependencies."""
    from reference.kafka_ref import clients_classpath

    assert shutil.which("java") and shutil.which("mvn"), "a JDK and Maven are required (tests/run.sh installs them)"
    return clients_classpath()


def test_java_idempotent_producer_and_consumer(sluice_dev, compiled):
    r = subprocess.run(["java", "-cp", compiled, "SmokeProduceConsume", sluice_dev.bootstrap, "java-smoke", "4000"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"java client failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "OK 4000 records" in r.stdout


def test_java_share_consumers(sluice_dev, compiled):
    """Three KafkaShareConsumers (KIP-932) on a 2-partition topic: every record exactly once."""
    from helpers import DeliveryLog, create_topic, produce_all, producer, set_group_configs

    bs, topic, group = sluice_dev.bootstrap, "java-queue", "java-share"
    create_topic(bs, topic, 2)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, i % 2, None, f"j{i}".encode(), None, None) for i in range(300)], log)
    assert log.errors() == {}
    r = subprocess.run(["java", "-cp", compiled, "ShareConsume", bs, group, topic, "3", "300"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"java share consumers failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    rows = [line.split() for line in r.stdout.splitlines() if not line.startswith("TOTAL")]
    assert "TOTAL 300" in r.stdout
    assert sorted(int(v[1:]) for _, _, _, v, _ in rows) == list(range(300))
    assert all(dc == "1" for *_, dc in rows), "no record should need a second delivery"
    for p in ("0", "1"):
        assert sorted(int(o) for _, q, o, _, _ in rows if q == p) == list(range(150))


def test_java_admin_share_group_calls(sluice_dev, compiled):
    """describe/list/alter/delete share-group offsets and groups with the Java Admin client."""
    import time
    from confluent_kafka import ShareConsumer
    from helpers import QUIET, DeliveryLog, create_topic, produce_all, producer, set_group_configs

    bs, topic, group = sluice_dev.bootstrap, "java-admin-queue", "java-admin-share"
    create_topic(bs, topic, 1)
    set_group_configs(bs, group, share_auto_offset_reset="earliest")
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, 0, None, f"a{i}".encode(), None, None) for i in range(10)], log)
    # consume and accept all ten (implicit acknowledgement), then leave: SPSO = 10, group empty
    c = ShareConsumer({"bootstrap.servers": bs, "group.id": group, **QUIET})
    c.subscribe([topic])
    got, deadline = 0, time.monotonic() + 60
    while got < 10 and time.monotonic() < deadline:
        got += sum(1 for m in (c.poll(1.0) or []) if m.error() is None)
    c.poll(0.5)  # acknowledges the last batch
    c.close()
    assert got == 10
    r = subprocess.run(["java", "-cp", compiled, "ShareAdmin", bs, group, topic],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"java admin failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    assert lines["LISTED"] == "true"
    assert lines["DESCRIBED"] == "Empty 0"
    assert lines["OFFSETS"] == "{java-admin-queue-0=10}"
    assert lines["ALTERED"] == "{java-admin-queue-0=3}"
    assert lines["DELETED_OFFSETS"] == "{}"
    assert lines["AFTER_DELETE"] == "GroupIdNotFoundException"


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_java_group_consumers(sluice_dev, compiled, protocol):
    """Two Java KafkaConsumers in one group (KIP-848 or classic): partitions split between them,
    every record exactly once, offsets committed."""
    from groupkit import committed
    from helpers import DeliveryLog, create_topic, produce_all, producer, set_group_configs

    bs, topic, group = sluice_dev.bootstrap, f"java-grp-{protocol}", f"java-grp-{protocol}"
    create_topic(bs, topic, 12)
    if protocol == "consumer":
        set_group_configs(bs, group, consumer_heartbeat_interval_ms=500)
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, i % 12, None, f"j{i}".encode(), None, None) for i in range(600)], log)
    assert log.errors() == {}
    r = subprocess.run(["java", "-cp", compiled, "GroupConsume", bs, group, topic, protocol, "2", "600"],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"java group consumers failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "TOTAL 600" in r.stdout, r.stdout[-2000:]
    rows = [line.split() for line in r.stdout.splitlines() if line[:1].isdigit()]
    assert sorted(int(v[1:]) for _, _, v in rows) == list(range(600))
    assigned = [set(int(p) for p in line.split()[2].split(",") if p)
                for line in r.stdout.splitlines() if line.startswith("ASSIGNED")]
    assert len(assigned) == 2 and all(assigned) and not (assigned[0] & assigned[1]), assigned
    assert committed(bs, group, topic) == {p: 50 for p in range(12)}


@pytest.mark.parametrize("client", ["newest", "reference"])
def test_java_transactions(sluice_dev, compiled, client):
    """The Java transactional producer (kafka-clients 4.4 and Kafka 4.1.2's, both on transaction version 2)
    alternating commit and abort; read_committed and read_uncommitted Java consumers see exactly what they
    should (tests/java/clients/src/main/java/TxnProduceConsume.java)."""
    from reference.kafka_ref import reference_classpath
    cp = compiled
    if client == "reference":
        # the same compiled program on Kafka 4.1.2's kafka-clients
        programs = [p for p in compiled.split(":") if "sluice-tests-clients" in p]
        cp = ":".join(programs + [reference_classpath()])
    r = subprocess.run(["java", "-cp", cp, "TxnProduceConsume", sluice_dev.bootstrap, f"java-txn-{client}",
                        f"java-txn-{client}", "10", "20"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"java client failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "OK 100 committed of 200" in r.stdout
