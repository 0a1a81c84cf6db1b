"""Renewals benchmark: N due subscriptions renewed with PDFs by one Celery worker, then (fresh data) by two.

Run: .venv/bin/python -m bench.renewals [--subscriptions 10000] [--check]

It starts its own PostgreSQL, LocalStack S3 and Redis (harness/), migrates, and for each round:

- seeds N active monthly subscriptions whose period ends today (Asia/Seoul), each of its own customer, with
  bulk inserts (a few seconds for 10,000);
- starts the Procfile's `worker` (harness/stack.py: `celery -A billing_site worker`, `--concurrency 1`) once,
  then twice, on the Redis broker, with the project's local settings (DEBUG off, Stripe off);
- sends `billing.renewals` through Redis (`renewals_task.delay()`); a worker fans it out into one
  `billing.subscription_renew` job per subscription, each issues the period's invoice, whose PDF is a
  `billing.invoice_pdf_render` job (xhtml2pdf, stored on S3);
- measures from the send until every renewal job is done and every new invoice's PDF is ready (the last job's
  `finished_at`), and the CPU time the workers used.

Afterwards `billing.renewals` runs a second time the same day and must issue nothing (invoices counted).
Targets: >= 25 invoices with PDF per second per worker, two workers >= 1.7x one, a second run issues 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import _common as common

TARGETS = {"per_worker_per_second": 25.0, "scaling": 1.7}
USER_PREFIX = "bench-renewal-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.renewals", description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000, help="due subscriptions per round")
    parser.add_argument("--breakdown", type=int, default=30, help="renders timed step by step in this process")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    environment = {**common.BASE_ENVIRONMENT, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    print("starting servers ...", flush=True)
    servers = common.start_servers(postgres=True, s3=True, redis=True)
    try:
        environment.update(common.server_environment(servers))
        os.environ.update(environment)
        common.migrate()
        results = measure(environment, args.subscriptions, args.breakdown)
    finally:
        for server in servers:
            server.close()
    ok = report(results)
    common.results_write("renewals", results)
    return 0 if ok or not args.check else 1


def measure(environment: dict[str, str], count: int, breakdown: int) -> dict[str, Any]:
    import django

    django.setup()
    from billing.models import Invoice

    one = renewal_round(environment, count=count, workers=1, tag="a")
    two = renewal_round(environment, count=count, workers=2, tag="b")
    before = Invoice.objects.count()
    again = second_run(environment)
    issued_again = Invoice.objects.count() - before
    return {
        "subscriptions": count,
        "one_worker": one,
        "two_workers": two,
        "scaling": round(two["per_second"] / one["per_second"], 2),
        "second_run": {"enqueued": again, "invoices_issued": issued_again},
        "breakdown_ms": pdf_breakdown(breakdown),
        "load_average": os.getloadavg(),
    }


def seed(*, count: int, tag: str) -> list[int]:
    """`count` active monthly subscriptions due today, one customer each; bulk inserts, returns their ids."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from billing.models import Customer, SubscriptionPlan
    from billing.models.subscriptions import Subscription
    from billing.periods import add_months, billing_date

    started = time.monotonic()
    today = billing_date(timezone.now())
    plan, _ = SubscriptionPlan.objects.get_or_create(
        slug="bench-renewals",
        defaults={"name": "벤치 플랜", "name_en": "Bench plan", "monthly_price": 29_000, "annual_price": 290_000},
    )
    prefix = f"{USER_PREFIX}{tag}-"
    unusable = make_password(None)
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [
            user_model(username=f"{prefix}{index}", email=f"{prefix}{index}@example.com", password=unusable)
            for index in range(count)
        ],
        batch_size=2000,
    )
    users = list(user_model.objects.filter(username__startswith=prefix).only("pk", "username", "email"))
    customers = Customer.objects.bulk_create(
        [
            Customer(user=user, display_name=f"주식회사 {user.username}", email=user.email, address="서울특별시 중구")
            for user in users
        ],
        batch_size=2000,
    )
    start = add_months(today, -1)
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(
                customer=customer,
                plan=plan,
                billing_period="monthly",
                status="active",
                currency="KRW",
                price_amount=plan.monthly_price,
                billing_cycle_anchor=start,
                current_period_start=start,
                current_period_end=today,
            )
            for customer in customers
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        for table in ("auth_user", "billing_customer", "billing_subscription", "billing_invoice", "jobs_job"):
            cursor.execute(f"ANALYZE {table}")
    print(f"  seeded {count} due subscriptions in {time.monotonic() - started:.1f} s", flush=True)
    return [subscription.pk for subscription in subscriptions]


def renewal_round(environment: dict[str, str], *, count: int, workers: int, tag: str) -> dict[str, Any]:
    from django.db.models import Max
    from django.utils import timezone

    from billing.enums import JobKind
    from billing.models.subscriptions import SubscriptionInvoice
    from billing.tasks import renewals_task
    from billing_site.jobs.models import Job
    from harness.stack import celery_worker_start

    print(f"round with {workers} worker(s):", flush=True)
    ids = seed(count=count, tag=tag)
    started_workers = [
        celery_worker_start(worker_environment(environment), concurrency=1, name=f"renew-{tag}{index}")
        for index in range(workers)
    ]
    try:
        cpu_before = sum(process_cpu_seconds(worker.pid) for worker in started_workers)
        sent = timezone.now()
        clock = time.monotonic()
        renewals_task.delay()
        links = SubscriptionInvoice.objects.filter(subscription_id__in=ids)
        deadline = clock + max(600.0, count / 2.0)
        last_print = 0.0
        while True:
            renew_counts = job_counts(JobKind.SUBSCRIPTION_RENEW, sent)
            pdf_counts = job_counts(JobKind.INVOICE_PDF_RENDER, sent)
            issued = links.count()
            ready = links.filter(invoice__pdf_status="ready").count()
            if renew_counts.get("failed") or pdf_counts.get("failed"):
                raise SystemExit(f"bench: jobs failed: renewals {renew_counts}, PDFs {pdf_counts}")
            renewals_done = renew_counts.get("done", 0) == count and sum(renew_counts.values()) == count
            if renewals_done and issued == count and ready == count:
                break
            now = time.monotonic()
            if now > deadline:
                raise SystemExit(f"bench: not finished in time: renewals {renew_counts}, {ready}/{issued} PDFs ready")
            if now - last_print >= 15:
                last_print = now
                print(f"  {now - clock:5.0f} s: renewals {renew_counts}, PDFs ready {ready}/{issued}", flush=True)
            time.sleep(0.5)
        finished = Job.objects.filter(created_at__gte=sent).aggregate(last=Max("finished_at"))["last"]
        cpu_seconds = sum(process_cpu_seconds(worker.pid) for worker in started_workers) - cpu_before
    finally:
        for worker in started_workers:
            worker.close()
    elapsed = (finished - sent).total_seconds()
    per_second = count / elapsed
    result = {
        "workers": workers,
        "invoices_with_pdf": count,
        "seconds": round(elapsed, 1),
        "per_second": round(per_second, 2),
        "per_second_per_worker": round(per_second / workers, 2),
        "worker_cpu_ms_per_invoice": round(cpu_seconds * 1000 / count, 1),
        "pdf_job_ms": job_durations(JobKind.INVOICE_PDF_RENDER, sent),
        "renew_job_ms": job_durations(JobKind.SUBSCRIPTION_RENEW, sent),
    }
    print(
        f"  {count} invoices with PDF in {elapsed:.1f} s: {per_second:.2f}/s, "
        f"{per_second / workers:.2f}/s per worker, worker CPU {result['worker_cpu_ms_per_invoice']} ms per invoice",
        flush=True,
    )
    return result


def worker_environment(environment: dict[str, str]) -> dict[str, str]:
    # INFO: harness/stack.py knows a worker is ready from Celery's " ready." line.
    return {**os.environ, **environment, "LOG_LEVEL": "INFO", "LOG_FORMAT": "plain"}


def job_counts(kind: str, since: datetime) -> dict[str, int]:
    from django.db.models import Count

    from billing_site.jobs.models import Job

    rows = Job.objects.filter(kind=kind, created_at__gte=since).values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def job_durations(kind: str, since: datetime) -> dict[str, float]:
    """Median and p95 of how long one job ran (claim to finish), in milliseconds."""
    from billing_site.jobs.models import Job

    spans = sorted(
        (finished - started).total_seconds() * 1000
        for started, finished in Job.objects.filter(kind=kind, created_at__gte=since).values_list(
            "started_at", "finished_at"
        )
        if started and finished
    )
    if not spans:
        return {}
    return {"p50": round(statistics.median(spans), 1), "p95": round(spans[int(0.95 * (len(spans) - 1))], 1)}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its children (Celery's pool processes), from /proc."""
    from harness.stack import child_pids

    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for each in [pid, *child_pids(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def second_run(environment: dict[str, str]) -> int:
    """billing.renewals again the same day, through a worker; returns how many jobs it enqueued."""
    from django.utils import timezone

    from billing.tasks import renewals_task
    from billing_site.jobs.models import Job
    from harness.stack import celery_worker_start

    worker = celery_worker_start(worker_environment(environment), concurrency=1, name="renew-again")
    try:
        sent = timezone.now()
        renewals_task.delay()
        deadline = time.monotonic() + 60
        while "billing.renewals" not in worker.log_since_start() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # anything it enqueued would be running by now
        enqueued = Job.objects.filter(created_at__gte=sent).count()
    finally:
        worker.close()
    return enqueued


def pdf_breakdown(renders: int) -> dict[str, float]:
    """Where one invoice's time goes, in this process: the renewal transaction (and its queries), then the PDF's
    template, xhtml2pdf render and S3 store (median ms). The renewals' PDF jobs go to Redis and stay there."""
    if renders <= 0:
        return {}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from billing.models.subscriptions import Subscription
    from billing.periods import billing_date
    from billing.services.subscriptions import subscription_renew

    renew_ms: list[float] = []
    queries: list[int] = []
    for subscription_id in seed(count=renders, tag="breakdown"):
        subscription = Subscription.objects.get(pk=subscription_id)
        with CaptureQueriesContext(connection) as captured:
            elapsed, _ = common.timed(
                partial(subscription_renew, subscription=subscription, as_of=billing_date(timezone.now()))
            )
        renew_ms.append(elapsed)
        queries.append(len(captured.captured_queries))
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from billing.models import Invoice
    from billing.services.pdf import invoice_pdf_html, pdf_from_html

    invoices = list(Invoice.objects.prefetch_related("lines").exclude(number=None).order_by("-pk")[:renders])
    template_ms: list[float] = []
    render_ms: list[float] = []
    store_ms: list[float] = []
    for invoice in invoices:
        template_elapsed, html = common.timed(partial(invoice_pdf_html, invoice=invoice))
        render_elapsed, content = common.timed(partial(pdf_from_html, html))
        store_elapsed, name = common.timed(
            partial(default_storage.save, f"bench/breakdown-{time.time_ns()}.pdf", ContentFile(content))
        )
        template_ms.append(template_elapsed)
        render_ms.append(render_elapsed)
        store_ms.append(store_elapsed)
        default_storage.delete(name)
    return {
        "renewal_transaction": round(statistics.median(renew_ms), 1),
        "renewal_queries": statistics.median(queries),
        "template": round(statistics.median(template_ms), 1),
        "xhtml2pdf": round(statistics.median(render_ms), 1),
        "s3_store": round(statistics.median(store_ms), 1),
    }


def report(results: dict[str, Any]) -> bool:
    one, two = results["one_worker"], results["two_workers"]
    checks = {
        "one": one["per_second_per_worker"] >= TARGETS["per_worker_per_second"],
        "two": two["per_second_per_worker"] >= TARGETS["per_worker_per_second"],
        "scaling": results["scaling"] >= TARGETS["scaling"],
        "again": results["second_run"]["invoices_issued"] == 0 and results["second_run"]["enqueued"] == 0,
    }
    print()
    print(f"renewals benchmark ({results['subscriptions']} due subscriptions per round, PDFs on S3)")
    for key, row in (("one", one), ("two", two)):
        print(
            f"  {row['workers']} worker(s): {row['invoices_with_pdf']} invoices with PDF in {row['seconds']} s = "
            f"{row['per_second']}/s, {row['per_second_per_worker']}/s per worker [>= 25] {common.verdict(checks[key])}"
        )
        print(
            f"    worker CPU {row['worker_cpu_ms_per_invoice']} ms per invoice; job run time p50/p95: "
            f"renewal {row['renew_job_ms']}, PDF {row['pdf_job_ms']}"
        )
    print(f"  two/one ratio {results['scaling']} [>= 1.7] {common.verdict(checks['scaling'])}")
    again = results["second_run"]
    print(
        f"  second billing.renewals the same day: {again['enqueued']} jobs, {again['invoices_issued']} invoices "
        f"[0] {common.verdict(checks['again'])}"
    )
    if results["breakdown_ms"]:
        print(f"  one PDF in process, median ms: {results['breakdown_ms']}")
    print(f"  load average at the end: {', '.join(f'{value:.2f}' for value in results['load_average'])}")
    return all(checks.values())


if __name__ == "__main__":
    raise SystemExit(main())
