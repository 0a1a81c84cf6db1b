"""PostgreSQL restarted under a running app server: the same gunicorn processes serve again, nothing restarted.

The app server keeps its database connections between requests as in production (CONN_MAX_AGE 60, health
checks on), so every gunicorn thread holds a connection the restart breaks."""

import pytest
import requests
from rest_framework_simplejwt.tokens import RefreshToken

from billing.services.invoices import InvoiceLineInput, invoice_issue
from harness.stack import app_server_start

from .support import FAULTS_GROUP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group(FAULTS_GROUP), pytest.mark.slow]

THREADS = 4
REQUEST_LIMIT_SECONDS = 10


def test_an_app_server_serves_again_after_its_postgresql_restarts(
    customer, stack_env, stack, database_copy, monkeypatch
):
    monkeypatch.setattr("billing_site.jobs.services.job_dispatch", lambda **_: False)  # its PDF is not the point
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput(description="Pro 플랜", unit_amount=99_000)])
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(customer.user).access_token}"}
    postgres, url = database_copy()
    app = app_server_start(
        stack_env(DATABASE_URL=url, TEST_DATABASE_CONN_MAX_AGE="60", WEB_CONCURRENCY="1", GUNICORN_THREADS=str(THREADS))
    )
    stack.append(app)
    workers = app.children()

    def invoice_list() -> requests.Response:
        return requests.get(f"{app.url}/api/invoices", headers=headers, timeout=REQUEST_LIMIT_SECONDS)

    def answers(count: int) -> list[int]:
        # Concurrent, so that every thread of the gunicorn worker serves (and keeps a connection).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(count) as pool:
            return [response.status_code for response in pool.map(lambda _: invoice_list(), range(count))]

    assert answers(2 * THREADS) == [200] * (2 * THREADS)
    assert [row["id"] for row in invoice_list().json()["results"]] == [invoice.pk]

    postgres.stop()
    during = invoice_list()
    assert during.status_code >= 500, during.text  # an error answered at once, not a hang; the client may retry
    postgres.start()

    assert answers(2 * THREADS) == [200] * (2 * THREADS)
    assert [row["id"] for row in invoice_list().json()["results"]] == [invoice.pk]
    assert (app.running, app.children()) == (True, workers)  # the same processes: no restart of anything
