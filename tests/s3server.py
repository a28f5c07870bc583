"""moto's S3 server on a free port: the S3-compatible server of the tests (MinIO's server is not
installable from a registry). `env` reaches moto itself, e.g. INITIAL_NO_AUTH_ACTION_COUNT=0 makes
it check credentials (in its default mode it accepts any)."""

from __future__ import annotations

import os
import shutil
import subprocess

import boto3

from conftest import free_port
from helpers import wait_until

S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
          "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self, tmp_path, env: dict | None = None):
        exe = shutil.which("moto_server")
        assert exe, "moto_server not installed (pip install 'moto[s3]' flask flask-cors)"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = open(tmp_path / f"moto-{self.port}.log", "wb")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self._log,
                                     stderr=self._log, env=dict(os.environ, **(env or {})))
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                               aws_secret_access_key="test", region_name="us-east-1")

        def up():  # once it answers anything over HTTP
            import urllib.request
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
            except Exception as e:  # noqa: BLE001 - connection refused until it listens; HTTP errors mean up
                if not hasattr(e, "code"):
                    assert self.proc.poll() is None, f"moto_server exited: {e}"
                    return False
            return True
        wait_until(f"moto_server at {self.endpoint} to answer", up, timeout=30)

    def create_bucket(self, name: str) -> None:
        self.s3.create_bucket(Bucket=name)

    def bucket_exists(self, name: str) -> bool:
        return name in [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()


S3S_FS_VERSION = "0.14.1"


def s3s_fs_bin() -> str:
    """The `s3s-fs` binary (an S3-compatible server in Rust over a local directory, crates.io `s3s-fs`),
    installed into target/tools on first use with `cargo install` (a few minutes, once). Used where the
    S3 server must not be the bottleneck: moto is a single-threaded Python server."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "target" / "tools"
    exe = root / "bin" / "s3s-fs"
    if not exe.exists():
        print(f"installing s3s-fs {S3S_FS_VERSION} into {root} (cargo install, once) ...", flush=True)
        subprocess.run(["cargo", "install", "--quiet", "s3s-fs", "--version", S3S_FS_VERSION, "--features",
                        "binary", "--locked", "--root", str(root)], check=True)
    return str(exe)


class S3sFsServer:
    """`s3s-fs` on a free port, storing objects under `tmp_path/s3s-fs-<port>`; same interface as
    MotoServer (endpoint, s3, create_bucket, close). Credentials are S3_ENV's."""

    def __init__(self, tmp_path):
        exe = s3s_fs_bin()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        root = tmp_path / f"s3s-fs-{self.port}"
        root.mkdir(parents=True)
        self._log = open(tmp_path / f"s3s-fs-{self.port}.log", "wb")
        self.proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(self.port), "--access-key",
                                      S3_ENV["AWS_ACCESS_KEY_ID"], "--secret-key", S3_ENV["AWS_SECRET_ACCESS_KEY"],
                                      str(root)], stdout=self._log, stderr=self._log)
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

        def up():
            assert self.proc.poll() is None, "s3s-fs exited (see its log)"
            try:
                self.s3.list_buckets()
                return True
            except Exception:  # noqa: BLE001 - connection refused until it listens
                return False
        wait_until(f"s3s-fs at {self.endpoint} to answer", up, timeout=30)

    def create_bucket(self, name: str) -> None:
        self.s3.create_bucket(Bucket=name)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()
