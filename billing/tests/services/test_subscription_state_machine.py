"""Every subscription state transition: the table, each allowed move through its service, each refused one."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction

from billing.enums import InvoiceStatus, OrderStatus
from billing.models import Order
from billing.models.subscriptions import (
    SUBSCRIPTION_TRANSITIONS,
    Subscription,
    SubscriptionStatus,
    subscription_transition_allowed,
)
from billing.services.checkout import checkout_create
from billing.services.subscription_states import customer_lock, subscription_status_change
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_lock,
    subscription_renew,
)
from billing.tests.factories import SubscriptionFactory, SubscriptionPlanFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

ALLOWED = {
    ("incomplete", "active"),  # first invoice paid
    ("incomplete", "canceled"),  # canceled, or first invoice overdue (expired)
    ("active", "past_due"),  # an invoice unpaid after its due date
    ("active", "canceled"),  # canceled now, at period end, or replaced
    ("past_due", "active"),  # paid
    ("past_due", "canceled"),
    ("trialing", "active"),  # trial over: first invoice issued
    ("trialing", "canceled"),  # canceled during the trial: nothing billed
    ("active", "paused"),
    ("paused", "active"),  # resumed (by the customer, or on its resume date)
    ("paused", "canceled"),
}


@pytest.mark.parametrize("current", SubscriptionStatus.values)
@pytest.mark.parametrize("target", SubscriptionStatus.values)
def test_the_transition_table(current, target):
    assert subscription_transition_allowed(current, target) == ((current, target) in ALLOWED)
    assert set(SUBSCRIPTION_TRANSITIONS) == set(SubscriptionStatus.values)


@pytest.mark.parametrize(
    ("current", "target"), [("canceled", "active"), ("canceled", "past_due"), ("active", "incomplete")]
)
def test_a_refused_transition_is_409_and_changes_nothing(customer, plans, current, target):
    subscription = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription
    if current == "canceled":
        subscription_cancel(subscription=subscription, immediately=True)

    with pytest.raises(ApplicationError) as refused, transaction.atomic():
        customer_lock(customer.pk)
        subscription_status_change(
            subscription_lock(subscription_id=subscription.pk), target, moment=seoul(date(2025, 1, 1))
        )

    assert (refused.value.code, refused.value.status_code) == ("invalid_subscription_transition", 409)
    assert Subscription.objects.get(pk=subscription.pk).status == current


def checkout(customer, plans, day=date(2025, 1, 10)):
    return checkout_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(day))


def test_incomplete_to_active_when_the_first_invoice_is_paid(customer, plans):
    result = checkout(customer, plans)
    assert result.subscription.status == "incomplete"

    live = pay(result.invoice)

    assert (live.pk, live.status) == (result.subscription.pk, "active")
    assert Order.objects.get(pk=result.order.pk).status == OrderStatus.PAID


def test_incomplete_to_canceled_when_canceled_voids_its_invoice(customer, plans):
    result = checkout(customer, plans)

    canceled = subscription_cancel(subscription=result.subscription)  # at period end means now: nothing was paid

    result.invoice.refresh_from_db()
    assert (canceled.status, canceled.ended_at is not None) == ("canceled", True)
    assert result.invoice.status == InvoiceStatus.VOID
    assert Order.objects.get(pk=result.order.pk).status == OrderStatus.CANCELED


def test_incomplete_expires_when_its_invoice_is_overdue(customer, plans):
    result = checkout(customer, plans)
    due = result.invoice.due_date

    kept = subscription_renew(subscription=result.subscription, as_of=due, now=seoul(due))
    expired = subscription_renew(subscription=result.subscription, as_of=due + timedelta(days=1), now=seoul(due))

    result.invoice.refresh_from_db()
    assert (kept.action, expired.action) == ("nothing_due", "expired")
    assert (expired.subscription.status, expired.subscription.cancellation_reason) == ("canceled", "incomplete_expired")
    assert result.invoice.status == InvoiceStatus.VOID


def test_active_to_past_due_to_active(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="annual", now=seoul(date(2025, 1, 1))
    )

    renewed = subscription_renew(subscription=started.subscription, as_of=date(2025, 2, 1))
    assert (renewed.action, renewed.subscription.status) == ("past_due", "past_due")

    assert pay(started.invoice).status == "active"


def test_past_due_to_canceled(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="annual", now=seoul(date(2025, 1, 1))
    )
    subscription_renew(subscription=started.subscription, as_of=date(2025, 2, 1))

    canceled = subscription_cancel(subscription=started.subscription, immediately=True)

    assert canceled.status == "canceled"
    started.invoice.refresh_from_db()
    assert started.invoice.status == InvoiceStatus.OPEN  # the debt stays


def test_active_to_canceled_at_period_end_then_now(customer, plans):
    subscription = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription

    at_end = subscription_cancel(subscription=subscription, now=seoul(date(2030, 1, 1)))
    again = subscription_cancel(subscription=subscription, now=seoul(date(2030, 1, 2)))

    assert (at_end.status, at_end.cancel_at_period_end, at_end.next_billing_date) == ("active", True, None)
    assert again.canceled_at == at_end.canceled_at == seoul(date(2030, 1, 1))  # idempotent

    now = subscription_cancel(subscription=subscription, immediately=True, now=seoul(date(2030, 1, 3)))
    assert (now.status, now.ended_at, now.canceled_at) == ("canceled", seoul(date(2030, 1, 3)), seoul(date(2030, 1, 1)))

    after = subscription_cancel(subscription=subscription, immediately=True, now=seoul(date(2030, 1, 4)))
    assert after.ended_at == seoul(date(2030, 1, 3))  # idempotent: unchanged


def test_active_to_canceled_by_replacement(customer, plans):
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription

    subscription_change_plan(subscription=old, plan=plans["starter"])

    old.refresh_from_db()
    assert (old.status, old.cancellation_reason) == ("canceled", "replaced")


def test_canceled_is_final(customer, plans):
    subscription = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription
    subscription_cancel(subscription=subscription, immediately=True)

    with pytest.raises(ApplicationError) as refused:
        subscription_change_plan(subscription=subscription, plan=plans["starter"])
    outcome = subscription_renew(subscription=subscription, as_of=date(2099, 1, 1))

    assert refused.value.code == "subscription_not_active"
    assert (outcome.action, outcome.invoices) == ("nothing_due", [])


def test_subscribing_over_an_incomplete_subscription_voids_it_and_credits_nothing(customer, plans):
    result = checkout(customer, plans)

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(date(2025, 1, 10))
    )

    result.invoice.refresh_from_db()
    assert started.credit == 0
    assert result.invoice.status == InvoiceStatus.VOID
    assert Subscription.objects.get(pk=result.subscription.pk).cancellation_reason == "replaced"


# --- the database says the same -------------------------------------------------------------------------


def test_the_database_allows_one_live_subscription_per_customer(customer, plans):
    first = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription

    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionFactory(
            customer=customer,
            plan=plans["starter"],
            billing_period="monthly",
            status="past_due",
            price_amount=1,
            billing_cycle_anchor=first.billing_cycle_anchor,
            current_period_start=first.current_period_start,
            current_period_end=first.current_period_end,
        )


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"status": "canceled"}, "ended_iff_canceled"),  # canceled without ended_at
        ({"ended_at": seoul(date(2025, 1, 1))}, "ended_iff_canceled"),  # ended but active
        ({"cancel_at_period_end": True}, "cancel_requested_at"),
        ({"price_amount": -1}, "price_non_negative"),
        ({"status": "frozen"}, "status_valid"),
        ({"status": "trialing"}, "trialing_has_trial"),
        ({"trial_start": date(2025, 1, 1), "trial_end": date(2025, 1, 1)}, "trial_ordered"),
        ({"quantity": 0}, "quantity_positive"),
        ({"quantity": 7}, "price_whole_seats"),  # 99,000 is not 7 whole seats
        ({"pending_billing_period": "annual"}, "pending_change_whole"),  # no plan, quantity, time
        ({"billing_period": "weekly"}, "period_valid"),
        ({"current_period_end": date(2024, 12, 1)}, "period_ordered"),
    ],
)
def test_the_database_refuses_inconsistent_subscriptions(customer, plans, changes, constraint):
    subscription = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    ).subscription

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(**changes)


@pytest.mark.parametrize(("field", "value"), [("monthly_price", -1), ("annual_price", -1), ("currency", "won")])
def test_the_database_refuses_bad_plans(plans, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        type(plans["pro"]).objects.filter(pk=plans["pro"].pk).update(**{field: value})


def test_plan_slugs_are_unique(plans):
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionPlanFactory(slug="pro", name="또 프로", monthly_price=1, annual_price=1)
