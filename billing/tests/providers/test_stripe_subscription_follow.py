"""Stripe's copy follows ours (cancel at period end both ways, seats, plan, pause, end), dunning's card retry, and
what Stripe says about trials and pauses never moves ours."""

from datetime import date, timedelta
from typing import Any

import pytest
import stripe
from django.utils import timezone

from billing.enums import InvoiceStatus, JobKind
from billing.models import Invoice
from billing.models.subscriptions import Subscription, SubscriptionPause, SubscriptionStatus
from billing.providers.base import RemoteSubscription
from billing.providers.manual import ManualProvider
from billing.providers.stripe.customers import customer_stripe_ensure, payment_method_attach
from billing.providers.stripe.invoices import invoice_stripe_create, invoice_stripe_pay_retry
from billing.providers.stripe.subscriptions import remote_subscription, subscription_stripe_follow
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.payments import card_payment_record
from billing.services.provider_sync import subscription_remote_apply
from billing.tests.factories import CustomerFactory, SubscriptionFactory
from billing.tests.stripe_support import DECLINING_CARD
from billing_site.jobs.registry import job_kind
from billing_site.jobs.services import job_enqueue

pytestmark = pytest.mark.django_db


def card_subscription(client: Any, card: Any) -> Subscription:
    response = client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Subscription.objects.get(pk=response.json()["subscription_id"])


def theirs(subscription: Subscription, stripe_api: dict[str, Any]) -> Any:
    return stripe.Subscription.retrieve(subscription.stripe_subscription_id, **stripe_api)


def test_a_cancel_at_period_end_is_set_then_undone_in_stripe(stripe_plans, customer_client, card, stripe_api):
    ours = card_subscription(customer_client, card)
    Subscription.objects.filter(pk=ours.pk).update(cancel_at_period_end=True, canceled_at=timezone.now())

    set_there = subscription_stripe_follow(subscription=ours)
    after_cancel = theirs(ours, stripe_api)
    Subscription.objects.filter(pk=ours.pk).update(cancel_at_period_end=False, canceled_at=None)
    undone_there = subscription_stripe_follow(subscription=ours)
    after_resume = theirs(ours, stripe_api)

    assert (set_there, after_cancel.cancel_at_period_end) == ("changed cancel_at_period_end", True)
    assert (undone_there, after_resume.cancel_at_period_end, after_resume.status) == (
        "changed cancel_at_period_end",
        False,
        "active",
    )
    assert subscription_stripe_follow(subscription=ours) == "already as ours"


def test_seats_and_a_new_plan_reach_the_stripe_item_without_prorations(stripe_plans, customer_client, card, stripe_api):
    ours = card_subscription(customer_client, card)
    Subscription.objects.filter(pk=ours.pk).update(quantity=3, price_amount=3 * 99_000)

    seats = subscription_stripe_follow(subscription=ours)
    item = theirs(ours, stripe_api)["items"].data[0]
    Subscription.objects.filter(pk=ours.pk).update(plan=stripe_plans["enterprise"], quantity=1, price_amount=490_000)
    plan = subscription_stripe_follow(subscription=ours)
    moved = theirs(ours, stripe_api)["items"].data[0]

    assert (seats, item.quantity, item.price.id) == ("changed items", 3, stripe_plans["pro"].stripe_monthly_price_id)
    assert (plan, moved.quantity, moved.price.id) == (
        "changed items",
        1,
        stripe_plans["enterprise"].stripe_monthly_price_id,
    )
    # proration_behavior none: we bill prorations on our own invoices, Stripe adds no credit or charge of its own.
    pending = stripe.InvoiceItem.list(customer=theirs(ours, stripe_api).customer, **stripe_api).data
    assert [entry for entry in pending if not entry.get("invoice")] == []


def test_paused_here_pauses_collection_there_and_the_resume_moves_the_next_charge(
    stripe_plans, customer_client, card, stripe_api
):
    ours = card_subscription(customer_client, card)
    today = ours.current_period_start
    Subscription.objects.filter(pk=ours.pk).update(status=SubscriptionStatus.PAUSED)
    SubscriptionPause.objects.create(subscription=ours, paused_on=today, days_carried=20)

    paused = subscription_stripe_follow(subscription=ours)
    while_paused = theirs(ours, stripe_api)
    resumed_end = ours.current_period_end + timedelta(days=10)
    SubscriptionPause.objects.filter(subscription=ours).update(resumed_on=today + timedelta(days=10))
    Subscription.objects.filter(pk=ours.pk).update(status=SubscriptionStatus.ACTIVE, current_period_end=resumed_end)
    resumed = subscription_stripe_follow(subscription=ours)
    after = theirs(ours, stripe_api)

    assert (paused, while_paused.pause_collection.behavior) == ("changed pause_collection", "void")
    assert resumed == "changed pause_collection, trial_end"
    assert not after.get("pause_collection")
    assert remote_subscription(after).period_start is not None
    assert date.fromtimestamp(after.trial_end) in (resumed_end, resumed_end - timedelta(days=1))


def test_ended_here_is_canceled_there_once(stripe_plans, customer_client, card, stripe_api):
    ours = card_subscription(customer_client, card)
    Subscription.objects.filter(pk=ours.pk).update(
        status=SubscriptionStatus.CANCELED, canceled_at=timezone.now(), ended_at=timezone.now()
    )

    first = subscription_stripe_follow(subscription=ours)
    second = subscription_stripe_follow(subscription=ours)

    assert (first, second) == ("canceled", "already ended in Stripe")
    assert theirs(ours, stripe_api).status == "canceled"


def open_invoice_with_a_stripe_copy(customer: Any, payment_method: str) -> Invoice:
    stripe_customer = customer_stripe_ensure(customer=customer)
    payment_method_attach(customer=customer, stripe_customer_id=stripe_customer.id, payment_method_id=payment_method)
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput(description="Pro", unit_amount=99_000)])
    return invoice_stripe_create(invoice=invoice)


def test_a_dunning_retry_charges_the_card_on_file_again(stripe_on, customer, card, stripe_api):
    invoice = open_invoice_with_a_stripe_copy(customer, card())

    outcome = invoice_stripe_pay_retry(invoice=invoice)
    copy = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api)

    assert outcome == f"{invoice}: Stripe paid (108900 paid)"
    assert (copy.status, copy.amount_paid, copy.attempt_count) == ("paid", 108_900, 1)
    # Once paid there (the invoice.paid event records it here), a retry again charges nothing.
    card_payment_record(invoice=invoice, amount=108_900, reference=copy.payment_intent)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert invoice_stripe_pay_retry(invoice=invoice).endswith("nothing to charge")
    assert stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api).attempt_count == 1


def test_a_declined_retry_is_an_outcome_not_an_error(stripe_on, customer, card, stripe_api):
    invoice = open_invoice_with_a_stripe_copy(customer, card(DECLINING_CARD))

    outcome = invoice_stripe_pay_retry(invoice=invoice)
    copy = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api)

    # Stripe answers a decline with 402 (card_error), localstripe with the invoice still open: both are outcomes.
    assert outcome.startswith(f"{invoice}: not paid")
    assert (copy.status, copy.attempt_count) == ("open", 1)


def test_the_manual_provider_has_no_card_to_retry(customer):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput(description="Pro", unit_amount=99_000)])

    assert ManualProvider().invoice_payment_retry(invoice=invoice) == "no card"
    # Dunning's job asks whichever provider is configured (here the manual one: Stripe is off).
    retry = job_kind(JobKind.DUNNING_PROVIDER_RETRY)
    assert retry is not None and retry.handler(invoice_id=invoice.pk) == "no card"


@pytest.mark.parametrize(
    ("ours", "stripe_says"),
    [
        (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING),
        (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED),
        (SubscriptionStatus.PAUSED, SubscriptionStatus.ACTIVE),
        (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE),
    ],
)
def test_trials_and_pauses_are_ours_to_decide_whatever_stripe_says(ours, stripe_says):
    trial = {"trial_start": date(2025, 1, 1), "trial_end": date(2025, 1, 15)} if ours == "trialing" else {}
    subscription = SubscriptionFactory(
        customer=CustomerFactory(), status=ours, stripe_subscription_id="sub_follow_test", **trial
    )

    subscription_remote_apply(remote=RemoteSubscription(reference="sub_follow_test", status=stripe_says))

    subscription.refresh_from_db()
    assert subscription.status == ours


def test_stripe_statuses_read_as_ours():
    def read(status: str) -> str:
        return remote_subscription(stripe.Subscription.construct_from({"id": "sub_x", "status": status}, "")).status

    assert [read(status) for status in ("trialing", "paused", "active", "past_due", "unpaid", "canceled")] == [
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.PAUSED,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.CANCELED,
    ]


@pytest.mark.parametrize(("follow_waits", "canceled_here"), [(True, False), (False, True)])
def test_a_cancel_ours_undid_does_not_come_back_before_stripe_is_told(follow_waits, canceled_here):
    subscription = SubscriptionFactory(customer=CustomerFactory(), stripe_subscription_id="sub_resumed")
    if follow_waits:  # ours was resumed; the job telling Stripe has not run yet
        job_enqueue(
            kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL,
            key=f"subscription_provider_cancel:{subscription.pk}:active:1",
            payload={"subscription_id": subscription.pk},
        )

    subscription_remote_apply(
        remote=RemoteSubscription(reference="sub_resumed", status="active", cancel_at_period_end=True)
    )

    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is canceled_here
