"""manage.py billing_usage_bench_seed: fill a PostgreSQL database with usage events, their dedup keys, hourly rollups
and distinct values for the usage benchmark (bench/usage.py).

For benchmarks only, never for tests of behaviour or production data. Everything is written with set-based SQL
(generate_series, then GROUP BY over the stored events), so 10 million events take minutes, not hours. The rows
belong to customers of users named `bench-usage-<n>` on a plan `bench-usage` with three metrics of its own
(`bench_calls` count, `bench_bytes` sum, `bench_users` unique count); each customer has an active monthly
subscription whose current period holds today. Event ids are `seed-<n>`. A run that finds a complete seed of the
same size does nothing; otherwise it deletes the usage rows of the bench customers and seeds again.
"""

import time
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from billing.enums import ChargeModel, MetricAggregation
from billing.models import BillableMetric, Customer, PlanCharge, Subscription, SubscriptionPlan
from billing.models.subscriptions import SubscriptionStatus
from billing.periods import BILLING_TIME_ZONE, add_months, billing_date

USER_PREFIX = "bench-usage-"
PLAN_SLUG = "bench-usage"
EVENT_ID_PREFIX = "seed-"
BATCH = 500_000
CUSTOMER_CHUNK = 50
# Values of the sum metric (bytes of one call) and of the unique-count metric (user ids of one customer).
MAX_BYTES = 1_000_000
USERS_PER_CUSTOMER = 200

# (code, name, name_en, unit, unit_en, aggregation, charge): the metrics the seed's events are for, in the order
# the event insert cycles through them.
METRICS: list[tuple[str, str, str, str, str, str, dict[str, Any]]] = [
    (
        "bench_calls",
        "벤치 API 호출",
        "Bench API calls",
        "건",
        "calls",
        MetricAggregation.COUNT,
        {"charge_model": ChargeModel.PER_UNIT, "included_quantity": 10_000, "unit_amount": 2},
    ),
    (
        "bench_bytes",
        "벤치 전송량",
        "Bench transfer",
        "바이트",
        "bytes",
        MetricAggregation.SUM,
        {"charge_model": ChargeModel.PACKAGE, "package_size": 1_000_000_000, "unit_amount": 100},
    ),
    (
        "bench_users",
        "벤치 활성 사용자",
        "Bench active users",
        "명",
        "users",
        MetricAggregation.UNIQUE_COUNT,
        {
            "charge_model": ChargeModel.GRADUATED,
            "included_quantity": 10,
            "tiers": [
                {"up_to": 100, "unit_amount": 1_000, "flat_amount": 0},
                {"up_to": None, "unit_amount": 500, "flat_amount": 0},
            ],
        },
    ),
]

# Event g belongs to customer g mod n and metric (g div n) mod 3, and its moment grows with g (uniform over the
# seeded days, a random jitter within its step): every index is then written near a few hundred hot places
# (the primary key (timestamp, id) at its end, the lookup index and the keys at each customer's end) instead of at
# random over 10 million rows, which is what makes the seed take minutes. setseed() makes a run repeatable.
EVENT_INSERT = """
INSERT INTO billing_usageevent (customer_id, metric_id, event_id, value, "timestamp", received_at)
SELECT customer_id, metric_id, %(prefix)s || g, value, moment, moment
FROM (
    SELECT g,
           (%(customers)s::bigint[])[1 + g %% %(customer_count)s] AS customer_id,
           (%(metrics)s::bigint[])[1 + (g / %(customer_count)s) %% 3] AS metric_id,
           CASE (g / %(customer_count)s) %% 3
               WHEN 0 THEN 1
               WHEN 1 THEN 1 + floor(random() * %(max_bytes)s)::bigint
               ELSE 1 + floor(random() * %(users)s)::bigint
           END AS value,
           %(first)s::timestamptz + (g + random()) * %(step)s * interval '1 second' AS moment
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
) AS events
"""

KEY_INSERT = """
INSERT INTO billing_usageeventkey (customer_id, event_id)
SELECT (%(customers)s::bigint[])[1 + g %% %(customer_count)s], %(prefix)s || g
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
"""

# The rollup write semantics of the ingestion, computed over the stored events at once: per (customer, metric,
# UTC hour) the count, sum, largest value, and the (timestamp, value) pair that is greatest as a tuple.
ROLLUP_INSERT = """
INSERT INTO billing_usagerollup (
    customer_id, metric_id, hour, event_count, value_sum, value_max, latest_value, latest_at, updated_at
)
SELECT customer_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), count(*), sum(value), max(value),
       (array_agg(value ORDER BY "timestamp" DESC, value DESC))[1], max("timestamp"), now()
FROM billing_usageevent
WHERE customer_id = ANY(%(customers)s::bigint[])
GROUP BY 1, 2, 3
"""

DISTINCT_INSERT = """
INSERT INTO billing_usagedistinctvalue (customer_id, metric_id, day, value)
SELECT DISTINCT customer_id, metric_id, ("timestamp" AT TIME ZONE %(zone)s)::date, value
FROM billing_usageevent
WHERE customer_id = ANY(%(customers)s::bigint[]) AND metric_id = ANY(%(metrics)s::bigint[])
"""

USAGE_TABLES = ("usagealert", "usagedistinctvalue", "usagerollup", "usageeventkey", "usageevent")
READ_TABLES = ("usagedistinctvalue", "usagerollup")


class Command(BaseCommand):
    help = (
        "Seed N usage events (default 10,000,000) over M bench customers and three metrics across the last D days, "
        "with their dedup keys, hourly rollups and distinct values, for bench/usage.py (PostgreSQL only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=10_000_000, help="Usage events to seed (default 10M).")
        parser.add_argument("--customers", type=int, default=500, help="Bench customers the events are spread over.")
        parser.add_argument("--days", type=int, default=90, help="Days before now the events are spread over.")
        parser.add_argument("--reset", action="store_true", help="Delete the bench usage rows and seed again.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The usage bench seed writes with PostgreSQL SQL; point DATABASE_URL at PostgreSQL.")
        events, customer_count, days = options["events"], options["customers"], options["days"]
        if events < 1 or customer_count < 1 or days < 1:
            raise CommandError("--events, --customers and --days must be at least 1.")
        started = time.monotonic()
        with connection.cursor() as cursor:
            # Deleting or writing millions of rows takes longer than the statement limit of a request (the settings').
            cursor.execute("SET statement_timeout = 0")
        metrics = self._metrics()
        customers = self._customers(customer_count)
        self._subscriptions(customers, metrics)
        customer_ids = [customer.pk for customer in customers]
        if not options["reset"] and self._complete(customer_ids, events):
            self.stdout.write(f"{events:,} bench usage events already present; nothing to do (--reset to redo).")
            return
        self._reset(customer_ids)
        end = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
        self._partitions(end - timedelta(days=days), end)
        self._events(
            customer_ids, [metric.pk for metric in metrics], events, end, days, progress=not options["no_progress"]
        )
        unique_ids = [metric.pk for metric in metrics if metric.aggregation == MetricAggregation.UNIQUE_COUNT]
        self._rollups(customer_ids, unique_ids, progress=not options["no_progress"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {events:,} usage events over {customer_count:,} customers and {days} days "
                f"in {time.monotonic() - started:.0f} s."
            )
        )

    def _metrics(self) -> list[BillableMetric]:
        plan, _ = SubscriptionPlan.objects.get_or_create(
            slug=PLAN_SLUG,
            defaults={
                "name": "벤치 사용량",
                "name_en": "Bench usage",
                "monthly_price": 0,
                "annual_price": 0,
                "is_active": False,  # never offered to a real subscriber
            },
        )
        metrics = []
        for order, (code, name, name_en, unit, unit_en, aggregation, charge) in enumerate(METRICS):
            metric, _ = BillableMetric.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "name_en": name_en,
                    "unit": unit,
                    "unit_en": unit_en,
                    "aggregation": aggregation,
                    "is_active": True,
                },
            )
            PlanCharge.objects.update_or_create(plan=plan, metric=metric, defaults={**charge, "display_order": order})
            metrics.append(metric)
        return metrics

    def _customers(self, count: int) -> list[Customer]:
        user_model = get_user_model()
        unusable = make_password(None)  # bench customers cannot log in with a password
        names = [f"{USER_PREFIX}{index}" for index in range(count)]
        # The email stays clear of billing_bench_seed's `bench-%` customers, which it spreads invoices over.
        user_model.objects.bulk_create(
            [user_model(username=name, email=f"usage-{name}@example.com", password=unusable) for name in names],
            ignore_conflicts=True,
        )
        users = list(user_model.objects.filter(username__in=names))
        Customer.objects.bulk_create(
            [Customer(user=user, display_name=user.get_username(), email=user.email) for user in users],
            ignore_conflicts=True,
        )
        return list(Customer.objects.filter(user__username__in=names).order_by("pk"))

    def _subscriptions(self, customers: list[Customer], metrics: list[BillableMetric]) -> None:
        """An active monthly subscription to the bench plan per customer, its current period holding today (anchors
        spread over four weeks, so current periods differ in length and start)."""
        plan = SubscriptionPlan.objects.get(slug=PLAN_SLUG)
        today = billing_date(timezone.now())
        live = dict(
            Subscription.objects.filter(
                customer__in=customers, plan=plan, status=SubscriptionStatus.ACTIVE
            ).values_list("customer_id", "pk")
        )
        stale, missing = [], []
        for index, customer in enumerate(customers):
            anchor = today - timedelta(days=index % 28)
            fields = {
                "billing_cycle_anchor": anchor,
                "current_period_start": anchor,
                "current_period_end": add_months(anchor, 1),
            }
            if customer.pk in live:
                stale.append(Subscription(pk=live[customer.pk], **fields))
            else:
                missing.append(
                    Subscription(
                        customer=customer,
                        plan=plan,
                        billing_period="monthly",
                        status=SubscriptionStatus.ACTIVE,
                        currency=plan.currency,
                        price_amount=0,
                        **fields,
                    )
                )
        # Bench rows only: moved so that today stays inside the period whenever the seed runs again.
        Subscription.objects.bulk_update(stale, ["billing_cycle_anchor", "current_period_start", "current_period_end"])
        Subscription.objects.bulk_create(missing)

    def _complete(self, customer_ids: list[int], events: int) -> bool:
        """The seed's events are all there, and the rollups count every event of the bench customers (a seed stopped
        before its rollups is not complete)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE event_id LIKE %(prefix)s), count(*) FROM billing_usageevent"
                " WHERE customer_id = ANY(%(customers)s::bigint[])",
                {"prefix": f"{EVENT_ID_PREFIX}%", "customers": customer_ids},
            )
            seeded, stored = cursor.fetchone()
            cursor.execute(
                "SELECT coalesce(sum(event_count), 0) FROM billing_usagerollup WHERE customer_id = ANY(%s::bigint[])",
                [customer_ids],
            )
            rolled = cursor.fetchone()[0]
        return bool(seeded == events and rolled == stored)

    def _reset(self, customer_ids: list[int]) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for table in USAGE_TABLES:
                cursor.execute(
                    f"DELETE FROM billing_{table} WHERE customer_id = ANY(%s::bigint[])",  # noqa: S608 - constants
                    [customer_ids],
                )

    def _partitions(self, first: datetime, last: datetime) -> None:
        """Monthly partitions for every seeded month, so no seeded event lands in the DEFAULT partition."""
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT billing_usage_partitions_ensure(%s::date, %s)", [first.date(), months])

    def _events(
        self, customer_ids: list[int], metric_ids: list[int], events: int, end: datetime, days: int, *, progress: bool
    ) -> None:
        bar = tqdm(total=events, desc="usage events", unit="event", disable=not progress, file=self.stderr)
        with connection.cursor() as cursor:
            for start in range(0, events, BATCH):
                stop = min(start + BATCH, events) - 1
                params: dict[str, Any] = {
                    "prefix": EVENT_ID_PREFIX,
                    "customers": customer_ids,
                    "customer_count": len(customer_ids),
                    "metrics": metric_ids,
                    "max_bytes": MAX_BYTES,
                    "users": USERS_PER_CUSTOMER,
                    "first": end - timedelta(days=days),
                    "step": days * 86400 / events,
                    "start": start,
                    "stop": stop,
                }
                with transaction.atomic():
                    cursor.execute("SELECT setseed(%s)", [((start // BATCH) % 1000) / 1000])
                    cursor.execute(EVENT_INSERT, params)
                    cursor.execute(KEY_INSERT, params)
                bar.update(stop - start + 1)
        bar.close()

    def _rollups(self, customer_ids: list[int], unique_metric_ids: list[int], *, progress: bool) -> None:
        bar = tqdm(total=len(customer_ids), desc="rollups", unit="customer", disable=not progress, file=self.stderr)
        with connection.cursor() as cursor:
            cursor.execute("SET work_mem = '256MB'")  # the GROUP BY of a chunk of customers sorts in memory
            for start in range(0, len(customer_ids), CUSTOMER_CHUNK):
                chunk = customer_ids[start : start + CUSTOMER_CHUNK]
                with transaction.atomic():
                    cursor.execute(ROLLUP_INSERT, {"customers": chunk})
                    cursor.execute(
                        DISTINCT_INSERT,
                        {"customers": chunk, "metrics": unique_metric_ids, "zone": str(BILLING_TIME_ZONE)},
                    )
                bar.update(len(chunk))
            bar.close()
            for table in USAGE_TABLES:
                # The tables reads use are vacuumed as autovacuum leaves them on a live system (the visibility map
                # set: index-only scans read no heap); the rest only analyzed. VACUUM runs only outside a transaction
                # (the command's own run); inside one (a test) the tables are analyzed.
                vacuum = table in READ_TABLES and not connection.in_atomic_block
                verb = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
                cursor.execute(f"{verb} billing_{table}")
