"""Redis stopped while customers create invoices through a real app server: the requests succeed, the PDFs wait in
the database, and once Redis is back the sweeper hands them to a worker, which renders every one."""

import pytest
import requests
from rest_framework_simplejwt.tokens import RefreshToken

from billing.enums import InvoicePdfStatus, JobKind
from billing.models import Invoice
from billing_site.jobs.models import Job, JobStatus
from harness.stack import app_server_start, celery_worker_start

from .support import FAULTS_GROUP, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group(FAULTS_GROUP), pytest.mark.slow]

INVOICES = 4
# A request must not wait on the dead broker: each gets this long at most, far more than a healthy one needs.
REQUEST_LIMIT_SECONDS = 10


def test_invoices_created_while_redis_is_down_get_their_pdfs_once_it_is_back(
    customer, stack_env, stack, harness_redis, broker_send
):
    token = RefreshToken.for_user(customer.user).access_token
    headers = {"Authorization": f"Bearer {token}"}
    env = stack_env()
    app = app_server_start(env)
    stack.append(app)

    harness_redis.stop()
    created = []
    for number in range(INVOICES):
        response = requests.post(
            f"{app.url}/api/payment/invoice",
            json={"amount_krw": 10_000 * (number + 1), "description": f"Redis down #{number}"},
            headers=headers,
            timeout=REQUEST_LIMIT_SECONDS,
        )
        assert response.status_code == 201, response.text
        created.append(response.json()["invoice_id"])

    assert sorted(Invoice.objects.filter(customer=customer).values_list("pk", "pdf_status")) == [
        (pk, InvoicePdfStatus.PENDING) for pk in sorted(created)
    ]
    jobs = Job.objects.filter(kind=JobKind.INVOICE_PDF_RENDER)
    assert sorted(jobs.values_list("payload__invoice_id", "status", "enqueued_at")) == [
        (pk, JobStatus.PENDING, None) for pk in sorted(created)
    ]

    harness_redis.start()
    stack.append(celery_worker_start(env, concurrency=1, name="after-outage"))
    broker_send("jobs.sweep")

    wait_until(
        lambda: not Invoice.objects.filter(pk__in=created).exclude(pdf_status=InvoicePdfStatus.READY).exists(),
        what="every PDF rendering",
    )
    assert sorted(jobs.values_list("payload__invoice_id", "status", "attempts")) == [
        (pk, JobStatus.DONE, 1) for pk in sorted(created)
    ]
