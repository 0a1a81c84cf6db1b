"""PostgreSQL's lock_timeout and statement_timeout on every connection (billing_site.db), longer statements for
Celery workers, and a cancelled statement answered 503 `database_busy`, not 500."""

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, connections, transaction
from rest_framework.test import APIClient

from billing_site import db
from billing_site.api.errors import exception_handler
from storage.tests.factories import DEFAULT_PASSWORD

from .helpers import jwt_client

T = TypeVar("T")


def in_new_connection(work: Callable[[], T]) -> T:
    """Run `work` on another thread, so on a connection opened for it (as a new request or task would)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed back to the test
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")
        return str(cursor.fetchone()[0])


@pytest.fixture
def worker_role() -> Iterator[None]:
    db.database_role_set("worker")
    yield
    db.database_role_set("web")


@pytest.fixture
def small_timeouts(settings: Any) -> None:
    settings.DATABASE_LOCK_TIMEOUT_MS = 1234
    settings.DATABASE_STATEMENT_TIMEOUT_MS = 5678
    settings.WORKER_DATABASE_STATEMENT_TIMEOUT_MS = 91011


def test_every_new_connection_has_the_web_timeouts(postgresql, small_timeouts):
    shown = in_new_connection(lambda: (_show("lock_timeout"), _show("statement_timeout")))

    assert shown == ("1234ms", "5678ms")


def test_worker_processes_get_the_longer_statement_timeout(postgresql, small_timeouts, worker_role):
    shown = in_new_connection(lambda: (_show("lock_timeout"), _show("statement_timeout")))

    assert shown == ("1234ms", "91011ms")


def test_an_unknown_database_role_is_refused():
    with pytest.raises(ValueError, match="web, worker"):
        db.database_role_set("beat")
    assert db.database_role() == "web"


@pytest.mark.django_db(transaction=True)
def test_a_request_blocked_by_a_row_lock_answers_503_database_busy(postgresql, settings, customer_user):
    settings.DATABASE_LOCK_TIMEOUT_MS = 200
    client: APIClient = jwt_client(customer_user)
    user_model = get_user_model()
    password_before = customer_user.password

    # Another connection (this test's) holds the user's row, as a long transaction elsewhere would.
    with transaction.atomic():
        user_model.objects.select_for_update().get(pk=customer_user.pk)
        response = in_new_connection(
            lambda: client.post(
                "/api/auth/password",
                {"old_password": DEFAULT_PASSWORD, "new_password": "a-Fresh-passphrase-42"},
                format="json",
            )
        )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_busy"
    assert response.json()["error"]["fields"] == {"retry_after_seconds": 2}
    assert response["Retry-After"] == "2"
    assert user_model.objects.get(pk=customer_user.pk).password == password_before  # nothing changed


@pytest.mark.django_db(transaction=True)
def test_a_statement_cancelled_by_statement_timeout_is_503_database_busy(postgresql, settings):
    settings.DATABASE_STATEMENT_TIMEOUT_MS = 50

    def slow_query() -> OperationalError:
        with pytest.raises(OperationalError) as cancelled, connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return cancelled.value

    error = in_new_connection(slow_query)
    response = exception_handler(error, {})

    assert type(error.__cause__).__name__ == "QueryCanceled"
    assert response is not None
    assert response.status_code == 503
    assert response.data["error"]["code"] == "database_busy"


def test_other_database_errors_stay_unexpected_errors():
    assert exception_handler(OperationalError("connection refused"), {}) is None  # handler500 answers
