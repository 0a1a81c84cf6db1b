"""History benchmark: GET /api/payment/history at 1M invoice+payment rows (plus credit notes and refunds) on
PostgreSQL vs a bare DRF endpoint.

Run: .venv/bin/python -m bench.billing_history [--rows 1000000] [--customers 2000] [--requests 600]

It starts its own PostgreSQL (harness/) unless DATABASE_URL is set, migrates, seeds with
`manage.py billing_bench_seed` (set-based SQL, ~1 min for 1M rows), and serves the project with gunicorn
(one sync worker, as deployed). Against that server it sends the same mixed workload (pages 1-21 of
customers with ~500 rows each, some with status/type filters) to:

- /api/payment/history: the real endpoint (JWT auth, selector, serializers, paging envelope);
- /bench/history-bare: a bare DRF view returning the same page from one hand-written SQL query
  (UNION ALL of the four tables, each limited to offset + limit rows, and a COUNT per table summed), the floor
  any implementation pays for auth, routing and JSON.

Requests are interleaved so machine noise hits both alike; both answers are compared for equality first.
Targets: p50 and p95 <= 20 ms, ratio of p50s <= 2.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
from typing import Any

from bench import _common as common

TARGETS = {"p50_ms": 20.0, "p95_ms": 20.0, "ratio": 2.0}
BARE_PATH = "/bench/history-bare"

# Each table gives at most offset + limit rows from its (customer, date desc, id desc) index before the union is
# sorted; the count is one COUNT per table, summed (the plans stay small enough that PostgreSQL starts no parallel
# workers, whose start-up alone would cost more than the query).
BARE_BRANCHES = {
    "invoice": (
        "SELECT 'invoice' AS kind, i.id, i.finalized_at AS date, i.total AS amount, i.currency, i.status"
        " FROM billing_invoice i WHERE i.customer_id = %(customer)s AND i.finalized_at IS NOT NULL {filter}",
        "i",
        "i.finalized_at DESC, i.id DESC",
    ),
    "payment": (
        "SELECT 'payment', p.id, p.created_at, p.amount, p.currency, p.status"
        " FROM billing_payment p WHERE p.customer_id = %(customer)s {filter}",
        "p",
        "p.created_at DESC, p.id DESC",
    ),
    "credit_note": (
        "SELECT 'credit_note', c.id, c.issued_at, c.total, c.currency, 'issued'"
        " FROM billing_creditnote c WHERE c.customer_id = %(customer)s {filter}",
        "c",
        "c.issued_at DESC, c.id DESC",
    ),
    "refund": (
        "SELECT 'refund', r.id, r.created_at, r.amount, r.currency, r.status"
        " FROM billing_refund r WHERE r.customer_id = %(customer)s {filter}",
        "r",
        "r.created_at DESC, r.id DESC",
    ),
}


# --- the bare endpoint, served by the same gunicorn (ROOT_URLCONF points here) -------------------------


def _urlpatterns() -> list[Any]:
    from django.db import connection
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from billing.models import Customer

    class BareHistoryView(APIView):
        def get(self, request: Any) -> Any:
            limit = min(int(request.query_params.get("limit", 20)), 100)
            offset = int(request.query_params.get("offset", 0))
            status, kind = request.query_params.get("status"), request.query_params.get("type")
            customer = Customer.objects.filter(user_id=request.user.pk).values_list("pk", flat=True).first()
            params = {"customer": customer, "limit": limit, "offset": offset, "status": status}
            branches = []
            for kind_name, (select, alias, order) in BARE_BRANCHES.items():
                if kind not in (None, kind_name):
                    continue
                if status and kind_name == "credit_note":
                    if status != "issued":
                        continue
                    condition = ""
                else:
                    condition = f"AND {alias}.status = %(status)s" if status else ""
                branches.append((select.format(filter=condition), order))
            rows: list[Any] = []
            total = 0
            if branches:
                union = " UNION ALL ".join(
                    f"({select} ORDER BY {order} LIMIT %(window)s)" for select, order in branches
                )
                page_sql = (
                    f"SELECT * FROM ({union}) AS history"  # noqa: S608 - constant fragments only
                    " ORDER BY 3 DESC, 1 DESC, 2 DESC LIMIT %(limit)s OFFSET %(offset)s"
                )
                counts = [f"(SELECT COUNT(*) FROM ({select}) AS t)" for select, _ in branches]  # noqa: S608
                count_sql = "SELECT " + " + ".join(counts)
                with connection.cursor() as cursor:
                    cursor.execute(page_sql, {**params, "window": offset + limit})
                    rows = cursor.fetchall()
                    total = len(rows)
                    if offset or len(rows) == limit:  # the first page not full already shows everything
                        cursor.execute(count_sql, params)
                        total = cursor.fetchone()[0]
            history = [
                {"id": r[1], "type": r[0], "date": r[2], "amount": r[3], "currency": r[4], "status": r[5]} for r in rows
            ]
            return Response({"total": total, "history": history})

    return [path("", include("billing_site.urls")), path(BARE_PATH.lstrip("/"), BareHistoryView.as_view())]


# gunicorn serves bench.billing_history:application; Django reads this module's urlpatterns through __getattr__.
application, __getattr__ = common.urlconf_application(__name__, _urlpatterns)

# --- the benchmark ------------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing_history", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="invoice + payment rows to seed")
    parser.add_argument("--customers", type=int, default=2_000, help="customers the rows are spread over")
    parser.add_argument("--requests", type=int, default=600, help="timed requests per endpoint")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    import requests

    servers: list[Any] = []
    gunicorn: subprocess.Popen[bytes] | None = None
    environment = {**os.environ, **common.BASE_ENVIRONMENT, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    try:
        if not os.environ.get("DATABASE_URL"):
            print("starting PostgreSQL ...", flush=True)
            servers = common.start_servers(postgres=True, s3=False)
            environment.update(common.server_environment(servers))
        common.migrate(environment)
        print(f"seeding {args.rows:,} rows over {args.customers:,} customers ...", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "billing_bench_seed", f"--rows={args.rows}", f"--customers={args.customers}"],
            cwd=common.REPO_ROOT,
            env=environment,
            check=True,
        )

        os.environ.update(environment)
        import django

        django.setup()
        from rest_framework_simplejwt.tokens import RefreshToken

        from billing.management.commands.billing_bench_seed import USER_PREFIX
        from billing.models import CreditNote, Customer, Invoice, Payment, Refund

        counts = {
            "invoices": Invoice.objects.filter(number__startswith="BENCH-").count(),
            "payments": Payment.objects.filter(invoice__number__startswith="BENCH-").count(),
            "credit_notes": CreditNote.objects.filter(number__startswith="BENCH-CN-").count(),
            "refunds": Refund.objects.filter(credit_note__number__startswith="BENCH-CN-").count(),
        }
        sample = list(Customer.objects.filter(user__username__startswith=USER_PREFIX).order_by("?")[:50])
        tokens = {customer.pk: str(RefreshToken.for_user(customer.user).access_token) for customer in sample}
        from django.db import connections

        connections.close_all()

        gunicorn, base = common.gunicorn_start(application="bench.billing_history:application", environment=environment)
        session = requests.Session()

        rng = random.Random(20250301)
        filters = [
            {},
            {},
            {},
            {"type": "invoice"},
            {"type": "payment"},
            {"type": "credit_note"},
            {"type": "refund"},
            {"status": "paid"},
            {"status": "open"},
        ]
        workload = [
            (rng.choice(sample).pk, {"limit": 20, "offset": rng.choice([0, 0, 0, 20, 100, 400]), **rng.choice(filters)})
            for _ in range(args.requests)
        ]

        def get(path: str, customer_id: int, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {tokens[customer_id]}"}
            elapsed, response = common.timed(
                lambda: session.get(base + path, params=params, headers=headers, timeout=30)
            )
            if response.status_code != 200:
                raise SystemExit(f"bench: {path} answered {response.status_code}: {response.text[:300]}")
            return elapsed, response.json()

        # Same answers first (and a warm-up): ids, types, order and totals must agree.
        for customer_id, params in workload[:60]:
            _, ours = get("/api/payment/history", customer_id, params)
            _, bare = get(BARE_PATH, customer_id, params)
            mine = [(row["type"], row["id"]) for row in ours["history"]]
            floor = [(row["type"], row["id"]) for row in bare["history"]]
            if mine != floor or ours["total"] != bare["total"]:
                raise SystemExit(f"bench: the endpoints disagree for {params}: {mine[:3]} vs {floor[:3]}")

        api: list[float] = []
        floor_ms: list[float] = []
        for customer_id, params in workload:
            api.append(get("/api/payment/history", customer_id, params)[0])
            floor_ms.append(get(BARE_PATH, customer_id, params)[0])
    finally:
        common.gunicorn_stop(gunicorn)
        for server in servers:
            server.close()

    results = {
        "rows": counts,
        "customers": args.customers,
        "requests": args.requests,
        "history": {"p50_ms": round(percentile(api, 0.5), 2), "p95_ms": round(percentile(api, 0.95), 2)},
        "bare_drf": {"p50_ms": round(percentile(floor_ms, 0.5), 2), "p95_ms": round(percentile(floor_ms, 0.95), 2)},
    }
    results["ratio_p50"] = round(results["history"]["p50_ms"] / results["bare_drf"]["p50_ms"], 2)
    results["ratio_p95"] = round(results["history"]["p95_ms"] / results["bare_drf"]["p95_ms"], 2)
    results["mean_ms"] = {"history": round(statistics.mean(api), 2), "bare_drf": round(statistics.mean(floor_ms), 2)}
    ok = report(results)
    common.results_write("billing_history", results)
    return 0 if ok or not args.check else 1


def report(results: dict[str, Any]) -> bool:
    history, bare = results["history"], results["bare_drf"]
    checks = {
        "p50": history["p50_ms"] <= TARGETS["p50_ms"],
        "p95": history["p95_ms"] <= TARGETS["p95_ms"],
        "ratio": results["ratio_p50"] <= TARGETS["ratio"],
    }

    rows = results["rows"]
    print()
    print(
        f"payment history benchmark: {rows['invoices']:,} invoices + {rows['payments']:,} payments + "
        f"{rows.get('credit_notes', 0):,} credit notes + {rows.get('refunds', 0):,} refunds, "
        f"{results['customers']:,} customers, {results['requests']} requests per endpoint"
    )
    print(
        f"  /api/payment/history  p50 {history['p50_ms']:.2f} ms [<= 20] {common.verdict(checks['p50'])}, "
        f"p95 {history['p95_ms']:.2f} ms [<= 20] {common.verdict(checks['p95'])}"
    )
    print(f"  bare DRF endpoint     p50 {bare['p50_ms']:.2f} ms, p95 {bare['p95_ms']:.2f} ms")
    ratio_p50, ratio_p95 = results["ratio_p50"], results["ratio_p95"]
    print(f"  ratio p50 {ratio_p50:.2f} [<= 2] {common.verdict(checks['ratio'])}, ratio p95 {ratio_p95:.2f}")
    return all(checks.values())


if __name__ == "__main__":
    raise SystemExit(main())
