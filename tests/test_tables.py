"""Topics as tables (issue 16): `sluice table export` to Parquet, the table job's Iceberg
tables read by DuckDB (read_parquet, iceberg_scan) and pyarrow, schema evolution, malformed
values, exactly-once across an agent SIGKILLed in the middle of a table commit, and
latest-value-per-key tables of compacted topics (`sluice.table.mode=latest`)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pyarrow.parquet as pq
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from conftest import free_port, sluice_bin
from helpers import (DeliveryLog, admin, alter_topic_configs, create_topic, produce_all, producer, wait_for_line,
                     wait_until)
from tables import connect, iceberg, per_partition, table_dir, wait_for_rows

PARTS = 8
N = 100_000


def orders(start: int, n: int, topic: str, extra: bool = False):
    """JSON records spread over PARTS partitions; amount = i % 1000."""
    out = []
    for i in range(start, start + n):
        v = {"id": i, "amount": i % 1000, "name": f"n{i}"}
        if extra:
            v["coupon"] = f"c{i}"
        out.append((i, topic, i % PARTS, f"k{i}".encode(), json.dumps(v).encode(), [("src", b"t")], None))
    return out


def produce(bs: str, recs) -> None:
    log = DeliveryLog()
    produce_all(producer(bs, **{"compression.type": "zstd", "linger.ms": 20}), recs, log)
    assert log.errors() == {}


def expected_sum(start: int, n: int) -> int:
    return sum(i % 1000 for i in range(start, start + n))


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """One `sluice dev` for the module (tables are per topic, so tests do not interfere)."""
    from conftest import Cluster

    c = Cluster(tmp_path_factory.mktemp("tables"))
    metrics_port = free_port()
    d = c.dev("--metrics-listen", f"127.0.0.1:{metrics_port}")
    d.objects = d.data_dir / "objects"
    d.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    yield d
    c.close()


def test_export_writes_an_exact_parquet_file(dev, tmp_path):
    bs, topic = dev.bootstrap, "export-orders"
    create_topic(bs, topic, PARTS)
    produce(bs, orders(0, N, topic))

    out = tmp_path / "orders.parquet"
    r = subprocess.run([sluice_bin(), "table", "export", "--bootstrap", bs, "--topic", topic,
                        "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    per = N // PARTS
    assert (summary["records"], summary["malformed"]) == (N, 0)
    assert summary["partitions"] == {str(p): [0, per] for p in range(PARTS)}

    with connect() as c:
        src = f"read_parquet('{out}')"
        assert c.execute(f"select count(*), sum(amount), count(distinct id) from {src}").fetchone() == \
            (N, expected_sum(0, N), N)
        assert per_partition(c, src) == {p: (per, 0, per - 1) for p in range(PARTS)}
        # Every record is where the topic has it: id i is in partition i % 8 at offset i // 8.
        assert c.execute(f'select count(*) from {src} where "partition" <> id % 8 or "offset" <> id // 8 '
                         f"or key <> ('k' || id)::blob or headers[1].key <> 'src'").fetchone() == (0,)
    t = pq.read_table(out)
    assert t.num_rows == N
    assert t.schema.field("offset").metadata[b"PARQUET:field_id"] == b"2"
    assert sum(t.column("amount").to_pylist()) == expected_sum(0, N)

    # A range: offsets [100, 200) of every partition, raw values.
    part = tmp_path / "part.parquet"
    r = subprocess.run([sluice_bin(), "table", "export", "--bootstrap", bs, "--topic", topic,
                        "--from-offset", "100", "--to", "200", "--value-format", "raw",
                        "--output", str(part)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with connect() as c:
        src = f"read_parquet('{part}')"
        assert per_partition(c, src) == {p: (100, 100, 199) for p in range(PARTS)}
        assert c.execute(f"select sum((json_extract(decode(value), '$.amount'))::bigint) from {src}").fetchone() \
            == (sum((p + 8 * o) % 1000 for p in range(PARTS) for o in range(100, 200)),)


def describe(bs: str, topic: str) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bs)  # kept alive until the answer is in
    entries = a.describe_configs([res])[res].result()
    return {k: v.value for k, v in entries.items()}


def test_table_topic_is_queryable_with_iceberg_scan(dev):
    bs, objects, topic = dev.bootstrap, dev.objects, "orders"
    create_topic(bs, topic, PARTS, {"sluice.table.enable": "true", "sluice.table.lag.ms": "1000"})
    cfg = describe(bs, topic)
    assert (cfg["sluice.table.enable"], cfg["sluice.table.lag.ms"]) == ("true", "1000")
    assert "sluice.table.value.format" not in cfg, "sluice.* configs are listed only when set"
    produce(bs, orders(0, N, topic))
    wait_for_rows(objects, topic, N)

    per = N // PARTS
    with connect() as c:
        src = iceberg(objects, topic)
        assert c.execute(f"select count(*), count(distinct (\"partition\", \"offset\")), sum(amount) "
                         f"from {src}").fetchone() == (N, N, expected_sum(0, N))
        assert per_partition(c, src) == {p: (per, 0, per - 1) for p in range(PARTS)}
        assert c.execute(f"select count(*) from {src} where _error is not null or _raw is not null").fetchone() == (0,)
        # The same rows through read_parquet over the data files.
        data = table_dir(objects, topic) / "data"
        files = [f for f in data.iterdir() if f.suffix == ".parquet"]
        referenced = {r[0] for r in c.execute(f"select file_path from iceberg_metadata('{table_dir(objects, topic)}')").fetchall()}
        assert {str(f) for f in files} == referenced, "every data file is referenced once"
        assert pq.read_table([str(f) for f in files]).num_rows == N

    # Schema evolution: a new field becomes a column, older rows read null; a malformed value
    # stays in the topic and lands in _raw/_error.
    produce(bs, orders(N, 800, topic, extra=True))
    p = producer(bs)
    p.produce(topic, partition=3, key=b"bad", value=b"this is not json")
    p.produce(topic, partition=3, key=b"arr", value=b"[1, 2]")
    assert p.flush(30) == 0
    wait_for_rows(objects, topic, N + 802)
    with connect() as c:
        src = iceberg(objects, topic)
        assert c.execute(f"select count(coupon), count(*) filter (where coupon is null and id < {N}) "
                         f"from {src}").fetchone() == (800, N)
        bad = c.execute(f"select key::varchar, _raw::varchar, _error, id from {src} where _error is not null "
                        f"order by \"offset\"").fetchall()
        assert [(k, raw, i) for k, raw, _, i in bad] == [("bad", "this is not json", None), ("arr", "[1, 2]", None)]
        assert bad[0][2].startswith("not JSON") and bad[1][2] == "not a JSON object (array)"
        assert c.execute(f"select count(*) from {src} where \"partition\" = 3").fetchone() == (per + 100 + 2,)


def test_agent_killed_mid_commit_loses_and_doubles_nothing(cluster, tmp_path):
    """SIGKILL the agent after it wrote a commit's files but before the quorum commit, then
    after the quorum commit but before the version hint: every record is in the table once."""
    meta = cluster.meta()
    objects = tmp_path / "objects"
    objects.mkdir()
    a = cluster.agent(meta.url, objects, 1, "a1", env={"SLUICE_TABLE_TEST_PAUSE": "files"})
    topic, parts, n = "crash", 4, 4000
    create_topic(a.bootstrap, topic, parts, {"sluice.table.enable": "true", "sluice.table.lag.ms": "1000"})
    recs = [(i, topic, i % parts, None, json.dumps({"i": i}).encode(), None, None) for i in range(2 * n)]
    produce(a.bootstrap, recs[:n])
    wait_for_line(a, "table job paused at files")
    a.kill()  # SIGKILL: the commit's files are written, the quorum never heard of them
    orphans = list((table_dir(objects, topic) / "data").iterdir())
    assert len(orphans) == 1

    a.env = {"SLUICE_TABLE_TEST_PAUSE": "committed"}
    a.start()
    produce(a.bootstrap, recs[n:])
    wait_for_line(a, "table job paused at committed")
    a.kill()  # SIGKILL after the quorum commit, before version-hint.text

    a.env = {}
    a.start()
    wait_for_rows(objects, topic, 2 * n)
    with connect() as c:
        src = iceberg(objects, topic)
        assert c.execute(f'select count(*), count(distinct ("partition", "offset")), sum(i) from {src}').fetchone() \
            == (2 * n, 2 * n, sum(range(2 * n)))
        per = 2 * n // parts
        assert per_partition(c, src) == {p: (per, 0, per - 1) for p in range(parts)}
        assert c.execute(f'select count(*) from {src} where "offset" <> i // {parts}').fetchone() == (0,)


def test_table_reads_committed_transactions_only(dev):
    bs, objects, topic = dev.bootstrap, dev.objects, "txn-table"
    create_topic(bs, topic, 2, {"sluice.table.enable": "true", "sluice.table.lag.ms": "1000"})
    p = producer(bs, **{"transactional.id": "table-txn", "message.timeout.ms": 30000})
    p.init_transactions(30)
    for fate, ids in (("commit", range(0, 50)), ("abort", range(50, 80)), ("commit", range(80, 100))):
        p.begin_transaction()
        for i in ids:
            p.produce(topic, partition=i % 2, value=json.dumps({"i": i}).encode())
        p.flush(30)
        (p.commit_transaction if fate == "commit" else p.abort_transaction)(30)
    wait_for_rows(objects, topic, 70)
    with connect() as c:
        got = [r[0] for r in c.execute(f"select i from {iceberg(objects, topic)} order by i").fetchall()]
    assert got == list(range(0, 50)) + list(range(80, 100))


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def config_error(f) -> KafkaError:
    with pytest.raises(KafkaException) as e:
        f.result(timeout=30)
    return e.value.args[0]


def alter_incremental(bs: str, topic: str, *ops) -> None:
    """IncrementalAlterConfigs of (name, value, op) on a topic; raises what the broker refused."""
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops])
    a = admin(bs)
    a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=30)


def test_latest_mode_requires_a_compacted_topic(dev):
    bs = dev.bootstrap
    a = admin(bs)
    latest = {"sluice.table.enable": "true", "sluice.table.mode": "latest"}
    # CreateTopics: latest without compact (default policy, and explicit delete) is refused.
    for extra in ({}, {"cleanup.policy": "delete"}):
        fs = a.create_topics([NewTopic("latest-bad", 1, 1, config={**latest, **extra})], request_timeout=30)
        err = config_error(fs["latest-bad"])
        assert err.code() == KafkaError.INVALID_CONFIG == 40
        assert "sluice.table.mode=latest requires cleanup.policy to include compact" in err.str()
    assert "latest-bad" not in a.list_topics(timeout=10).topics

    create_topic(bs, "latest-ok", 1, {**latest, "cleanup.policy": "compact,delete"})
    # IncrementalAlterConfigs: removing compact while mode=latest is refused (SET, DELETE, SUBTRACT).
    for op in (("cleanup.policy", "delete", AlterConfigOpType.SET),
               ("cleanup.policy", "", AlterConfigOpType.DELETE),
               ("cleanup.policy", "compact", AlterConfigOpType.SUBTRACT)):
        with pytest.raises(KafkaException) as e:
            alter_incremental(bs, "latest-ok", op)
        assert e.value.args[0].code() == KafkaError.INVALID_CONFIG, op
    assert describe(bs, "latest-ok")["cleanup.policy"] == "compact,delete"
    # ... and so is mode=latest on a topic that does not compact.
    create_topic(bs, "append-only", 1, {"sluice.table.enable": "true"})
    with pytest.raises(KafkaException) as e:
        alter_incremental(bs, "append-only", ("sluice.table.mode", "latest", AlterConfigOpType.SET))
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    # AlterConfigs (the legacy, whole-set API) goes through the same check.
    res = ConfigResource(ResourceType.TOPIC, "latest-ok", set_config={"sluice.table.mode": "latest"})
    err = config_error(a.alter_configs([res], request_timeout=30)[res])
    assert err.code() == KafkaError.INVALID_CONFIG
    assert describe(bs, "latest-ok")["cleanup.policy"] == "compact,delete"


def table_rows(objects, topic: str) -> list[tuple]:
    """(partition, offset, key, value field v) of every row iceberg_scan reads, sorted."""
    if not (table_dir(objects, topic) / "metadata" / "version-hint.text").exists():
        return []
    with connect() as c:
        return sorted(c.execute(f'select "partition", "offset", key::varchar, v from {iceberg(objects, topic)}')
                      .fetchall())


def wait_for_table(objects, topic: str, want: list[tuple], timeout: float = 60.0) -> None:
    got = None

    def as_wanted():
        nonlocal got
        got = table_rows(objects, topic)
        return got == want
    wait_until(f"table {topic} to be {want}", as_wanted, timeout, every=0.3, context=lambda: f"it is {got}")


def current_metadata(objects, topic: str) -> dict:
    meta = table_dir(objects, topic) / "metadata"
    hint = (meta / "version-hint.text").read_text()
    return json.loads((meta / f"{hint}.metadata.json").read_text())


def test_latest_mode_keeps_the_newest_record_per_key(dev):
    bs, objects, topic, parts = dev.bootstrap, dev.objects, "kv-latest", 3
    # A keyless record is only possible while the topic does not compact: produce one, then switch
    # the topic to compact + latest (the table starts then, and must skip it).
    create_topic(bs, topic, parts, {"cleanup.policy": "delete"})
    p = producer(bs)
    p.produce(topic, partition=0, value=json.dumps({"v": "keyless"}).encode())
    assert p.flush(30) == 0
    keyless_before = metric(dev.metrics_url, "sluice_table_keyless_records_total")
    deleted_before = metric(dev.metrics_url, "sluice_table_deleted_files_total")
    alter_topic_configs(bs, topic, {"cleanup.policy": "compact", "sluice.table.enable": "true",
                                    "sluice.table.mode": "latest", "sluice.table.lag.ms": "1000",
                                    "sluice.table.retain.ms": "2000"})

    # The expected table: (partition, key) -> (offset, v); offsets from the delivery reports.
    model: dict[tuple[int, str], tuple[int, str]] = {}

    def send(batch):
        log = DeliveryLog()
        recs = [(i, topic, part, k.encode(), None if v is None else json.dumps({"v": v}).encode(), None, None)
                for i, (part, k, v) in enumerate(batch)]
        produce_all(producer(bs, **{"enable.idempotence": True}), recs, log)
        assert log.errors() == {}
        for i, (part, k, v) in enumerate(batch):
            _, got_part, offset, _ = log.results[i]
            assert got_part == part
            if v is None:
                model.pop((part, k), None)
            else:
                model[(part, k)] = (offset, v)

    def expected():
        return sorted((part, off, k, v) for (part, k), (off, v) in model.items())

    # Several versions of keys in every partition (the same key in two partitions is two rows),
    # tombstones of existing keys, a tombstone of a key never written.
    first = []
    for version in range(3):
        for part in range(parts):
            for k in range(5):
                first.append((part, f"k{k}", f"p{part}-k{k}-v{version}"))
    first += [(0, "k1", None), (1, "k4", None), (2, "never", None), (2, "k0", None), (2, "k0", "back")]
    send(first)
    wait_for_table(objects, topic, expected())
    assert len(expected()) == 3 * 5 - 2

    with connect() as c:
        src = iceberg(objects, topic)
        assert c.execute(f'select count(*), count(distinct ("partition", key)) from {src}').fetchone() == (13, 13)
        assert c.execute(f"select v from {src} where \"partition\" = 2 and key = 'k0'::blob").fetchall() == [("back",)]
    md = current_metadata(objects, topic)
    snap = next(s for s in md["snapshots"] if s["snapshot-id"] == md["current-snapshot-id"])
    assert snap["summary"]["operation"] == "overwrite"
    assert snap["summary"]["total-records"] == "13"
    assert metric(dev.metrics_url, "sluice_table_keyless_records_total") == keyless_before + 1

    # Produce more: the table follows (updates, a delete, a new key, a key deleted and re-added).
    send([(0, "k0", "later"), (1, "k2", None), (2, "new", "n1"), (0, "k1", "again"), (1, "k3", "x"),
          (1, "k3", "y")])
    wait_for_table(objects, topic, expected())
    assert ("new", "n1") in [(k, v) for _, _, k, v in expected()]

    # Replaced files go retain.ms after they were replaced: only the current file is left, and
    # pyarrow reading it sees exactly the table.
    data = table_dir(objects, topic) / "data"
    wait_until("the replaced data files to be deleted", lambda: len(list(data.iterdir())) <= 1, timeout=30,
               every=0.3, context=lambda: f"files: {list(data.iterdir())}")
    files = list(data.iterdir())
    assert len(files) == 1, files
    assert metric(dev.metrics_url, "sluice_table_deleted_files_total") >= deleted_before + 1
    t = pq.read_table(str(files[0]))
    got = sorted(zip(t.column("partition").to_pylist(), t.column("offset").to_pylist(),
                     [k.decode() for k in t.column("key").to_pylist()], t.column("v").to_pylist()))
    assert got == expected()
    with connect() as c:
        referenced = {r[0] for r in c.execute(
            f"select file_path from iceberg_metadata('{table_dir(objects, topic)}') "
            f"where status <> 'DELETED'").fetchall()}
    assert referenced == {str(files[0])}
