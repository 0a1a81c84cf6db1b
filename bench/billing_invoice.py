"""Invoice benchmark: create + finalize + PDF + store, against a raw xhtml2pdf render plus a raw storage save.

Run: .venv/bin/python -m bench.billing_invoice [--runs 40]

It starts its own PostgreSQL and LocalStack S3 (harness/) unless DATABASE_URL / AWS_STORAGE_BUCKET_NAME are
set, migrates, and measures in this process:

- ours: billing.services.invoices.invoice_issue for a Korean customer (draft, lines, VAT, the day's number
  under its row lock, commit), whose after-commit hook renders the Korean PDF from the Django templates
  with the Hangul font and stores it through storage.services.file_store (S3 object + StoredFile row);
- raw: xhtml2pdf's pisa.CreatePDF of the same invoice HTML (already rendered, same font and policy) and
  default_storage.save of the bytes: the least any implementation must do.

Runs are interleaved; the ratio is of medians. Targets: ours p50 <= 120 ms, ratio <= 1.5.
POST /api/payment/invoice (through Django's test client, in process) is reported for information.

Email: issuing an invoice only writes the "invoice issued" Email row and its job; a worker sends it. The bench
leaves those jobs waiting, as a broker would (nothing of the email runs inside the timed paths), sends them all at
the end through the dummy backend (each invoice must end with exactly one sent email), and measures the cost of
the enqueue itself: the issuing transaction alone (no job run after commit) with the email queued against the
same transaction with the email call removed, interleaved. Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import uuid
from typing import TYPE_CHECKING, Any, cast

from bench import _common as common

if TYPE_CHECKING:  # Django is set up inside run(), after the servers start
    from storage.models import StoredFile

TARGETS = {"p50_ms": 120.0, "ratio": 1.5, "email_ratio": 1.10}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing_invoice", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed invoices per path (median taken)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    environment = {
        **common.BASE_ENVIRONMENT,
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "THROTTLE_INVOICES_RATE": "100000/hour",  # the bench posts more invoices than a person would
        "EMAIL_URL": "dummymail://",  # rendered and handed to Django's email API, which drops them
    }
    need_postgres = not os.environ.get("DATABASE_URL")
    need_s3 = not os.environ.get("AWS_STORAGE_BUCKET_NAME")
    print("starting servers ...", flush=True)
    servers = common.start_servers(postgres=need_postgres, s3=need_s3)
    try:
        environment.update(common.server_environment(servers))
        os.environ.update(environment)
        common.migrate()
        results = measure(args.runs)
    finally:
        for server in servers:
            server.close()

    ok = report(results)
    common.results_write("billing_invoice", results)
    return 0 if ok or not args.check else 1


def measure(runs: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken
    from xhtml2pdf import pisa

    from billing.models import Invoice
    from billing.services.customers import customer_get_or_create
    from billing.services.invoices import InvoiceLineInput, invoice_issue
    from billing.services.pdf import invoice_pdf_html, pdf_resource_policy

    user = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:8]}", "bench@example.com", "x")
    customer = customer_get_or_create(user=user)
    customer.display_name = "주식회사 벤치마크"
    customer.business_registration_number = "2208162517"
    customer.address = "서울특별시 중구 세종대로 110"
    customer.save()
    lines = [
        InvoiceLineInput("Pro 플랜 (월간)", 99_000),
        InvoiceLineInput("추가 좌석", 11_000, quantity=3),
        InvoiceLineInput("기술 지원", 50_000),
    ]

    def ours() -> Invoice:
        return invoice_issue(customer=customer, lines=lines)

    sample = ours()
    sample.refresh_from_db()
    if sample.pdf_status != "ready":
        raise SystemExit(f"bench: the PDF was not stored ({sample.pdf_status}: {sample.pdf_error})")
    html = invoice_pdf_html(invoice=Invoice.objects.prefetch_related("lines").get(pk=sample.pk))
    policy = pdf_resource_policy()

    def raw() -> None:
        output = io.BytesIO()
        pisa.CreatePDF(html, dest=output, encoding="utf-8", resource_policy=policy)
        default_storage.save(f"bench/raw-{uuid.uuid4().hex}.pdf", ContentFile(output.getvalue()))

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")

    def api() -> None:
        response = client.post("/api/payment/invoice", {"amount_krw": 99_000}, format="json")
        if response.status_code != 201 or response.json()["pdf_status"] != "ready":
            raise SystemExit(
                f"bench: POST /api/payment/invoice answered {response.status_code}: {response.content[:300]}"
            )

    _email_jobs_wait_for_a_worker()
    for _ in range(3):  # warm both paths: imports, font parsing, connections
        ours()
        raw()
        api()
    ours_ms: list[float] = []
    raw_ms: list[float] = []
    api_ms: list[float] = []
    for _ in range(runs):
        ours_ms.append(common.timed(ours)[0])
        raw_ms.append(common.timed(raw)[0])
        api_ms.append(common.timed(api)[0])
    pending = Invoice.objects.exclude(pdf_status="ready").count()
    if pending:
        raise SystemExit(f"bench: {pending} invoices were left without a stored PDF")
    with_email_ms, without_email_ms = _email_enqueue_cost(ours, runs)
    emails_sent = _emails_send_and_check(issued_without_email=len(without_email_ms))
    storage = type(cast(Any, default_storage)._wrapped).__name__
    return {
        "runs": runs,
        "storage": storage,
        "ours_p50_ms": round(statistics.median(ours_ms), 1),
        "ours_p95_ms": round(sorted(ours_ms)[int(0.95 * (runs - 1))], 1),
        "raw_p50_ms": round(statistics.median(raw_ms), 1),
        "api_p50_ms": round(statistics.median(api_ms), 1),
        "ratio": round(statistics.median(ours_ms) / statistics.median(raw_ms), 2),
        "issue_with_email_p50_ms": round(statistics.median(with_email_ms), 2),
        "issue_without_email_p50_ms": round(statistics.median(without_email_ms), 2),
        "email_ratio": round(statistics.median(with_email_ms) / statistics.median(without_email_ms), 3),
        "emails_sent": emails_sent,
        "pdf_bytes": default_storage.size(cast("StoredFile", Invoice.objects.get(pk=sample.pk).pdf_file).key),
    }


def _email_jobs_wait_for_a_worker() -> None:
    """From now on an email's job is written but not run after commit: it waits, as it would for a worker."""
    from datetime import timedelta

    from billing_site.jobs.services import job_enqueue_new
    from billing_site.mail import services as mail_services

    def enqueue_without_dispatch(**arguments: Any) -> Any:
        return job_enqueue_new(**arguments, delay=timedelta(0))  # a delayed job is not dispatched on commit

    mail_services.job_enqueue_new = enqueue_without_dispatch


def _email_enqueue_cost(ours: Any, runs: int) -> tuple[list[float], list[float]]:
    """The issuing transaction alone (jobs not run after commit), with the email queued and without, interleaved."""
    from billing.services import invoices as invoice_services
    from billing_site.jobs import services as job_services

    queue_email = invoice_services.invoice_issued_email_queue
    dispatch = job_services._dispatch_on_commit
    job_services._dispatch_on_commit = lambda job_ids: None
    with_email: list[float] = []
    without_email: list[float] = []
    try:
        for _ in range(3):
            ours()
        for _ in range(runs * 2):
            with_email.append(common.timed(ours)[0])
            invoice_services.invoice_issued_email_queue = lambda **arguments: None
            try:
                without_email.append(common.timed(ours)[0])
            finally:
                invoice_services.invoice_issued_email_queue = queue_email
    finally:
        job_services._dispatch_on_commit = dispatch
    return with_email, without_email


def _emails_send_and_check(*, issued_without_email: int) -> int:
    """Run every waiting job (PDFs of the enqueue-cost invoices, then the emails), as workers would; every issued
    invoice but those of the no-email comparison must have exactly one sent "invoice issued" email."""
    from billing.enums import EmailKind
    from billing.models import Invoice
    from billing_site.jobs.models import Job, JobStatus
    from billing_site.jobs.services import job_run
    from billing_site.mail.models import Email, EmailStatus

    for job_id in Job.objects.filter(status=JobStatus.PENDING).order_by("kind", "id").values_list("id", flat=True):
        job_run(job_id=job_id)
    issued = Invoice.objects.exclude(number=None).count() - issued_without_email
    emails = Email.objects.filter(kind=EmailKind.INVOICE_ISSUED)
    sent = emails.filter(status=EmailStatus.SENT).count()
    if emails.count() != issued or sent != issued:
        raise SystemExit(f"bench: {issued} invoices issued, {emails.count()} invoice emails, {sent} sent")
    return sent


def report(results: dict[str, Any]) -> bool:
    checks = {
        "p50": results["ours_p50_ms"] <= TARGETS["p50_ms"],
        "ratio": results["ratio"] <= TARGETS["ratio"],
        "email_ratio": results["email_ratio"] <= TARGETS["email_ratio"],
    }
    print()
    print(f"invoice benchmark (median of {results['runs']} runs, storage {results['storage']})")
    print(
        f"  create + finalize + PDF + store: p50 {results['ours_p50_ms']:.1f} ms [<= 120] "
        f"{common.verdict(checks['p50'])}, p95 {results['ours_p95_ms']:.1f} ms"
    )
    print(f"  raw xhtml2pdf render + storage save of the same HTML: p50 {results['raw_p50_ms']:.1f} ms")
    print(f"  ratio {results['ratio']:.2f} [<= 1.5] {common.verdict(checks['ratio'])}")
    print(f"  POST /api/payment/invoice (in process, with signed URL): p50 {results['api_p50_ms']:.1f} ms")
    print(
        f"  issuing transaction with the email queued: p50 {results['issue_with_email_p50_ms']:.2f} ms, "
        f"without: {results['issue_without_email_p50_ms']:.2f} ms, ratio {results['email_ratio']:.3f} [<= 1.10] "
        f"{common.verdict(checks['email_ratio'])}"
    )
    print(f"  invoice emails sent afterwards by the jobs: {results['emails_sent']} (one per invoice)")
    return all(checks.values())


if __name__ == "__main__":
    raise SystemExit(main())
