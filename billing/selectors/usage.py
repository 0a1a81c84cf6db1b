"""Reads of metered usage: a customer's quantity of each metric over a window, from the hourly rollups (never by
scanning events), the window a billing period's usage covers, and the subscription and charges current usage is
priced by."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Count, Exists, Max, OuterRef, QuerySet, Sum, Value
from django.db.models.functions import TruncDate

from billing.enums import MetricAggregation
from billing.models import BillableMetric, Customer, PlanCharge, UsageDistinctValue, UsageEvent, UsageRollup
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionStatus
from billing.periods import BILLING_TIME_ZONE, ServicePeriod, billing_date, billing_day_start

# The subscriptions whose plan prices a customer's current usage: the live one, except a checkout whose first
# invoice is unpaid (it has not started; the customer is still where they were, as for entitlements).
METERED_STATUSES: frozenset[str] = frozenset(LIVE_STATUSES - {SubscriptionStatus.INCOMPLETE})


def usage_window(period: ServicePeriod) -> tuple[datetime, datetime]:
    """The moments a period's usage covers: from Seoul midnight of its first day to Seoul midnight of `end` (the
    first day after it), both on whole UTC hours, so they match the hourly rollups exactly."""
    return (
        datetime.combine(period.start, time.min, tzinfo=BILLING_TIME_ZONE),
        datetime.combine(period.end, time.min, tzinfo=BILLING_TIME_ZONE),
    )


def usage_window_so_far(period: ServicePeriod, *, now: datetime) -> tuple[datetime, datetime]:
    """The part of a period's usage window up to the end of `now`'s Seoul day (never past the window's end, never
    before its start): what current usage covers. Whole Seoul days, so it serves every aggregation (an event stamped
    a few minutes ahead of the clock just before midnight counts from the next day on)."""
    start, end = usage_window(period)
    return start, max(start, min(end, billing_day_start(billing_date(now) + timedelta(days=1))))


# What a read of current usage needs of the subscription (usage_subscription_of loads nothing else: model
# instances of wide rows cost more than the query on this hot path).
USAGE_SUBSCRIPTION_FIELDS = (
    "id",
    "customer_id",
    "plan_id",
    "status",
    "currency",
    "current_period_start",
    "current_period_end",
    "created_at",
)


def usage_subscription(*, customer: Customer | None) -> Subscription | None:
    """The customer's subscription whose plan prices their current usage, or None; `metered` says whether the
    plan charges any metric in its currency (as entitlement_subscription's)."""
    return None if customer is None else usage_subscription_of(customer_id=customer.pk)


def usage_subscription_of(*, customer_id: int | None = None, user_id: int | None = None) -> Subscription | None:
    """usage_subscription's answer for the customer with this id or of this user, without reading the customer
    first: one query (a read of current usage is on the SaaS backend's hot path), of USAGE_SUBSCRIPTION_FIELDS."""
    if (customer_id is None) == (user_id is None):
        raise ValueError("usage_subscription_of takes a customer id or a user id.")
    owner = {"customer_id": customer_id} if customer_id is not None else {"customer__user_id": user_id}
    return (
        Subscription.objects.filter(status__in=sorted(METERED_STATUSES), **owner)
        .only(*USAGE_SUBSCRIPTION_FIELDS)
        .annotate(metered=Exists(PlanCharge.objects.filter(plan_id=OuterRef("plan_id"), currency=OuterRef("currency"))))
        .order_by("-created_at", "-id")
        .first()
    )


def plan_charges(*, plan_id: int, currency: str) -> list[PlanCharge]:
    """A plan's charges in `currency` (the subscription's: usage is priced in the currency it pays in) with their
    metrics, in display order."""
    return list(
        PlanCharge.objects.filter(plan_id=plan_id, currency=currency)
        .select_related("metric")
        .order_by("display_order", "id")
    )


def usage_changed_customer_ids(*, since: datetime) -> list[int]:
    """The customers some of whose rollups changed at or after `since` (the updated_at index), in id order."""
    return list(
        UsageRollup.objects.filter(updated_at__gte=since)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )


def _window_check(start: datetime, end: datetime) -> None:
    for moment in (start, end):
        if moment.tzinfo is None or moment.minute or moment.second or moment.microsecond:
            raise ValueError(f"A usage window starts and ends on an aware whole hour, not {moment!r}.")
    if end < start:
        raise ValueError(f"A usage window ends after it starts ({start} .. {end}).")


def usage_quantities(
    *, customer_id: int, metrics: Sequence[BillableMetric], start: datetime, end: datetime
) -> dict[int, int]:
    """The quantity of each metric (by id) for the customer's events timestamped in [start, end): count of events,
    sum or largest of their values, value of the latest event (the later timestamp; equal timestamps: the larger
    value), or count of distinct values. 0 where there were no events. `start` and `end` are whole hours; for a
    unique-count metric they must be Seoul midnights (distinct values are kept per Seoul day).

    At most two queries whatever the window: one for the rolled-up sums and the distinct values together, one for
    latest values."""
    _window_check(start, end)
    quantities = {metric.pk: 0 for metric in metrics}
    by_aggregation: dict[str, list[int]] = {}
    for metric in metrics:
        by_aggregation.setdefault(metric.aggregation, []).append(metric.pk)
    rolled = [
        *by_aggregation.get(MetricAggregation.COUNT, []),
        *by_aggregation.get(MetricAggregation.SUM, []),
        *by_aggregation.get(MetricAggregation.MAX, []),
    ]
    in_window = {"customer_id": customer_id, "hour__gte": start, "hour__lt": end}
    # The rolled-up metrics and the unique counts come back from one statement (a UNION ALL of two grouped reads
    # of the same shape), so a read of the current usage costs one round trip however its plan mixes them.
    grouped: list[QuerySet[Any, Any]] = []
    if rolled:
        grouped.append(
            UsageRollup.objects.filter(metric_id__in=rolled, **in_window)
            .values("metric_id")
            .annotate(events=Sum("event_count"), total=Sum("value_sum"), largest=Max("value_max"))
            .order_by()
        )
    unique = by_aggregation.get(MetricAggregation.UNIQUE_COUNT, [])
    if unique:
        first_day = start.astimezone(BILLING_TIME_ZONE).date()
        end_day = end.astimezone(BILLING_TIME_ZONE).date()
        grouped.append(
            UsageDistinctValue.objects.filter(
                customer_id=customer_id, metric_id__in=unique, day__gte=first_day, day__lt=end_day
            )
            .values("metric_id")
            .annotate(
                events=Count("value", distinct=True),
                total=Value(0, output_field=BigIntegerField()),
                largest=Value(0, output_field=BigIntegerField()),
            )
            .order_by()
        )
    if grouped:
        rows = grouped[0].union(*grouped[1:], all=True) if len(grouped) > 1 else grouped[0]
        aggregation_of = {metric.pk: metric.aggregation for metric in metrics}
        for row in rows:
            aggregation = aggregation_of[row["metric_id"]]
            if aggregation in (MetricAggregation.COUNT, MetricAggregation.UNIQUE_COUNT):
                quantities[row["metric_id"]] = int(row["events"])
            elif aggregation == MetricAggregation.SUM:
                quantities[row["metric_id"]] = int(row["total"])
            else:
                quantities[row["metric_id"]] = int(row["largest"])
    latest = by_aggregation.get(MetricAggregation.LATEST, [])
    if latest:
        newest = (
            UsageRollup.objects.filter(metric_id__in=latest, **in_window)
            .order_by("metric_id", "-latest_at", "-latest_value")
            .distinct("metric_id")
            .values_list("metric_id", "latest_value")
            if _supports_distinct_on()
            else _latest_portable(latest, in_window)
        )
        for metric_id, value in newest:
            quantities[metric_id] = int(value)
    return quantities


def _supports_distinct_on() -> bool:
    return bool(connection.features.can_distinct_on_fields)


def _latest_portable(metric_ids: list[int], in_window: dict[str, object]) -> list[tuple[int, int]]:
    """DISTINCT ON's answer where the database has none (SQLite, `make run`): the newest rollup row per metric."""
    newest: dict[int, tuple[datetime, int]] = {}
    for metric_id, moment, value in UsageRollup.objects.filter(metric_id__in=metric_ids, **in_window).values_list(
        "metric_id", "latest_at", "latest_value"
    ):
        if metric_id not in newest or (moment, value) > newest[metric_id]:
            newest[metric_id] = (moment, value)
    return [(metric_id, value) for metric_id, (_, value) in newest.items()]


def usage_quantities_brute_force(
    *, customer_id: int, metrics: Sequence[BillableMetric], start: datetime, end: datetime
) -> dict[int, int]:
    """The same answer as usage_quantities, computed from the stored events themselves (for tests and checks of the
    rollups; it scans events, never use it on a request path)."""
    quantities = {metric.pk: 0 for metric in metrics}
    for metric in metrics:
        events = UsageEvent.objects.filter(
            customer_id=customer_id, metric_id=metric.pk, timestamp__gte=start, timestamp__lt=end
        )
        values = list(events.values_list("timestamp", "value"))
        if not values:
            continue
        if metric.aggregation == MetricAggregation.COUNT:
            quantities[metric.pk] = len(values)
        elif metric.aggregation == MetricAggregation.SUM:
            quantities[metric.pk] = sum(value for _, value in values)
        elif metric.aggregation == MetricAggregation.MAX:
            quantities[metric.pk] = max(value for _, value in values)
        elif metric.aggregation == MetricAggregation.LATEST:
            quantities[metric.pk] = max(values)[1]
        else:
            quantities[metric.pk] = len({value for _, value in values})
    return quantities


def usage_daily_event_counts(
    *, customer_id: int | None, metric_id: int | None, days: int, now: datetime
) -> list[tuple[date, int]]:
    """Events per Seoul day over the last `days` days (today included), oldest first, every day present (0 when
    none), for the admin's usage chart: one grouped read of the hourly rollups."""
    today = now.astimezone(BILLING_TIME_ZONE).date()
    first = today - timedelta(days=days - 1)
    rollups = UsageRollup.objects.filter(hour__gte=datetime.combine(first, time.min, tzinfo=BILLING_TIME_ZONE))
    if customer_id is not None:
        rollups = rollups.filter(customer_id=customer_id)
    if metric_id is not None:
        rollups = rollups.filter(metric_id=metric_id)
    per_day = dict(
        rollups.annotate(day=TruncDate("hour", tzinfo=BILLING_TIME_ZONE))
        .values("day")
        .annotate(events=Sum("event_count"))
        .order_by()
        .values_list("day", "events")
    )
    return [
        (first + timedelta(days=offset), int(per_day.get(first + timedelta(days=offset), 0))) for offset in range(days)
    ]
