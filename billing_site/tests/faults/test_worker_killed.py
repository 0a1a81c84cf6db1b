"""kill -9 of a Celery worker in the middle of an invoice PDF: the job is taken over and the PDF made exactly once.

Two crashes: the pool process that runs the task dies (its parent gives the message back to Redis, and a worker
takes it again), or the whole worker dies, as with its machine (the message stays unacknowledged in Redis until
its visibility timeout; the sweeper sees the run's database session gone and sends the job again)."""

import os
import signal

import pytest

from billing.enums import InvoicePdfStatus, JobKind
from billing.models import Invoice
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.pdf import ATTACHED_TYPE
from billing_site.jobs.models import Job, JobStatus
from harness.stack import celery_worker_start
from storage.models import StoredFile
from storage.tests.helpers import current_storage

from .support import FAULTS_GROUP, read_lines, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group(FAULTS_GROUP), pytest.mark.slow]


@pytest.mark.parametrize("killed", ["pool process", "whole worker"])
def test_a_pdf_whose_worker_is_killed_mid_render_is_rendered_exactly_once_after_all(
    killed, customer, stack_env, stack, broker_send, monkeypatch, tmp_path
):
    # The invoice is issued here, its PDF job left pending (as if Redis had refused the message); a worker gets it.
    monkeypatch.setattr("billing_site.jobs.services.job_dispatch", lambda **_: False)
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput(description="Pro 플랜", unit_amount=99_000)])
    job = Job.objects.get(kind=JobKind.INVOICE_PDF_RENDER, payload={"invoice_id": invoice.pk})
    renders, slow_marker = tmp_path / "renders.log", tmp_path / "slow-render-started"
    env = stack_env(
        TEST_CELERY_IMPORTS="billing_site.tests.faults.hooks",
        FAULTS_PDF_SLOW_MARKER=str(slow_marker),
        FAULTS_PDF_SLOW_SECONDS="120",
        FAULTS_PDF_RENDER_LOG=str(renders),
    )
    first = celery_worker_start(env, concurrency=1, name="doomed")
    stack.append(first)
    broker_send("jobs.run", job.pk)

    wait_until(slow_marker.exists, what="the first worker starting the render")
    (pool_process,) = first.children()
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    if killed == "pool process":
        os.kill(pool_process, signal.SIGKILL)
    else:
        first.kill()
    stack.append(celery_worker_start(env, concurrency=1, name="survivor"))
    if killed == "whole worker":
        broker_send("jobs.sweep")

    wait_until(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.DONE).exists(), what="the PDF job finishing")
    done = Job.objects.get(kind=JobKind.INVOICE_PDF_RENDER, payload={"invoice_id": invoice.pk})
    assert (done.pk, done.status, done.attempts) == (job.pk, JobStatus.DONE, 2)
    assert len(read_lines(renders)) == 1  # the killed render never finished; the redelivered one did, once
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.pdf_status, invoice.pdf_rendered_revision) == (InvoicePdfStatus.READY, invoice.pdf_revision)
    stored = StoredFile.objects.filter(attached_type=ATTACHED_TYPE, attached_id=str(invoice.pk))
    assert [file.pk for file in stored] == [invoice.pdf_file_id]
    assert current_storage().exists(invoice.pdf_file.key)
    if killed == "pool process":
        assert "WorkerLostError" in first.log_since_start()  # it died mid-task, and the task was given back
