"""GET /healthz with everything up, and with the storage server or the database unreachable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import dead_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_healthz_is_200_when_everything_answers(api_client):
    response = api_client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["failed"] == []


def test_healthz_is_503_naming_storage_when_s3_is_unreachable(api_client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "billing-test",
                "endpoint_url": f"http://127.0.0.1:{dead_port()}",
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
            },
        },
    }

    response = api_client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["storage"]
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_503_naming_database_when_it_is_unreachable(tmp_path):
    """A fresh process whose DATABASE_URL points at a port where no database listens."""
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_site.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_port()}/postgres",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 503, done.stderr
    assert "database" in result["body"]["failed"]
    assert result["body"]["checks"]["storage"]["ok"] is True
