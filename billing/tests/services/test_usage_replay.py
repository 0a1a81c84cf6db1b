"""Invoice totals are exact: random event streams (repeats, late events, events for periods already invoiced) go
through ingestion while the renewal invoices each period as it ends; then every period's invoiced quantity is the
brute-force aggregate of the events accepted for it, and every amount is what the charge costs for that quantity."""

import uuid
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.enums import ChargeModel, InvoiceLineKind, MetricAggregation
from billing.models import Customer, UsageEvent
from billing.models.subscriptions import SubscriptionInvoice, SubscriptionInvoiceReason
from billing.periods import BILLING_TIME_ZONE, ServicePeriod
from billing.selectors.usage import usage_quantities_brute_force, usage_window
from billing.services.subscriptions import subscription_create, subscription_renew
from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_pricing import charge_compute
from billing.tests.factories import BillableMetricFactory, CustomerFactory, PlanChargeFactory, SubscriptionPlanFactory
from billing.tests.subscription_support import pay

START = date(2025, 1, 31)  # a month end: the periods are 31 Jan, 28 Feb, 31 Mar, 30 Apr...
DAYS = 75  # the stream spans about two and a half periods
# One metric per aggregation, each priced by another model, so every pair meets the renewal.
METRICS = [
    (
        "calls",
        MetricAggregation.COUNT,
        {"charge_model": ChargeModel.PER_UNIT, "included_quantity": 3, "unit_amount": 7},
    ),
    (
        "bytes",
        MetricAggregation.SUM,
        {
            "charge_model": ChargeModel.GRADUATED,
            "included_quantity": 20,
            "tiers": [
                {"up_to": 30, "unit_amount": 5, "flat_amount": 100},
                {"up_to": None, "unit_amount": 2, "flat_amount": 0},
            ],
        },
    ),
    (
        "peak",
        MetricAggregation.MAX,
        {
            "charge_model": ChargeModel.VOLUME,
            "included_quantity": 2,
            "tiers": [
                {"up_to": 5, "unit_amount": 50, "flat_amount": 0},
                {"up_to": None, "unit_amount": 30, "flat_amount": 1_000},
            ],
        },
    ),
    (
        "seats",
        MetricAggregation.LATEST,
        {"charge_model": ChargeModel.PACKAGE, "included_quantity": 1, "unit_amount": 900, "package_size": 4},
    ),
    (
        "users",
        MetricAggregation.UNIQUE_COUNT,
        {"charge_model": ChargeModel.PER_UNIT, "included_quantity": 1, "unit_amount": 11},
    ),
]

event = st.fixed_dictionaries(
    {
        # A small pool of ids: repeats within a batch and across batches, with other values than the first.
        "event_id": st.sampled_from([f"evt-{n}" for n in range(40)]),
        "metric": st.sampled_from([code for code, _, _ in METRICS]),
        "value": st.integers(0, 12),
        # How long before the batch is sent the event happened: up to 40 days late, so some fall in periods
        # invoiced meanwhile.
        "lag_minutes": st.one_of(st.integers(0, 180), st.integers(0, 40 * 24 * 60)),
    }
)
batch = st.tuples(st.integers(0, DAYS), st.integers(0, 23), st.lists(event, min_size=1, max_size=12))


def _seoul(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BILLING_TIME_ZONE)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.django_db
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(batches=st.lists(batch, min_size=1, max_size=10))
# An id accepted earlier in a batch, sent again in it with a moment of a period invoiced meanwhile: a duplicate
# (repeats of an id are duplicates, whatever their values), never a refusal of a stored event.
@example(
    batches=[
        (
            40,
            10,
            [
                {"event_id": "evt-0", "metric": "calls", "value": 1, "lag_minutes": 0},
                {"event_id": "evt-0", "metric": "calls", "value": 1, "lag_minutes": 40 * 24 * 60},
            ],
        )
    ]
)
def test_invoiced_usage_equals_the_brute_force_sum_of_accepted_events(batches):
    with transaction.atomic():
        try:
            _replay(batches)
        finally:
            transaction.set_rollback(True)  # each example starts from an empty database


def _replay(batches):
    run = uuid.uuid4().hex[:8]
    plan = SubscriptionPlanFactory(slug=f"replay-{run}", monthly_price=1_000)
    charges = {}
    for code, aggregation, pricing in METRICS:
        metric = BillableMetricFactory(code=f"{code}_{run}", aggregation=aggregation)
        charges[code] = PlanChargeFactory(plan=plan, metric=metric, **pricing)
    customer = CustomerFactory(user__username=f"replay-{run}")
    created = subscription_create(customer=customer, plan=plan, billing_period="monthly", now=_seoul(START, 9))
    pay(created.invoice, now=_seoul(START, 9))
    started = created.subscription

    seen_ids: set[str] = set()
    for offset, hour, events in sorted(batches, key=lambda sent: sent[:2]):
        sent_at = _seoul(START + timedelta(days=offset), hour)
        # The renewal run of that day goes first (nightly), so late events meet a closed period.
        _renew_and_pay(started, as_of=sent_at.date(), now=sent_at)
        billed_until = Customer.objects.get(pk=customer.pk).usage_billed_until
        payload = [
            {
                "event_id": sent["event_id"],
                "metric": charges[sent["metric"]].metric.code,
                "value": sent["value"],
                "timestamp": (sent_at - timedelta(minutes=sent["lag_minutes"])).isoformat(),
            }
            for sent in events
        ]
        result = usage_events_ingest(events=payload, caller=customer, api_key=None, now=sent_at)

        # What ingestion must have done with each event: the first of an id is stored unless its period is
        # invoiced; a stored id again is a duplicate, whatever its values.
        expected_accepted, expected_duplicates, expected_closed = [], [], []
        for sent, stamped in zip(events, payload, strict=True):
            moment = datetime.fromisoformat(stamped["timestamp"])
            if sent["event_id"] in seen_ids:
                expected_duplicates.append(sent["event_id"])
            elif billed_until is not None and moment < billed_until:
                expected_closed.append(sent["event_id"])
            else:
                seen_ids.add(sent["event_id"])
                expected_accepted.append(sent["event_id"])
        assert result.accepted == expected_accepted
        assert result.duplicates == expected_duplicates
        assert [(rejection.event_id, rejection.code) for rejection in result.rejected] == [
            (event_id, "period_closed") for event_id in expected_closed
        ]

    # Invoice every period the stream touched (the last one ends within a month of the last batch).
    last_day = START + timedelta(days=DAYS + 31)
    _renew_and_pay(started, as_of=last_day, now=_seoul(last_day, 12))
    _invoices_check(started, charges, customer)


def _renew_and_pay(subscription, *, as_of, now):
    # Paid at once, so dunning never ends the subscription in the middle of the stream.
    for invoice in subscription_renew(subscription=subscription, as_of=as_of, now=now).invoices:
        pay(invoice, now=now)


def _invoices_check(subscription, charges, customer):
    links = list(
        SubscriptionInvoice.objects.filter(subscription=subscription)
        .exclude(reason=SubscriptionInvoiceReason.UPDATE)
        .order_by("period_start")
        .select_related("invoice")
    )
    assert len(links) >= 3  # the first invoice and at least two renewals
    metrics = [charge.metric for charge in charges.values()]
    by_metric = {charge.metric_id: charge for charge in charges.values()}
    invoiced_events = 0
    # Each renewal invoice carries the usage of the period before the one it opens.
    for ended, renewal in pairwise(links):
        period = ServicePeriod(ended.period_start, ended.period_end)
        start, end = usage_window(period)
        truth = usage_quantities_brute_force(customer_id=customer.pk, metrics=metrics, start=start, end=end)
        invoiced_events += UsageEvent.objects.filter(
            customer_id=customer.pk, timestamp__gte=start, timestamp__lt=end
        ).count()
        lines = {line.metric_id: line for line in renewal.invoice.lines.filter(kind=InvoiceLineKind.USAGE)}
        for metric_id, quantity in truth.items():
            priced = charge_compute(charge=by_metric[metric_id], quantity=quantity)
            line = lines.pop(metric_id, None)
            if priced.amount == 0:
                assert line is None, (period, metric_id, quantity)
                continue
            assert line is not None, (period, metric_id, quantity)
            assert line.usage["quantity"] == quantity, (period, metric_id)
            assert line.usage == priced.as_json()
            assert (line.quantity, line.unit_amount, line.amount) == (1, priced.amount, priced.amount)
            assert (line.period_start, line.period_end) == (period.start, period.last_day)
        assert lines == {}
    # Every accepted event since the subscription started fell in an invoiced period: none was lost between two.
    # (Events from before it are accepted too, and no subscription bills them.)
    first_start, _ = usage_window(ServicePeriod(links[0].period_start, links[0].period_end))
    assert invoiced_events == UsageEvent.objects.filter(customer_id=customer.pk, timestamp__gte=first_start).count()
