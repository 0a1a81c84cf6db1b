"""Owns the LocalStack S3 server (signature, expiry and POST-policy checks on) and its test bucket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from harness.process import REPO_ROOT, ServerProcess, ServiceStartError

LOCALSTACK_VENV = REPO_ROOT / ".venv-localstack"
LOCALSTACK_PYTHON = LOCALSTACK_VENV / "bin" / "python"
# Built by harness/install.sh; without it the first request to each new server spends ~3 s building it.
SERVICE_CATALOGS = LOCALSTACK_VENV / "harness-root" / "usr" / "lib" / "localstack"
BUCKET = "billing-test"
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"  # noqa: S105 (LocalStack's default credentials)
REGION = "us-east-1"


class S3Server(ServerProcess):
    name = "s3"
    # State is in memory and the directory is deleted anyway; a graceful stop waits 10 s and more for clients'
    # keep-alive connections to close.
    stop_signal = signal.SIGKILL

    bucket = BUCKET
    access_key_id = ACCESS_KEY_ID
    secret_access_key = SECRET_ACCESS_KEY
    region = REGION

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _prepare(self) -> None:
        if not LOCALSTACK_PYTHON.exists():
            raise ServiceStartError(f"s3: {LOCALSTACK_PYTHON} is missing; run harness/install.sh")
        (self.tmp_dir / "tmp").mkdir()
        static_libs = self.tmp_dir / "usr" / "lib" / "localstack"
        static_libs.mkdir(parents=True)
        for catalog in SERVICE_CATALOGS.glob("service-catalog-*.dill"):
            shutil.copy(catalog, static_libs)

    def _command(self) -> list[str]:
        # -I keeps the working directory off sys.path, which keeps LocalStack's plugin cache key stable across runs.
        return [str(LOCALSTACK_PYTHON), "-I", "-m", "localstack.runtime.main"]

    def _popen_kwargs(self) -> dict[str, Any]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.tmp_dir)),
            # Without this LocalStack thinks it runs in its container and writes to /var/lib, /usr/lib and /etc.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.tmp_dir),
            "TMPDIR": str(self.tmp_dir / "tmp"),
            # The default gateway server binds every interface; hypercorn honours GATEWAY_LISTEN.
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "SERVICES": "s3",
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
        }
        return {"env": environment}

    def _is_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as response:  # noqa: S310
            return json.load(response).get("services", {}).get("s3") in ("available", "running")

    def _after_ready(self) -> None:
        self.client().create_bucket(Bucket=self.bucket)

    def client(self) -> Any:
        """A boto3 S3 client for this server, signing like the project's storage settings (s3v4, path style)."""
        return s3_client(self.url, self.access_key_id, self.secret_access_key, self.region)


def s3_client(url: str, access_key_id: str, secret_access_key: str, region: str) -> Any:
    """A boto3 S3 client for the server at `url`, signing like the project's storage settings (s3v4, path style)."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
