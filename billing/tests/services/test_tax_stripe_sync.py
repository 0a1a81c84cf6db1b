"""A card subscription's VAT TaxRate at Stripe (the harness's localstripe) follows ours: a treatment staff change
(a job in the same transaction), and a scheduled rate change before its next renewal (the daily check); Stripe
down delays the change, never loses it; a customer without a Stripe subscription is left alone."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import stripe
from django.utils import timezone

from billing.enums import JobKind, TaxTreatment
from billing.models import Customer
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.providers.stripe.client import META_VAT
from billing.services.customers import customer_tax_basis_set, customer_tax_treatment_set
from billing.services.subscription_tax_rates import (
    TAX_RATE_CHECK_DAYS,
    subscriptions_renewing_soon,
    subscriptions_tax_rates_check,
)
from billing.tasks import provider_tax_rates_task
from billing.tests.factories import CustomerFactory, SubscriptionFactory
from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_plans, stripe_server
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import JobRun, job_run

__all__ = ["card", "stripe_api", "stripe_on", "stripe_plans", "stripe_server"]  # fixtures used here

pytestmark = pytest.mark.django_db

TAX_JOBS = "subscription_provider_tax:"


def card_subscription(client: Any, card: Any) -> Subscription:
    response = client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Subscription.objects.get(pk=response.json()["subscription_id"])


def stripe_item(ours: Subscription, stripe_api: dict[str, Any]) -> Any:
    return stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)["items"].data[0]


def vat_at_stripe(ours: Subscription, stripe_api: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """The item's tax rates as (our basis points in its metadata, Stripe's percentage)."""
    return [
        ((rate.metadata or {}).get(META_VAT, ""), Decimal(str(rate.percentage)))
        for rate in stripe_item(ours, stripe_api).tax_rates
    ]


def stripe_renewal_total(ours: Subscription, stripe_api: dict[str, Any]) -> int:
    """What Stripe's next renewal invoice of the subscription charges (its upcoming invoice)."""
    stripe_customer = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api).customer
    params = {"customer": stripe_customer, "subscription": ours.stripe_subscription_id, **stripe_api}
    return int(stripe.Invoice._static_request("get", "/v1/invoices/upcoming", params=params).total)


def tax_jobs() -> list[Job]:
    return list(Job.objects.filter(key__startswith=TAX_JOBS).order_by("id"))


def run_pending(*, later: timedelta = timedelta(0)) -> list[JobRun]:
    """Run the waiting tax-rate jobs as a worker would (after commit; `later`: once their retry time has come)."""
    now = timezone.now() + later
    runs = [job_run(job_id=job.pk, now=now) for job in tax_jobs() if job.status == JobStatus.PENDING]
    return [run for run in runs if run is not None]


def test_a_treatment_change_gives_the_card_subscription_its_tax_rate_back_and_forth(
    stripe_plans: Any, customer: Customer, customer_client: Any, card: Any, stripe_api: dict[str, Any]
) -> None:
    ours = card_subscription(customer_client, card)
    assert vat_at_stripe(ours, stripe_api) == [("1000", Decimal(10))]

    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.ZERO_RATED, actor=None)
    (job,) = tax_jobs()
    # Written with the change, for the job that follows ours; Stripe is told only by that job, after commit.
    assert (job.kind, job.payload, job.status) == (
        JobKind.SUBSCRIPTION_PROVIDER_CANCEL,
        {"subscription_id": ours.pk},
        "pending",
    )
    assert vat_at_stripe(ours, stripe_api) == [("1000", Decimal(10))]

    (zero_rated,) = run_pending()
    after_zero = vat_at_stripe(ours, stripe_api)
    renewal_after_zero = stripe_renewal_total(ours, stripe_api)
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.TAXABLE, actor=None)
    (taxable_again,) = run_pending()

    assert (zero_rated.status, zero_rated.result) == ("done", f"{ours.stripe_subscription_id}: changed items")
    assert after_zero == [("0", Decimal(0))] and renewal_after_zero == 99_000  # our renewal: 99,000 + 0 VAT
    assert taxable_again.status == "done" and vat_at_stripe(ours, stripe_api) == [("1000", Decimal(10))]
    assert stripe_renewal_total(ours, stripe_api) == 108_900
    item = stripe_item(ours, stripe_api)
    assert (item.quantity, item.price.id) == (1, stripe_plans["pro"].stripe_monthly_price_id)
    # No proration of Stripe's own for a tax rate: nothing waits to join the next invoice.
    stripe_customer = str(stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api).customer)
    pending = stripe.InvoiceItem.list(customer=stripe_customer, **stripe_api).data
    assert [entry.id for entry in pending if not entry.invoice] == []


def test_the_same_treatment_again_and_the_tax_basis_ask_nothing_of_stripe(
    stripe_plans: Any, customer: Customer, customer_client: Any, card: Any
) -> None:
    card_subscription(customer_client, card)

    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.TAXABLE, actor=None)
    customer_tax_basis_set(customer=customer, tax_basis="부가가치세법 제24조", actor=None)

    assert tax_jobs() == []


@pytest.mark.parametrize(
    ("change_from_renewal", "expected", "renewal_total"),
    [
        (timedelta(days=-10), [("1200", Decimal(12))], 110_880),  # in force before the renewal
        (timedelta(0), [("1200", Decimal(12))], 110_880),  # from the renewal's own day
        (timedelta(days=1), [("1000", Decimal(10))], 108_900),  # the day after: the renewal keeps today's rate
    ],
)
def test_a_rate_scheduled_by_the_next_renewal_reaches_stripe_before_it(
    settings: Any,
    stripe_plans: Any,
    customer_client: Any,
    card: Any,
    stripe_api: dict[str, Any],
    change_from_renewal: timedelta,
    expected: list[tuple[str, Decimal]],
    renewal_total: int,
) -> None:
    ours = card_subscription(customer_client, card)
    renewal = ours.current_period_end
    settings.BILLING_VAT_RATE_CHANGES = f"{(renewal + change_from_renewal).isoformat()}=1200"

    too_early = subscriptions_tax_rates_check(as_of=renewal - timedelta(days=TAX_RATE_CHECK_DAYS + 1))
    check_day = renewal - timedelta(days=2)
    first = provider_tax_rates_task(as_of=check_day.isoformat())
    (run,) = run_pending()

    assert too_early == 0 and first == {"as_of": check_day.isoformat(), "enqueued": 1}
    assert run.status == "done"
    assert vat_at_stripe(ours, stripe_api) == expected
    # Stripe's renewal charges what our renewal invoice (99,000 at the rate of its day) will.
    assert stripe_renewal_total(ours, stripe_api) == renewal_total


def test_running_the_daily_check_twice_changes_nothing_the_second_time(
    settings: Any, stripe_plans: Any, customer_client: Any, card: Any, stripe_api: dict[str, Any]
) -> None:
    ours = card_subscription(customer_client, card)
    renewal = ours.current_period_end
    settings.BILLING_VAT_RATE_CHANGES = f"{renewal.isoformat()}=1200"
    day = renewal - timedelta(days=1)

    provider_tax_rates_task(as_of=day.isoformat())
    (switched,) = run_pending()
    item_after_switch = stripe_item(ours, stripe_api).id
    again = provider_tax_rates_task(as_of=day.isoformat())  # a second beat, or a rerun, the same day
    next_day = provider_tax_rates_task(as_of=renewal.isoformat())
    (checked,) = run_pending()

    assert switched.result == f"{ours.stripe_subscription_id}: changed items"
    assert again == {"as_of": day.isoformat(), "enqueued": 0}
    assert next_day["enqueued"] == 1 and checked.result == f"{ours.stripe_subscription_id}: already as ours"
    assert stripe_item(ours, stripe_api).id == item_after_switch  # untouched by the second look
    assert vat_at_stripe(ours, stripe_api) == [("1200", Decimal(12))]


def test_stripe_down_the_job_is_retried_and_the_change_is_not_lost(
    stripe_on: Any, stripe_plans: Any, customer: Customer, customer_client: Any, card: Any, stripe_api: dict[str, Any]
) -> None:
    ours = card_subscription(customer_client, card)
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=None)

    stripe_on.stop()
    try:
        (down,) = run_pending()
        waiting = Job.objects.get(pk=down.job_id)
    finally:
        if not stripe_on.running:
            stripe_on.start()
    too_soon = run_pending()  # its retry time has not come
    (retried,) = run_pending(later=timedelta(hours=1))

    assert (down.status, waiting.attempts, waiting.run_after > timezone.now()) == ("pending", 1, True)
    assert "stripe_unavailable" in down.result or "Payments are unavailable" in down.result
    assert too_soon == []
    assert (retried.status, Job.objects.get(pk=down.job_id).attempts) == ("done", 2)
    assert vat_at_stripe(ours, stripe_api) == [("0", Decimal(0))]


def test_a_customer_without_a_stripe_subscription_is_left_alone(
    stripe_plans: Any, customer: Customer, customer_client: Any, card: Any, stripe_api: dict[str, Any]
) -> None:
    ours = card_subscription(customer_client, card)
    by_transfer = SubscriptionFactory.create(customer=CustomerFactory.create(), plan=stripe_plans["pro"])
    nothing_live = CustomerFactory.create()
    ended_card = SubscriptionFactory.create(
        customer=nothing_live,
        plan=stripe_plans["pro"],
        status=SubscriptionStatus.CANCELED,
        canceled_at=timezone.now(),
        ended_at=timezone.now(),
        stripe_subscription_id="sub_gone",
    )

    for other in (by_transfer.customer, nothing_live):
        customer_tax_treatment_set(customer=other, tax_treatment=TaxTreatment.ZERO_RATED, actor=None)
    soon = subscriptions_renewing_soon(as_of=ours.current_period_end - timedelta(days=1))

    assert tax_jobs() == []
    assert by_transfer.current_period_end == ours.current_period_end and soon == [ours.pk]
    assert ended_card.pk not in soon
    assert vat_at_stripe(ours, stripe_api) == [("1000", Decimal(10))]


def test_a_subscription_ending_at_its_period_end_is_not_checked() -> None:
    ending = SubscriptionFactory.create(
        stripe_subscription_id="sub_ending", cancel_at_period_end=True, canceled_at=timezone.now()
    )
    renewing = SubscriptionFactory.create(stripe_subscription_id="sub_renewing")

    assert subscriptions_renewing_soon(as_of=ending.current_period_end) == [renewing.pk]


def test_the_daily_check_is_on_the_beat_schedule(settings: Any) -> None:
    (entry,) = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "billing.provider_tax_rates"
    ]
    schedule = entry["schedule"]
    assert (schedule.hour, schedule.minute) == ({3}, {25})  # daily, Asia/Seoul (CELERY_TIMEZONE)
