"""GET /healthz, /healthz/ready and /healthz/live with everything up, and with a dependency unreachable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import stripe

from billing_site import health

from ..helpers import dead_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def test_healthz_is_200_when_everything_answers(api_client):
    response = api_client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["failed"] == []


def test_healthz_is_503_naming_storage_when_s3_is_unreachable(api_client, unreachable_s3):
    response = api_client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["storage"]
    assert body["checks"]["database"]["ok"] is True


def _get_with_the_database_down(*paths: str) -> tuple[dict, str]:
    """GET each path in a fresh process whose DATABASE_URL points at a port where no database listens."""
    script = (
        "import django, json; django.setup(); from django.test import Client; c = Client(); "
        f"r = {{p: c.get(p) for p in {paths!r}}}; "
        "print(json.dumps({p: {'status': x.status_code, 'body': x.json()} for p, x in r.items()}))"
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
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_healthz_is_503_naming_database_when_it_is_unreachable():
    result, stderr = _get_with_the_database_down("/healthz")

    assert result["/healthz"]["status"] == 503, stderr
    assert "database" in result["/healthz"]["body"]["failed"]
    assert result["/healthz"]["body"]["checks"]["storage"]["ok"] is True


# --- Issue 10 finding 13: liveness, readiness, results reused for a few seconds ---------------------------------


@pytest.fixture
def stripe_unreachable(settings, monkeypatch):
    settings.STRIPE_SECRET_KEY = "sk_test_" + "h" * 24
    settings.STRIPE_ENABLED = True
    monkeypatch.setattr(stripe, "api_base", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setattr(stripe, "max_network_retries", 0)


def test_live_answers_without_touching_any_dependency(api_client, django_assert_num_queries, monkeypatch):
    def must_not_run():
        raise AssertionError("liveness must not run a dependency check")

    for name in health.CHECKS:
        monkeypatch.setitem(health.CHECKS, name, must_not_run)

    with django_assert_num_queries(0):
        response = api_client.get("/healthz/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_is_200_when_database_and_storage_answer(api_client):
    response = api_client.get("/healthz/ready")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert "stripe" not in body["checks"]
    assert body["failed"] == []


def test_ready_is_503_naming_storage_when_s3_is_unreachable(api_client, unreachable_s3):
    response = api_client.get("/healthz/ready")

    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]


def test_a_stripe_outage_is_reported_but_never_fails_readiness(api_client, stripe_unreachable):
    ready = api_client.get("/healthz/ready")
    full = api_client.get("/healthz")

    assert ready.status_code == 200
    assert ready.json()["checks"]["stripe"]["ok"] is False
    assert ready.json()["degraded"] == ["stripe"]
    assert ready.json()["failed"] == []
    assert full.status_code == 503  # /healthz keeps its meaning: everything we depend on
    assert full.json()["failed"] == ["stripe"]


def test_check_results_are_reused_for_a_few_seconds(api_client, settings, monkeypatch):
    settings.HEALTH_CHECK_CACHE_SECONDS = 5
    now = [1000.0]
    runs = {"database": 0, "storage": 0}

    def counted(name, fails=False):
        def check():
            runs[name] += 1
            if fails:
                raise ConnectionError("down")

        return check

    monkeypatch.setattr(health, "_clock", lambda: now[0])
    monkeypatch.setitem(health.CHECKS, "database", counted("database"))
    monkeypatch.setitem(health.CHECKS, "storage", counted("storage", fails=True))

    first = api_client.get("/healthz/ready")
    now[0] += 4.9
    second = api_client.get("/healthz")
    now[0] += 0.2
    third = api_client.get("/healthz/ready")

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 503]
    assert runs == {"database": 2, "storage": 2}  # failures are reused too: a dead dependency is not hammered


def test_live_and_ready_when_the_database_is_unreachable():
    """Alive, but not ready."""
    result, stderr = _get_with_the_database_down("/healthz/live", "/healthz/ready")

    assert result["/healthz/live"] == {"status": 200, "body": {"status": "ok"}}, stderr
    assert result["/healthz/ready"]["status"] == 503
    assert result["/healthz/ready"]["body"]["failed"] == ["database"]
