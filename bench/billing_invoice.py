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

TARGETS = {"p50_ms": 120.0, "ratio": 1.5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing_invoice", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed invoices per path (median taken)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    environment = {
        **common.BASE_ENVIRONMENT,
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "THROTTLE_INVOICES_RATE": "100000/hour",  # the bench posts more invoices than a person would
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
    storage = type(cast(Any, default_storage)._wrapped).__name__
    return {
        "runs": runs,
        "storage": storage,
        "ours_p50_ms": round(statistics.median(ours_ms), 1),
        "ours_p95_ms": round(sorted(ours_ms)[int(0.95 * (runs - 1))], 1),
        "raw_p50_ms": round(statistics.median(raw_ms), 1),
        "api_p50_ms": round(statistics.median(api_ms), 1),
        "ratio": round(statistics.median(ours_ms) / statistics.median(raw_ms), 2),
        "pdf_bytes": default_storage.size(cast("StoredFile", Invoice.objects.get(pk=sample.pk).pdf_file).key),
    }


def report(results: dict[str, Any]) -> bool:
    checks = {"p50": results["ours_p50_ms"] <= TARGETS["p50_ms"], "ratio": results["ratio"] <= TARGETS["ratio"]}
    print()
    print(f"invoice benchmark (median of {results['runs']} runs, storage {results['storage']})")
    print(
        f"  create + finalize + PDF + store: p50 {results['ours_p50_ms']:.1f} ms [<= 120] "
        f"{common.verdict(checks['p50'])}, p95 {results['ours_p95_ms']:.1f} ms"
    )
    print(f"  raw xhtml2pdf render + storage save of the same HTML: p50 {results['raw_p50_ms']:.1f} ms")
    print(f"  ratio {results['ratio']:.2f} [<= 1.5] {common.verdict(checks['ratio'])}")
    print(f"  POST /api/payment/invoice (in process, with signed URL): p50 {results['api_p50_ms']:.1f} ms")
    return all(checks.values())


if __name__ == "__main__":
    raise SystemExit(main())
