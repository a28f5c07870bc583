"""The command-line contract of `sluice dev`: flags, SLUICE_* environment variables,
the ready line, the data-dir layout, and clean shutdown on SIGINT and SIGTERM."""

import signal
import subprocess

from conftest import SluiceProcess, free_port, sluice_bin
from helpers import DeliveryLog, admin, consume_exact, produce_all, producer


def test_dev_flags_and_layout(cluster):
    dev = cluster.dev("--linger-ms", "1", "--flush-bytes", "1048576", "--num-partitions", "3")
    out = dev.stdout_path.read_text()
    assert "Sluice ready" in out and f"bootstrap {dev.bootstrap}" in out
    # auto-created topics get --num-partitions partitions
    log = DeliveryLog()
    produce_all(producer(dev.bootstrap), [(i, "cli-auto", i % 3, None, f"v{i}".encode(), None, None)
                                          for i in range(30)], log)
    assert log.errors() == {}
    assert len(admin(dev.bootstrap).list_topics(topic="cli-auto", timeout=30).topics["cli-auto"].partitions) == 3
    got = consume_exact(dev.bootstrap, "cli-auto", {0: 10, 1: 10, 2: 10})
    assert [m.value() for m in got[1]] == [f"v{i}".encode() for i in range(1, 30, 3)]
    # DIR/meta, DIR/objects; no DIR/cache: a disk tier in front of a local directory would only
    # write every record a second time
    for sub in ("meta", "objects"):
        assert (dev.data_dir / sub).is_dir(), f"{sub}/ missing in the data dir"
    assert not (dev.data_dir / "cache").exists(), "a disk cache tier in front of a file:// store"
    # segment objects were written to the local object store
    assert any(p.is_file() for p in (dev.data_dir / "objects").rglob("*")), "no object in DIR/objects"
    assert dev.stop(sig=signal.SIGINT) == 0


def test_dev_from_environment(cluster, tmp_path):
    port = free_port()
    data = tmp_path / "env-data"
    data.mkdir()
    # no flags at all: everything from SLUICE_* variables
    p = SluiceProcess("env-dev", ["dev"], tmp_path, "Sluice ready", port,
                      env={"SLUICE_DATA_DIR": str(data), "SLUICE_LISTEN": f"127.0.0.1:{port}"})
    cluster.procs.append(p)
    p.start()
    md = admin(p.bootstrap).list_topics(timeout=30)
    assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", port)]
    assert (data / "meta").is_dir()
    assert p.stop() == 0


def test_config_file_with_env_and_flag_precedence(cluster, tmp_path):
    """--config FILE fills what neither flags nor SLUICE_* set; flags beat env beats file."""
    port = free_port()
    data = tmp_path / "cfg-data"
    data.mkdir()
    cfg = tmp_path / "sluice.toml"
    # the file asks for 5 partitions and a listener that must lose to the flag
    cfg.write_text(f'data-dir = "{data}"\nnum-partitions = 5\nlisten = "127.0.0.1:1"\nlinger-ms = 2\n')
    p = SluiceProcess("cfg-dev", ["--config", str(cfg), "dev", "--listen", f"127.0.0.1:{port}"], tmp_path,
                      "Sluice ready", port, env={"SLUICE_NUM_PARTITIONS": "4"})
    cluster.procs.append(p)
    p.start()
    log = DeliveryLog()
    produce_all(producer(p.bootstrap), [(0, "cfg-auto", 0, None, b"v", None, None)], log)
    assert log.errors() == {}
    # env (4) beat the file (5); the flag's port beat the file's; the file's data dir was used
    assert len(admin(p.bootstrap).list_topics(topic="cfg-auto", timeout=30).topics["cfg-auto"].partitions) == 4
    assert (data / "meta").is_dir()
    assert p.stop() == 0


def test_config_file_mistakes_stop_the_process_naming_the_key(tmp_path):
    """A typo or a bad value in --config stops `sluice` at once (usage error, exit 2) with one line
    naming the file, the key and what is wrong, instead of being ignored."""
    cases = [
        ('lingerms = 5\n', "unknown key `lingerms` (did you mean `linger-ms`?)"),
        ('linger-ms = "soon"\n', "invalid value for `linger-ms`: invalid value 'soon'"),
        ('[dev]\nlisten = "127.0.0.1:1"\n', "invalid value for `dev`: a table is not a setting"),
    ]
    for text, expected in cases:
        cfg = tmp_path / "bad.toml"
        cfg.write_text(text)
        r = subprocess.run([sluice_bin(), "--config", str(cfg), "dev", "--data-dir", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (text, r.returncode, r.stderr)
        assert r.stderr.startswith(f"error: config file {cfg}: {expected}"), (text, r.stderr)
        assert not (tmp_path / "d").exists(), "nothing may start on a bad config file"
