"""Usage benchmark: event ingestion through POST /api/usage/events beside a raw COPY, and GET /api/usage at 10M
stored events beside the bare rollup query.

Run: .venv/bin/python -m bench.usage [--events 10000000] [--customers 500] [--seconds 60] [--clients 4]
     [--partitioned] [--requests 600] [--phase both|ingest|reads] [--data-dir DIR] [--check]

It starts its own PostgreSQL (harness/) unless DATABASE_URL is set (`--data-dir` keeps the cluster in DIR and
reuses it, so the seed is paid once), migrates, and seeds with `manage.py billing_usage_bench_seed` (set-based
SQL: events, dedup keys, hourly rollups and distinct values; a complete seed of the same size is kept). An API key
with usage:write and entitlements:read is made with billing.services.api_keys.api_key_create.

1. Ingestion. The Procfile's `web` (`gunicorn -c deploy/gunicorn.conf.py billing_site.wsgi:application`, the
   config's defaults on this machine: 2 x cores gthread workers of 4 threads) takes `--clients` keep-alive
   connections (asyncio, bench/_http.py), each sending batches of 1,000 fresh events (random bench customers and
   metrics, timestamps of the last minute; with `--partitioned` each client keeps to its own share of customers)
   with `Authorization: Api-Key` for `--seconds`. Every answer must be 200 with all 1,000 accepted. Reported:
   accepted events / elapsed, and per 10-s window. Then the same number of rows, prepared beforehand, is COPYed
   into billing_usageevent (psycopg, the same table and partition; rolled back after timing, so the rollups stay
   exact), three times; the median is the floor. Afterwards a SQL check compares, for every hour the run touched,
   the events with their rollups, their keys and distinct values.
2. Reads. The same gunicorn config serving bench.usage:application (the project's URLs plus a bare view) takes
   `--requests` sequential requests each, interleaved, for random bench customers: GET /api/usage with the
   customer's JWT, GET /api/usage?customer=<id> with the API key, and the bare view (JWT, the live subscription,
   then billing.selectors.usage.usage_quantities over the same window: the floor of auth, routing, the rollup SQL
   and JSON). In this process, after one warm-up read per customer, the current-usage read itself is timed:
   billing.services.usage_reads.usage_report_for (what GET /api/usage answers: the subscription, its charges, the
   quantities from the rollups, the projected amounts; every query of the endpoint but the caller's user), and
   usage_quantities alone. Answers are compared first, and with usage_quantities_brute_force (the events
   themselves) for a few customers.

Targets (TARGETS): >= 10,000 events/s sustained; the current-usage read of one customer p95 <= 10 ms; GET
/api/usage p95 at most twice the bare view's (the HTTP, auth and framework floor of this machine, which alone is
above 10 ms here: docs/performance.md); no error; rollups equal to the events after the run.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _common as common
from bench._usage_ingest import (
    BATCH,
    METRIC_VALUES,
    WINDOW_SECONDS,
    consistency_check,
    copy_runs,
    ingest_run,
    percentile,
)

TARGETS = {"events_per_second": 10_000.0, "read_p95_ms": 10.0, "http_ratio_to_bare": 2.0, "errors": 0}
BARE_PATH = "/bench/usage-bare"

# --- the bare view, served with the project's URLs (reads phase) ---------------------------------------


def _urlpatterns() -> list[Any]:
    from django.urls import include, path
    from django.utils import timezone
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from billing.models import BillableMetric, Subscription
    from billing.periods import ServicePeriod
    from billing.selectors.usage import usage_quantities, usage_window_so_far

    metrics = list(BillableMetric.objects.filter(code__in=METRIC_VALUES))

    class BareUsageView(APIView):
        throttle_classes: list[Any] = []

        def get(self, request: Any) -> Any:
            subscription = (
                Subscription.objects.filter(customer__user_id=request.user.pk, status="active")
                .values("customer_id", "current_period_start", "current_period_end")
                .first()
            )
            if subscription is None:
                return Response({"metrics": {}})
            period = ServicePeriod(subscription["current_period_start"], subscription["current_period_end"])
            start, end = usage_window_so_far(period, now=timezone.now())
            quantities = usage_quantities(
                customer_id=subscription["customer_id"], metrics=metrics, start=start, end=end
            )
            return Response({"metrics": {metric.code: quantities[metric.pk] for metric in metrics}})

    return [path("", include("billing_site.urls")), path(BARE_PATH.lstrip("/"), BareUsageView.as_view())]


# gunicorn serves bench.usage:application; Django reads this module's urlpatterns through __getattr__.
application, __getattr__ = common.urlconf_application(__name__, _urlpatterns)

# --- the benchmark ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.usage", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="usage events to seed")
    parser.add_argument("--customers", type=int, default=500, help="bench customers the events are spread over")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the ingestion phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent ingestion connections")
    parser.add_argument("--requests", type=int, default=600, help="timed read requests per endpoint")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the PostgreSQL cluster in this folder")
    parser.add_argument(
        "--partitioned",
        action="store_true",
        help="each client sends only its own share of the customers (default: every batch mixes all of them)",
    )
    parser.add_argument("--phase", choices=["both", "ingest", "reads"], default="both", help="what to measure")
    parser.add_argument(
        "--workers", type=int, default=2 * len(os.sched_getaffinity(0)), help="gunicorn workers (the config's default)"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (the config's default)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    servers: list[Any] = []
    environment = {**os.environ, **common.BASE_ENVIRONMENT, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    try:
        if not os.environ.get("DATABASE_URL"):
            print("starting PostgreSQL ...", flush=True)
            servers = postgres_start(args.data_dir)
            environment.update(common.server_environment(servers))
        common.migrate(environment)
        print(f"seeding {args.events:,} usage events over {args.customers:,} customers ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "billing_usage_bench_seed",
                f"--events={args.events}",
                f"--customers={args.customers}",
            ],
            cwd=common.REPO_ROOT,
            env=environment,
            check=True,
        )
        os.environ.update(environment)
        import django

        django.setup()
        results = measure(environment, args)
    finally:
        for server in servers:
            server.close()
    ok = report(results)
    common.results_write("usage", results)
    return 0 if ok or not args.check else 1


def postgres_start(data_dir: Path | None) -> list[Any]:
    if data_dir is None:
        return common.start_servers(postgres=True, s3=False)
    from harness.postgres import PostgresServer

    server = PostgresServer(data_dir=data_dir)
    server.start()
    return [server]


def measure(environment: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from billing.enums import ApiKeyScope
    from billing.management.commands.billing_usage_bench_seed import USER_PREFIX
    from billing.models import BillableMetric, Customer, UsageEvent
    from billing.services.api_keys import api_key_create

    staff, _ = get_user_model().objects.get_or_create(
        username="usage-bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    _, api_key = api_key_create(
        name=f"bench {datetime.now(UTC):%Y-%m-%d %H:%M}",
        scopes=[ApiKeyScope.USAGE_WRITE, ApiKeyScope.ENTITLEMENTS_READ],
        expires_at=None,
        actor=staff,
    )
    customers = list(
        Customer.objects.filter(user__username__startswith=USER_PREFIX)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.customers]
    )
    metric_ids = dict(BillableMetric.objects.filter(code__in=METRIC_VALUES).values_list("code", "pk"))
    stored = UsageEvent.objects.count()
    connections.close_all()

    server_environment = {
        **environment,
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": "",
    }
    from harness.stack import app_server_start

    ingest = reads = None
    if args.phase != "reads":
        print(f"ingestion: {args.clients} clients x batches of {BATCH:,} for {args.seconds:.0f} s ...", flush=True)
        web = app_server_start(server_environment, name="usage-web")
        try:
            ingest = ingest_run(web.port, api_key, customers, args.clients, args.seconds, partitioned=args.partitioned)
        finally:
            web.close()
        print(f"  {ingest['accepted']:,} events accepted; checking rollups ...", flush=True)
        ingest["consistency"] = consistency_check(ingest)
        print(f"COPY of {ingest['accepted']:,} rows, three times ...", flush=True)
        ingest["copy"] = copy_runs(ingest["accepted"], customers, metric_ids)
        connections.close_all()
    if args.phase != "ingest":
        print(f"reads: {args.requests} requests per endpoint ...", flush=True)
        reads = reads_run(server_environment, api_key, customers, args.requests)
    return {
        "stored_events_before": stored,
        "customers": len(customers),
        "server": {
            "command": "gunicorn -c deploy/gunicorn.conf.py billing_site.wsgi:application",
            "workers": int(server_environment["WEB_CONCURRENCY"]),
            "threads": int(server_environment["GUNICORN_THREADS"]),
            "worker_class": "gthread",
        },
        "ingest": ingest,
        "reads": reads,
        "load_average": os.getloadavg(),
    }


# --- 2. reads -------------------------------------------------------------------------------------------


def reads_run(server_environment: dict[str, str], api_key: str, customers: list[int], requests: int) -> dict[str, Any]:
    import requests as http
    from django.db import connections
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from billing.models import BillableMetric, Customer, Subscription
    from billing.periods import ServicePeriod
    from billing.selectors.usage import usage_quantities, usage_quantities_brute_force, usage_window_so_far
    from billing.services.usage_reads import usage_report_for
    from harness.process import free_port
    from harness.stack import StackProcess, procfile_command

    rng = random.Random(20260301)
    sample = rng.sample(customers, min(100, len(customers)))
    tokens = {
        customer.pk: str(RefreshToken.for_user(customer.user).access_token)
        for customer in Customer.objects.filter(pk__in=sample).select_related("user")
    }
    metrics = list(BillableMetric.objects.filter(code__in=METRIC_VALUES))
    windows = {}
    for row in Subscription.objects.filter(customer_id__in=sample, status="active").values(
        "customer_id", "current_period_start", "current_period_end"
    ):
        period = ServicePeriod(row["current_period_start"], row["current_period_end"])
        windows[row["customer_id"]] = usage_window_so_far(period, now=timezone.now())
    workload = [rng.choice(sample) for _ in range(requests)]

    for customer_id in sample:  # one warm-up read each: the timed reads below are of a running server's cache
        usage_report_for(customer_id=customer_id)
    service_ms = []
    for customer_id in workload:
        elapsed, _ = common.timed(lambda: usage_report_for(customer_id=customer_id))  # noqa: B023
        service_ms.append(elapsed)
    sql_ms = []
    for customer_id in workload:
        start, end = windows[customer_id]
        elapsed, _ = common.timed(
            lambda: usage_quantities(customer_id=customer_id, metrics=metrics, start=start, end=end)  # noqa: B023
        )
        sql_ms.append(elapsed)
    brute = {}
    for customer_id in sample[:5]:
        start, end = windows[customer_id]
        found = usage_quantities_brute_force(customer_id=customer_id, metrics=metrics, start=start, end=end)
        brute[customer_id] = {metric.code: found[metric.pk] for metric in metrics}
    connections.close_all()

    argv = [*procfile_command("web")[:-1], "bench.usage:application"]
    port = free_port()
    environment = {**server_environment, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    server = StackProcess("usage-reads", argv, environment, ready=_answers_healthz, port=port)
    server.start()
    session = http.Session()
    base = server.url

    def get(kind: str, customer_id: int) -> tuple[float, dict[str, int]]:
        if kind == "bare":
            url, headers = base + BARE_PATH, {"Authorization": f"Bearer {tokens[customer_id]}"}
        elif kind == "jwt":
            url, headers = base + "/api/usage", {"Authorization": f"Bearer {tokens[customer_id]}"}
        else:
            url, headers = base + f"/api/usage?customer={customer_id}", {"Authorization": f"Api-Key {api_key}"}
        elapsed, response = common.timed(lambda: session.get(url, headers=headers, timeout=30))
        if response.status_code != 200:
            raise SystemExit(f"bench: {url} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        if kind == "bare":
            return elapsed, body["metrics"]
        return elapsed, {metric["code"]: metric["quantity"] for metric in body["metrics"]}

    try:
        # Same answers first (and a warm-up); the brute force over the events agrees with the rollups.
        for customer_id in sample[:30]:
            answers = [get(kind, customer_id)[1] for kind in ("jwt", "key", "bare")]
            if not answers[0] == answers[1] == answers[2]:
                raise SystemExit(f"bench: the reads disagree for customer {customer_id}: {answers}")
        for customer_id, expected in brute.items():
            if get("jwt", customer_id)[1] != expected:
                raise SystemExit(f"bench: rollups disagree with the events for customer {customer_id}")
        samples: dict[str, list[float]] = {"jwt": [], "key": [], "bare": []}
        for customer_id in workload:
            for kind in samples:
                samples[kind].append(get(kind, customer_id)[0])
    finally:
        server.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50_ms": round(percentile(values, 0.5), 2), "p95_ms": round(percentile(values, 0.95), 2)}

    results: dict[str, Any] = {kind: summary(values) for kind, values in samples.items()}
    results["sql"] = {"p50_ms": round(percentile(sql_ms, 0.5), 3), "p95_ms": round(percentile(sql_ms, 0.95), 3)}
    results["service"] = {
        "p50_ms": round(percentile(service_ms, 0.5), 3),
        "p95_ms": round(percentile(service_ms, 0.95), 3),
    }
    results["requests"] = requests
    results["brute_force_checked"] = len(brute)
    return results


def _answers_healthz(process: Any) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{process.url}/healthz/live", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return False


def report(results: dict[str, Any]) -> bool:
    """Print the figures against TARGETS; True when every target of the phases run is met."""
    server = results["server"]
    print()
    print(
        f"usage benchmark: {results['stored_events_before']:,} events stored before the run, "
        f"{results['customers']:,} customers; gunicorn {server['workers']} {server['worker_class']} workers x "
        f"{server['threads']} threads; load average {', '.join(f'{v:.1f}' for v in results['load_average'])}"
    )
    checks: dict[str, bool] = {}
    if results["ingest"] is not None:
        checks.update(ingest_report(results["ingest"]))
    if results["reads"] is not None:
        checks.update(reads_report(results["reads"]))
    return all(checks.values())


def ingest_report(ingest: dict[str, Any]) -> dict[str, bool]:
    checks = {
        "rate": ingest["events_per_second"] >= TARGETS["events_per_second"],
        "errors": ingest["errors"] == TARGETS["errors"],
        "consistent": ingest["consistency"]["ok"],
    }
    print(
        f"  ingestion  {ingest['events_per_second']:,.0f} events/s over {ingest['seconds']:.1f} s "
        f"[>= {TARGETS['events_per_second']:,.0f}] {common.verdict(checks['rate'])}; {ingest['clients']} clients, "
        f"{ingest['batches']} batches, batch p50 {ingest['batch_ms']['p50']} ms p95 {ingest['batch_ms']['p95']} ms"
    )
    print(f"    per {WINDOW_SECONDS} s: {', '.join(f'{rate:,.0f}' for rate in ingest['windows_events_per_second'])}")
    print(
        f"    errors {ingest['errors']} [0] {common.verdict(checks['errors'])}; "
        f"client CPU {ingest['client_cpu_share']:.0%} of one core"
    )
    for sample in ingest["error_samples"]:
        print(f"      {sample}")
    consistency = ingest["consistency"]
    print(
        f"    rollups = events: {consistency['rollups_differing']} differing (customer, metric, hour) rows, "
        f"{consistency['distinct_values_missing']} distinct values missing, {consistency['events_stored']:,} events "
        f"and {consistency['keys_stored']:,} keys stored: {common.verdict(checks['consistent'])}"
    )
    copy = ingest["copy"]
    ratio = ingest["events_per_second"] / copy["events_per_second"] if copy["events_per_second"] else 0.0
    ingest["ratio_to_copy"] = round(ratio, 4)
    print(
        f"  raw COPY   {copy['events_per_second']:,.0f} rows/s ({copy['rows']:,} rows in "
        f"{', '.join(f'{s:.2f}' for s in copy['seconds'])} s); API / COPY = {ratio:.3f}"
    )
    return checks


def reads_report(reads: dict[str, Any]) -> dict[str, bool]:
    worst_p95 = max(reads["jwt"]["p95_ms"], reads["key"]["p95_ms"])
    reads["ratio_p95_to_bare"] = round(worst_p95 / reads["bare"]["p95_ms"], 2)
    checks = {
        "read_p95": reads["service"]["p95_ms"] <= TARGETS["read_p95_ms"],
        "http_ratio": reads["ratio_p95_to_bare"] <= TARGETS["http_ratio_to_bare"],
    }
    for kind, label in (("jwt", "GET /api/usage (JWT)"), ("key", "GET /api/usage (Api-Key)"), ("bare", "bare view")):
        print(f"  {label:<26} p50 {reads[kind]['p50_ms']:.2f} ms, p95 {reads[kind]['p95_ms']:.2f} ms")
    print(f"  usage_quantities SQL alone p50 {reads['sql']['p50_ms']:.3f} ms, p95 {reads['sql']['p95_ms']:.3f} ms")
    service = reads["service"]
    print(
        f"  current-usage read (usage_report_for) p50 {service['p50_ms']:.3f} ms, p95 {service['p95_ms']:.3f} ms "
        f"[<= {TARGETS['read_p95_ms']:.0f}] {common.verdict(checks['read_p95'])}"
    )
    print(
        f"  GET /api/usage p95 {worst_p95:.2f} ms = {reads['ratio_p95_to_bare']:.2f} x the bare view's "
        f"[<= {TARGETS['http_ratio_to_bare']:.0f}] {common.verdict(checks['http_ratio'])}"
    )
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
