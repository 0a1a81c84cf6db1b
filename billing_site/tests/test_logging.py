"""Log lines carry the request id (echoed in X-Request-ID) and the acting user; jobs set their own context; JSON
when asked; Sentry only with a DSN."""

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk
from django.core.exceptions import ImproperlyConfigured

from billing_site.logging import (
    JsonFormatter,
    LogContextFilter,
    log_context,
    log_context_clear,
    log_format_from_environment,
)

from .helpers import admin_session

ROOT = Path(__file__).resolve().parents[2]


def _parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    # A response an earlier test never closed (so request_finished never came) would leave its request's context.
    log_context_clear()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.mark.django_db
def test_an_api_requests_log_line_has_the_echoed_request_id_and_the_jwt_user(customer, customer_client, json_log):
    response = customer_client.get("/api/invoices/999999999")

    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0  # a fresh uuid4 hex
    not_found = [line for line in _parsed(json_log) if line["logger"] == "django.request"]
    assert len(not_found) == 1
    assert not_found[0]["request_id"] == request_id
    assert not_found[0]["user_id"] == customer.user.pk
    assert not_found[0]["level"] == "WARNING"
    assert "/api/invoices/999999999" in not_found[0]["message"]


@pytest.mark.django_db
def test_an_admin_requests_log_line_has_the_session_user(superuser, json_log):
    response = admin_session(superuser).get("/admin/no-such-page/", HTTP_X_REQUEST_ID="lb-0123456789abcdef")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-0123456789abcdef"
    lines = [line for line in _parsed(json_log) if line["logger"] == "django.request"]
    assert [(line["request_id"], line["user_id"]) for line in lines] == [("lb-0123456789abcdef", superuser.pk)]


@pytest.mark.django_db
def test_an_anonymous_request_logs_no_user_and_the_proxys_request_id(api_client, json_log):
    response = api_client.get("/api/no-such-endpoint", HTTP_X_REQUEST_ID="3f2b8c1e-2f4d-4c39-9a57-0c2d1b9e8a10")

    assert response["X-Request-ID"] == "3f2b8c1e-2f4d-4c39-9a57-0c2d1b9e8a10"
    lines = [line for line in _parsed(json_log) if line["logger"] == "django.request"]
    assert [(line["request_id"], line["user_id"]) for line in lines] == [(response["X-Request-ID"], None)]


@pytest.mark.parametrize(
    "incoming",
    ["short", "has space 123456789", "line\nbreak-123456789", "<script>alert(1)</script>", "x" * 129, "-leading-dash"],
)
@pytest.mark.django_db
def test_a_malformed_incoming_request_id_is_replaced_by_a_new_one(api_client, incoming):
    response = api_client.get("/healthz/live", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32
    int(response["X-Request-ID"], 16)


@pytest.mark.django_db
def test_every_response_gets_its_own_request_id_and_nothing_leaks_after_it(api_client, json_log):
    first = api_client.get("/healthz/live")
    second = api_client.get("/healthz/live")
    logging.getLogger("billing_site.tests").warning("between requests")

    assert first["X-Request-ID"] != second["X-Request-ID"]
    between = [line for line in _parsed(json_log) if line["message"] == "between requests"]
    assert [(line["request_id"], line["user_id"]) for line in between] == [(None, None)]


def test_a_job_sets_its_own_context_for_the_lines_it_logs(json_log):
    logger = logging.getLogger("billing_site.jobs.test")

    with log_context(request_id="r-0123456789", job_id=42):
        logger.info("rendering")
        with log_context(attempt=2):
            logger.info("retrying")
    logger.info("idle")

    lines = {line["message"]: line for line in _parsed(json_log)}
    assert (lines["rendering"]["request_id"], lines["rendering"]["job_id"]) == ("r-0123456789", 42)
    assert (lines["retrying"]["job_id"], lines["retrying"]["attempt"]) == (42, 2)
    assert lines["idle"]["request_id"] is None
    assert "job_id" not in lines["idle"]


def test_an_explicit_extra_wins_over_the_context(json_log):
    with log_context(request_id="r-0123456789"):
        logging.getLogger("billing_site.tests").info("explicit", extra={"request_id": "given"})

    assert _parsed(json_log)[0]["request_id"] == "given"


def test_log_format_is_plain_or_json_and_nothing_else(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert log_format_from_environment("plain") == "json"
    monkeypatch.delenv("LOG_FORMAT")
    assert log_format_from_environment("plain") == "plain"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        log_format_from_environment("plain")


def test_every_handler_of_the_settings_adds_the_context(settings):
    handlers = settings.LOGGING["handlers"]

    assert handlers and all("context" in handler.get("filters", []) for handler in handlers.values())


# --- Sentry ----------------------------------------------------------------------------------------------------


def test_without_sentry_dsn_sentry_is_not_initialised(settings):
    assert not os.environ.get("SENTRY_DSN"), "the test run must not report to Sentry"
    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


def test_with_sentry_dsn_sentry_starts_with_django_and_celery_and_no_personal_data(tmp_path):
    code = (
        "import django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['send_default_pii'], c.options['environment'], c.options['release'], "
        "sorted(i for i in c.integrations if i in ('django', 'celery')))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "DJANGO_"))},
        "DJANGO_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "billing_site.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Nothing listens there, and nothing is sent: no event happens.
        "SENTRY_DSN": "http://public@127.0.0.1:9/1",
        "SENTRY_ENVIRONMENT": "staging",
        "SENTRY_RELEASE": "billing@1.2.3",
    }

    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(None, 4) == ["True", "False", "staging", "billing@1.2.3", "['celery', 'django']"]
