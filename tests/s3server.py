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
