"""manage.py billing_usage_bench_seed (PostgreSQL): events, keys, rollups and distinct values that agree with each
other, as the ingestion would have written them."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from billing.management.commands.billing_usage_bench_seed import PLAN_SLUG, USER_PREFIX
from billing.models import BillableMetric, Customer, Subscription, UsageEvent, UsageEventKey, UsageRollup
from billing.periods import ServicePeriod, billing_date
from billing.selectors.usage import usage_quantities, usage_quantities_brute_force, usage_window

SEED = ["--events=3000", "--customers=4", "--days=40", "--no-progress"]


def seed(*extra: str) -> str:
    out = io.StringIO()
    call_command("billing_usage_bench_seed", *SEED, *extra, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_rollups_give_the_same_quantities_as_the_events(postgresql):
    seed()
    customers = list(Customer.objects.filter(user__username__startswith=USER_PREFIX))
    metrics = list(BillableMetric.objects.filter(charges__plan__slug=PLAN_SLUG).order_by("code"))
    assert len(customers) == 4
    assert sorted(metric.aggregation for metric in metrics) == ["count", "sum", "unique_count"]
    assert UsageEvent.objects.count() == UsageEventKey.objects.count() == 3000

    today = billing_date(timezone.now())
    everything = usage_window(ServicePeriod(today - timedelta(days=45), today + timedelta(days=1)))
    recent = usage_window(ServicePeriod(today - timedelta(days=10), today - timedelta(days=3)))
    for customer in customers:
        subscription = Subscription.objects.get(customer=customer, plan__slug=PLAN_SLUG, status="active")
        assert subscription.current_period_start <= today < subscription.current_period_end
        current = usage_window(ServicePeriod(subscription.current_period_start, subscription.current_period_end))
        for start, end in (everything, recent, current):
            window = {"customer_id": customer.pk, "metrics": metrics, "start": start, "end": end}
            assert usage_quantities(**window) == usage_quantities_brute_force(**window)
        totals = usage_quantities(customer_id=customer.pk, metrics=metrics, start=everything[0], end=everything[1])
        assert sum(totals.values()) > 0  # every customer has events of every metric
        assert all(totals.values())


@pytest.mark.django_db
def test_the_seed_is_idempotent_and_replaces_its_own_rows(postgresql):
    seed()
    rollups = UsageRollup.objects.count()
    assert "nothing to do" in seed()
    assert (UsageEvent.objects.count(), UsageRollup.objects.count()) == (3000, rollups)

    # An event outside the seed that the rollups do not count makes the seed incomplete: it starts again.
    customer = Customer.objects.filter(user__username__startswith=USER_PREFIX).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageevent (customer_id, metric_id, event_id, value, timestamp, received_at)"
            " SELECT %s, id, 'stray', 1, now(), now() FROM billing_billablemetric LIMIT 1",
            [customer.pk],
        )
    assert "Seeded" in seed()
    assert UsageEvent.objects.count() == UsageEventKey.objects.count() == 3000

    call_command(
        "billing_usage_bench_seed", "--events=600", "--customers=4", "--days=5", "--no-progress", stdout=io.StringIO()
    )
    assert UsageEvent.objects.count() == UsageEventKey.objects.count() == 600
    assert sum(UsageRollup.objects.values_list("event_count", flat=True)) == 600
    assert Subscription.objects.filter(plan__slug=PLAN_SLUG).count() == 4
