"""Load benchmark: the deployed process shape under 100 concurrent clients, against a bare DRF endpoint.

Run: .venv/bin/python -m bench.load [--seconds 60] [--clients 100] [--think-ms 0] [--check]

It starts PostgreSQL, LocalStack S3 and Redis (harness/), migrates, loads the plans, seeds customers with a
payment history (`manage.py billing_bench_seed`) and one stored file each, then starts the deploy kit's own
processes (harness/stack.py, the commands of deploy/Procfile): two app servers (`gunicorn -c
deploy/gunicorn.conf.py billing_site.wsgi:application`, the config's defaults: 2 x cores workers of 4 threads),
two Celery workers (`--concurrency 1` each) and beat, on the Redis broker, with the local settings (DEBUG off,
Stripe off, access log off). Throttle rates are raised through their environment variables for the run
(THROTTLE_*_RATE), since each client keeps to its own two customers but sends far more than a person would.

Clients are asyncio coroutines in this process (bench/_http.py, keep-alive), alternating between the two servers.
Phases, each `--seconds` long:

1. mixed: the MIX below, reads and writes; every answer must be the documented success status;
2. reads: only the reads of the mix, on the same servers;
3. bare: every request is GET /bench/bare (bench/_bare_urls.py: DRF with the same JWT authentication, nothing
   else) on the same two servers restarted with DJANGO_SETTINGS_MODULE=bench._bare_settings.

After the mixed phase it waits for the workers to finish and checks: every invoice number of every day gapless,
every PDF job finished within 30 s of being enqueued and every invoice's PDF ready, one live stored PDF per
invoice and no more renders than revisions, every job run once (attempts 1), no job left pending or failed.
Targets: 0 errors, read p99 <= 250 ms (mixed phase), read throughput (reads phase) >= 50 % of the bare one's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import _common as common
from bench._http import HttpConnection

TARGETS = {"errors": 0, "read_p99_ms": 250.0, "read_throughput_ratio": 0.5, "pdf_seconds": 30.0}
CUSTOMERS_PER_CLIENT = 2
LOG_FOLDER = Path(tempfile.gettempdir()) / f"bench-load-logs-{os.getpid()}"
UPLOAD_BYTES = 1024 * 1024

# (endpoint, weight, read?): history and lists dominate, as on a billing site; writes are 16 % of requests.
MIX: list[tuple[str, int, bool]] = [
    ("GET /api/payment/history", 28, True),
    ("GET /api/invoices", 14, True),
    ("GET /api/payment/subscriptions", 10, True),
    ("GET /api/payment/plans", 16, True),
    ("POST /api/files/presigned-url", 16, True),
    ("POST /api/payment/invoice", 7, False),
    ("POST /api/payment/subscribe", 5, False),
    ("POST /api/files/upload", 4, False),
]
EXPECTED_STATUS = {"POST /api/payment/invoice": 201, "POST /api/payment/subscribe": 201, "POST /api/files/upload": 201}


@dataclass
class Customer:
    token: str
    file_id: str
    plan: str | None = None


@dataclass
class PhaseResult:
    seconds: float
    client_cpu_seconds: float
    samples: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of a client between two requests of the mixed phase (exponential; 0: none, saturation)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    environment = {
        **common.BASE_ENVIRONMENT,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THROTTLE_INVOICES_RATE": "1000000/hour",
        "THROTTLE_UPLOADS_RATE": "1000000/hour",
        "THROTTLE_AUTH_RATE": "1000000/hour",
    }
    print("starting servers ...", flush=True)
    servers = common.start_servers(postgres=True, s3=True, redis=True)
    try:
        environment.update(common.server_environment(servers))
        os.environ.update(environment)
        common.migrate()
        results = measure(environment, args.seconds, args.clients, args.think_ms)
    finally:
        for server in servers:
            server.close()
    ok = report(results)
    common.results_write("load", results, ensure_ascii=False)
    return 0 if ok or not args.check else 1


def measure(environment: dict[str, str], seconds: float, clients: int, think_ms: float) -> dict[str, Any]:
    customers = seed(clients * CUSTOMERS_PER_CLIENT)
    from harness.stack import app_server_start, celery_beat_start, celery_worker_start

    process_environment = {
        **os.environ,
        **environment,
        "WEB_CONCURRENCY": str(2 * len(os.sched_getaffinity(0))),  # deploy/gunicorn.conf.py's own default
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
        "LOG_LEVEL": "INFO",  # harness/stack.py sees a worker ready in its INFO lines
        "LOG_FORMAT": "plain",
    }
    upload_body, boundary = multipart_pdf(UPLOAD_BYTES)
    stack: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        try:
            stack += [celery_worker_start(process_environment, concurrency=1, name=f"load{n}") for n in (1, 2)]
            stack.append(celery_beat_start(process_environment, os.path.join(folder, "beat-schedule")))
            web = [app_server_start(process_environment, name=f"web{n}") for n in (1, 2)]
            stack += web
            ports = [server.port for server in web]
            print(f"mixed load: {clients} clients, {seconds:.0f} s ...", flush=True)
            started = timezone_now()
            mixed = run_phase(ports, customers, clients, seconds, MIX, upload_body, boundary, think_ms=think_ms)
            print(f"  {sum(len(v) for v in mixed.samples.values())} requests; waiting for the workers ...", flush=True)
            checks = after_checks(started)
            print(f"reads only: {clients} clients, {seconds:.0f} s ...", flush=True)
            reads = run_phase(ports, customers, clients, seconds, [m for m in MIX if m[2]], upload_body, boundary)
            for server in web:
                log_keep(server)
                stack.remove(server)
            bare_environment = {**process_environment, "DJANGO_SETTINGS_MODULE": "bench._bare_settings"}
            web = [app_server_start(bare_environment, name=f"bare{n}") for n in (1, 2)]
            stack += web
            print(f"bare DRF endpoint: {clients} clients, {seconds:.0f} s ...", flush=True)
            bare_mix = [("GET /bench/bare", 1, True)]
            bare = run_phase([s.port for s in web], customers, clients, seconds, bare_mix, upload_body, boundary)
        finally:
            for process in stack:
                log_keep(process)
    print(f"  logs of the app servers, workers and beat: {LOG_FOLDER}", flush=True)
    return {
        "clients": clients,
        "seconds": seconds,
        "think_ms": think_ms,
        "customers": len(customers),
        "mix": {name: weight for name, weight, _ in MIX},
        "mixed": phase_summary(mixed),
        "reads": phase_summary(reads),
        "bare": phase_summary(bare),
        "checks": checks,
        "load_average": os.getloadavg(),
    }


def log_keep(process: Any) -> None:
    """Stop a stack process, keeping its log in LOG_FOLDER (its own temp folder goes with it)."""
    process.stop()
    LOG_FOLDER.mkdir(parents=True, exist_ok=True)
    if process.log_path.exists():
        shutil.copyfile(process.log_path, LOG_FOLDER / f"{process.name}.log")
    process.close()


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def seed(count: int) -> list[Customer]:
    """`count` customers with ~50 history rows each, one stored file each, and an access token each."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "seed_plans"], cwd=common.REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*manage, "billing_bench_seed", "--rows", str(count * 50), "--customers", str(count), "--no-progress"],
        cwd=common.REPO_ROOT,
        check=True,
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from storage.services import file_store

    users = list(get_user_model().objects.filter(username__startswith="bench-customer-").order_by("pk")[:count])
    customers = []
    for user in users:
        stored = file_store(owner=user, content=pdf_bytes(2048), original_name="계약서.pdf", category="document")
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(hours=2))  # outlives every phase
        customers.append(Customer(token=str(token), file_id=str(stored.pk)))
    return customers


def pdf_bytes(size: int) -> bytes:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return head + os.urandom(size - len(head))


def multipart_pdf(size: int) -> tuple[bytes, str]:
    boundary = f"bench{uuid.uuid4().hex}"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\ndocument\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + pdf_bytes(size)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, boundary


def run_phase(
    ports: list[int],
    customers: list[Customer],
    clients: int,
    seconds: float,
    mix: list[tuple[str, int, bool]],
    upload_body: bytes,
    boundary: str,
    *,
    think_ms: float = 0.0,
) -> PhaseResult:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    result = PhaseResult(seconds=seconds, client_cpu_seconds=0.0)
    asyncio.run(_clients(ports, customers, clients, seconds, mix, upload_body, boundary, result, think_ms))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.seconds = time.monotonic() - started
    result.client_cpu_seconds = usage.ru_utime + usage.ru_stime - cpu_before
    return result


async def _clients(
    ports: list[int],
    customers: list[Customer],
    clients: int,
    seconds: float,
    mix: list[tuple[str, int, bool]],
    upload_body: bytes,
    boundary: str,
    result: PhaseResult,
    think_ms: float,
) -> None:
    deadline = time.monotonic() + seconds
    names = [name for name, _, _ in mix]
    weights = [weight for _, weight, _ in mix]

    async def client(index: int) -> None:
        chooser = random.Random(index)
        connection = HttpConnection("127.0.0.1", ports[index % len(ports)])
        mine = customers[index * CUSTOMERS_PER_CLIENT : (index + 1) * CUSTOMERS_PER_CLIENT]
        try:
            while time.monotonic() < deadline:
                name = chooser.choices(names, weights)[0]
                customer = mine[chooser.randrange(len(mine))]
                began = time.perf_counter()
                try:
                    kind, detail = await one_request(connection, name, customer, chooser, upload_body, boundary)
                except Exception as error:  # a transport failure counts as an error, and the client goes on
                    kind, detail = type(error).__name__, str(error)
                result.samples[name].append((time.perf_counter() - began) * 1000)
                if kind:
                    result.errors[f"{name}: {kind}"].append(detail)
                if think_ms:
                    await asyncio.sleep(min(chooser.expovariate(1000 / think_ms), deadline - time.monotonic()))
        finally:
            connection.close()

    await asyncio.gather(*(client(index) for index in range(clients)))


async def one_request(
    connection: HttpConnection, name: str, customer: Customer, chooser: random.Random, upload: bytes, boundary: str
) -> tuple[str, str]:
    """("", "") when the answer is the documented success, else (status, start of the body)."""
    headers = {"Authorization": f"Bearer {customer.token}", "Accept": "application/json"}
    method, path = name.split(" ", 1)
    body = b""
    if name == "GET /api/payment/history":
        path += f"?offset={20 * chooser.randrange(5)}"
    elif name == "POST /api/files/presigned-url":
        body = f'{{"file_id": "{customer.file_id}", "expires_in_hours": 24}}'.encode()
    elif name == "POST /api/payment/invoice":
        body = f'{{"amount_krw": {chooser.randrange(1000, 500_000)}, "description": "부하 시험"}}'.encode()
        headers["Idempotency-Key"] = str(uuid.uuid4())
    elif name == "POST /api/payment/subscribe":
        plan = "pro" if customer.plan == "starter" else "starter"
        body = f'{{"plan": "{plan}", "billing_period": "monthly"}}'.encode()
        headers["Idempotency-Key"] = str(uuid.uuid4())
    elif name == "POST /api/files/upload":
        body = upload
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    if body and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    answer = await connection.request(method, path, headers=headers, body=body)
    expected = EXPECTED_STATUS.get(name, 200)
    if answer.status != expected:
        return str(answer.status), answer.body[:300].decode(errors="replace")
    if name == "POST /api/payment/subscribe":
        customer.plan = plan
    return "", ""


def after_checks(started: Any) -> dict[str, Any]:
    """Wait for the workers to empty the queue, then check what the mixed phase left behind."""
    from django.db.models import Count

    from billing.enums import JobKind
    from billing.models import Invoice, InvoiceNumberSequence
    from billing_site.jobs.models import Job
    from storage.models import StoredFile

    waiting_since = time.monotonic()
    while Job.objects.filter(status__in=["pending", "running"]).exists() and time.monotonic() < waiting_since + 300:
        time.sleep(1)
    drain_seconds = time.monotonic() - waiting_since
    gaps = []
    for sequence in InvoiceNumberSequence.objects.all():
        numbers = sorted(
            int(str(number).rsplit("-", 1)[1])
            for number in Invoice.objects.filter(number__startswith=f"{sequence.day:%Y%m%d}-").values_list(
                "number", flat=True
            )
        )
        if numbers != list(range(1, sequence.last_number + 1)):
            gaps.append(f"{sequence.day}: {len(numbers)} numbers, last {sequence.last_number}")
    pdf_jobs = Job.objects.filter(kind=JobKind.INVOICE_PDF_RENDER, created_at__gte=started)
    pdf_seconds = sorted(
        (finished - created).total_seconds() if finished else float("inf")
        for created, finished in pdf_jobs.values_list("created_at", "finished_at")
    )
    touched = Invoice.objects.filter(updated_at__gte=started).exclude(number__startswith="BENCH-")
    files = StoredFile.objects.filter(attached_type="billing.invoice")
    live_per_invoice = dict(
        files.filter(deleted_at=None).values_list("attached_id").annotate(n=Count("pk")).values_list("attached_id", "n")
    )
    all_per_invoice = dict(files.values_list("attached_id").annotate(n=Count("pk")).values_list("attached_id", "n"))
    invoices = list(touched.values_list("pk", "pdf_status", "pdf_revision"))
    not_one_live = [pk for pk, _, _ in invoices if live_per_invoice.get(str(pk), 0) != 1]
    renders_beyond = [pk for pk, _, revision in invoices if all_per_invoice.get(str(pk), 0) > revision]
    run_jobs = Job.objects.filter(created_at__gte=started)
    left = {
        f"{row['kind']} {row['status']}": row["n"]
        for row in Job.objects.exclude(status="done").values("kind", "status").annotate(n=Count("pk"))
    }
    return {
        "drain_seconds": round(drain_seconds, 1),
        "invoices_touched": len(invoices),
        "number_gaps": gaps,
        "pdf_jobs": len(pdf_seconds),
        "pdf_seconds_p50": round(statistics.median(pdf_seconds), 2) if pdf_seconds else None,
        "pdf_seconds_max": round(pdf_seconds[-1], 2) if pdf_seconds else None,
        "pdf_over_30s": sum(1 for value in pdf_seconds if value > TARGETS["pdf_seconds"]),
        "pdf_not_ready": sum(1 for _, status, _ in invoices if status != "ready"),
        "invoices_without_one_live_pdf": len(not_one_live),
        "invoices_rendered_more_than_revisions": len(renders_beyond),
        "jobs": run_jobs.count(),
        "jobs_run_more_than_once": run_jobs.filter(attempts__gt=1).count(),
        "jobs_left_not_done": left,
    }


def phase_summary(phase: PhaseResult) -> dict[str, Any]:
    def percentiles(samples: list[float]) -> dict[str, float]:
        ordered = sorted(samples)

        def pick(share: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

        per_second = round(len(ordered) / phase.seconds, 1)
        return {"count": len(ordered), "per_second": per_second, "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}

    reads = [value for name, samples in phase.samples.items() for value in samples if _is_read(name)]
    every = [value for samples in phase.samples.values() for value in samples]
    return {
        "seconds": round(phase.seconds, 1),
        "endpoints": {name: percentiles(samples) for name, samples in sorted(phase.samples.items())},
        "reads": percentiles(reads) if reads else {},
        "all": percentiles(every) if every else {},
        "errors": sum(len(details) for details in phase.errors.values()),
        "error_kinds": {kind: {"count": len(details), "first": details[0]} for kind, details in phase.errors.items()},
        "client_cpu_percent": round(100 * phase.client_cpu_seconds / phase.seconds, 1),
    }


def _is_read(name: str) -> bool:
    return name == "GET /bench/bare" or any(read for each, _, read in MIX if each == name)


def report(results: dict[str, Any]) -> bool:
    mixed, reads, bare, checks = results["mixed"], results["reads"], results["bare"], results["checks"]
    ratio = reads["reads"]["per_second"] / bare["reads"]["per_second"] if bare["reads"] else 0.0
    results["read_throughput_ratio"] = round(ratio, 2)
    ok = {
        "errors": mixed["errors"] + reads["errors"] + bare["errors"] == 0,
        "read_p99": mixed["reads"]["p99"] <= TARGETS["read_p99_ms"],
        "ratio": ratio >= TARGETS["read_throughput_ratio"],
        "gapless": not checks["number_gaps"],
        "pdf": checks["pdf_over_30s"] == 0 and checks["pdf_not_ready"] == 0,
        "once": checks["invoices_without_one_live_pdf"] == 0
        and checks["invoices_rendered_more_than_revisions"] == 0
        and checks["jobs_run_more_than_once"] == 0,
        "lost": not checks["jobs_left_not_done"],
    }
    print()
    print(f"load benchmark: {results['clients']} clients, {results['seconds']:.0f} s per phase, two app servers")
    if results["think_ms"]:
        print(f"  mixed phase paced: each client pauses {results['think_ms']:.0f} ms on average between requests")
    for label, phase in (("mixed", mixed), ("reads only", reads), ("bare DRF endpoint", bare)):
        print(f"  {label}: {phase['all']['per_second']} req/s, client CPU {phase['client_cpu_percent']} % of a core")
        for name, row in phase["endpoints"].items():
            print(
                f"    {name:32} {row['count']:6} req {row['per_second']:7.1f}/s  "
                f"p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}  p99 {row['p99']:7.1f} ms"
            )
        for kind, errors in phase["error_kinds"].items():
            print(f"    error {kind} x {errors['count']}, first: {errors['first']}")
    print(f"  errors: {mixed['errors']} / {reads['errors']} / {bare['errors']} [0] {common.verdict(ok['errors'])}")
    print(f"  read p99 under the mixed load: {mixed['reads']['p99']} ms [<= 250] {common.verdict(ok['read_p99'])}")
    print(
        f"  read throughput {reads['reads']['per_second']}/s vs bare {bare['reads']['per_second']}/s = "
        f"{ratio:.2f} [>= 0.5] {common.verdict(ok['ratio'])}"
    )
    print(f"  invoice numbers gapless: {checks['number_gaps'] or 'yes'} {common.verdict(ok['gapless'])}")
    print(
        f"  PDFs: {checks['pdf_jobs']} jobs, enqueue-to-done p50 {checks['pdf_seconds_p50']} s, max "
        f"{checks['pdf_seconds_max']} s, {checks['pdf_over_30s']} over 30 s, {checks['pdf_not_ready']} not ready "
        f"{common.verdict(ok['pdf'])}"
    )
    print(
        f"  once: {checks['invoices_without_one_live_pdf']} invoices without exactly one live PDF, "
        f"{checks['invoices_rendered_more_than_revisions']} rendered more often than revised, "
        f"{checks['jobs_run_more_than_once']} of {checks['jobs']} jobs run more than once {common.verdict(ok['once'])}"
    )
    print(f"  jobs left not done: {checks['jobs_left_not_done'] or 'none'} {common.verdict(ok['lost'])}")
    print(f"  load average at the end: {', '.join(f'{value:.2f}' for value in results['load_average'])}")
    return all(ok.values())


if __name__ == "__main__":
    raise SystemExit(main())
