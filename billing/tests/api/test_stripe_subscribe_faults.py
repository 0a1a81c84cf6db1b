"""A card subscribe through Stripe interrupted at each step: it always ends consistent once the reconcile has run.

Either our subscription, invoice and payment exist and name Stripe's, or Stripe's side is compensated (no live
Stripe subscription, no charge kept). A `Crash` (a BaseException no handler of ours catches) stands in for the
process dying between two steps; an ordinary exception for a step that fails. And no provider call runs while a
row of ours is locked.
"""

from datetime import timedelta
from typing import Any

import pytest
import stripe
from django.db import connection
from django.utils import timezone

from billing.enums import InvoiceStatus, PaymentStatus
from billing.models import Customer, Invoice, InvoiceNumberSequence, Payment, SubscribeAttempt, SubscribeAttemptStatus
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.providers import StripeProvider
from billing.services.subscriptions import subscribe_attempts_reconcile, subscription_create
from billing.tests.factories import UserFactory
from billing.tests.helpers import balance_give
from billing_site.errors import ApplicationError
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """The process dies here: no except clause of ours runs (only the database rolls back what was not committed)."""


def later() -> Any:
    return timezone.now() + timedelta(minutes=20)


def subscribe(customer: Customer, plans: dict[str, Any], payment_method: str) -> Any:
    return subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", payment_method_id=(payment_method)
    )


def stripe_side(stripe_api: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """Every Stripe subscription: (status, its latest invoice's status, amount refunded of that invoice's payment)."""
    found = []
    for theirs in stripe.Subscription.list(status="all", **stripe_api).auto_paging_iter():
        invoice: Any = stripe.Invoice.retrieve(str(theirs.latest_invoice), **stripe_api)
        refunded = 0
        if invoice.get("payment_intent"):
            refunds = stripe.Refund.list(payment_intent=invoice.payment_intent, **stripe_api).data
            refunded = sum(refund.amount for refund in refunds)
        found.append((theirs.status, invoice.status, refunded))
    return found


def assert_compensated(stripe_api: dict[str, Any], *, charged: bool) -> None:
    """Nothing of ours but a compensated attempt; at Stripe nothing live, and a charge made is refunded in full."""
    assert not Subscription.objects.exists() and not Invoice.objects.exists() and not Payment.objects.exists()
    assert not InvoiceNumberSequence.objects.filter(last_number__gt=0).exists()
    attempt = SubscribeAttempt.objects.get()
    assert attempt.status == SubscribeAttemptStatus.COMPENSATED, attempt.error
    side = stripe_side(stripe_api)
    if charged:
        assert side == [("canceled", "paid", attempt.total)] and attempt.total == 108900
    else:
        assert all(status in ("canceled", "incomplete_expired") for status, _, _ in side)
        assert all(invoice != "paid" for _, invoice, _ in side)


def test_a_completed_subscribe_writes_an_attempt_and_names_it_in_stripe(stripe_plans, customer, card, stripe_api):
    started = subscribe(customer, stripe_plans, card())

    attempt = SubscribeAttempt.objects.get()
    assert attempt.status == SubscribeAttemptStatus.COMPLETED and attempt.subscription == started.subscription
    assert attempt.total == started.invoice.total == attempt.amount_paid == 108900
    theirs = stripe.Subscription.retrieve(started.subscription.stripe_subscription_id, **stripe_api)
    assert theirs.metadata["billing_subscribe_attempt_id"] == str(attempt.pk)
    assert subscribe_attempts_reconcile(now=later()).compensated == []  # a completed attempt is left alone


def test_a_crash_after_the_attempt_is_recorded_and_before_stripe_is_asked(
    stripe_plans, customer, card, stripe_api, monkeypatch
):
    def crash(self: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(StripeProvider, "subscription_start", crash)
    with pytest.raises(Crash):
        subscribe(customer, stripe_plans, card())
    assert SubscribeAttempt.objects.get().status == SubscribeAttemptStatus.STARTED

    assert subscribe_attempts_reconcile(now=timezone.now()).stuck == 0  # young: its request may still be running
    report = subscribe_attempts_reconcile(now=later())

    assert report.stuck == 1 and not report.failures
    assert_compensated(stripe_api, charged=False)


def test_a_crash_after_stripe_charged_and_before_our_records_is_refunded(
    stripe_plans, customer, card, stripe_api, monkeypatch
):
    real = StripeProvider.subscription_start

    def charge_then_crash(self: Any, **kwargs: Any) -> Any:
        real(self, **kwargs)
        raise Crash

    monkeypatch.setattr(StripeProvider, "subscription_start", charge_then_crash)
    with pytest.raises(Crash):
        subscribe(customer, stripe_plans, card())
    assert stripe_side(stripe_api) == [("active", "paid", 0)]  # charged, and nothing of ours says so yet

    report = subscribe_attempts_reconcile(now=later())

    assert report.stuck == 1 and not report.failures, report
    assert_compensated(stripe_api, charged=True)
    assert subscribe_attempts_reconcile(now=later()).compensated == []  # once


def test_a_crash_while_our_records_are_written_is_refunded(stripe_plans, customer, card, stripe_api, monkeypatch):
    import billing.services.subscriptions.attempts as attempts

    def crash(**kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(attempts, "card_payment_record", crash)  # inside step 4's transaction
    with pytest.raises(Crash):
        subscribe(customer, stripe_plans, card())

    subscribe_attempts_reconcile(now=later())

    assert_compensated(stripe_api, charged=True)


def test_a_failure_while_our_records_are_written_is_compensated_at_once(
    stripe_plans, customer, card, stripe_api, monkeypatch, django_capture_on_commit_callbacks
):
    import billing.services.subscriptions.attempts as attempts

    def fail(**kwargs: Any) -> Any:
        raise RuntimeError("test: our write failed")

    monkeypatch.setattr(attempts, "card_payment_record", fail)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        subscribe(customer, stripe_plans, card())

    assert_compensated(stripe_api, charged=True)  # by the job queued when the attempt was marked, no reconcile
    assert "our write failed" in SubscribeAttempt.objects.get().error


def test_a_balance_changed_while_the_card_was_charged_is_409_and_refunded(
    stripe_plans, customer, card, stripe_api, monkeypatch, django_capture_on_commit_callbacks
):
    real = StripeProvider.subscription_start

    def charge_while_credit_arrives(self: Any, **kwargs: Any) -> Any:
        started = real(self, **kwargs)
        balance_give(customer, 5000)  # the invoice would differ now
        return started

    monkeypatch.setattr(StripeProvider, "subscription_start", charge_while_credit_arrives)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApplicationError) as refused:
        subscribe(customer, stripe_plans, card())

    assert (refused.value.code, refused.value.status_code) == ("subscription_changed", 409)
    assert_compensated(stripe_api, charged=True)


def test_stripe_unreachable_while_charging_leaves_no_charge_without_a_record(
    stripe_plans, customer, card, stripe_api, stripe_on, monkeypatch
):
    """The fault test: Stripe goes away between the preparation and the charge (or the answer is lost)."""
    real = StripeProvider.subscription_start

    def unreachable(self: Any, **kwargs: Any) -> Any:
        stripe_on.stop()
        return real(self, **kwargs)

    monkeypatch.setattr(StripeProvider, "subscription_start", unreachable)
    try:
        with pytest.raises(ApplicationError) as refused:
            subscribe(customer, stripe_plans, card())
        assert refused.value.code == "stripe_unavailable"
        down = subscribe_attempts_reconcile(now=later())  # still down: the attempt waits to be compensated
        assert down.failures and SubscribeAttempt.objects.get().status == SubscribeAttemptStatus.COMPENSATING
    finally:
        if not stripe_on.running:
            stripe_on.start()

    subscribe_attempts_reconcile(now=later())

    assert_compensated(stripe_api, charged=False)


def test_a_crash_after_our_records_committed_leaves_them_and_the_charge(stripe_plans, customer, card, stripe_api):
    started = subscribe(customer, stripe_plans, card())  # its after-commit jobs never run here: as if it died then

    subscribe_attempts_reconcile(now=later())

    ours = Subscription.objects.get()
    assert ours == started.subscription and ours.status == SubscriptionStatus.ACTIVE
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert stripe_side(stripe_api) == [("active", "paid", 0)]


def test_a_second_card_subscribe_while_one_is_charged_is_409(stripe_plans, customer, card, monkeypatch):
    def crash(self: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(StripeProvider, "subscription_start", crash)
    with pytest.raises(Crash):
        subscribe(customer, stripe_plans, card())
    monkeypatch.undo()

    with pytest.raises(ApplicationError) as refused:
        subscribe(customer, stripe_plans, card())

    assert (refused.value.code, refused.value.status_code) == ("subscribe_in_progress", 409)


@pytest.mark.django_db(transaction=True)
def test_no_provider_call_runs_inside_a_transaction(stripe_on, card, stripe_api, monkeypatch):
    """Every StripeProvider method is watched: none may run inside a transaction (so under no row lock of ours),
    through subscribe, an upgrade by the card on file, a checkout and a cancellation; the jobs run after commit."""
    from billing.providers.stripe.plans import plans_stripe_sync
    from billing.services.plans import plan_file_load, plans_sync

    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    inside: list[str] = []
    for name in dir(StripeProvider):
        method = getattr(StripeProvider, name)
        if name.startswith("_") or not callable(method):
            continue

        def watched(self: Any, *args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            if connection.in_atomic_block:
                inside.append(_name)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(StripeProvider, name, watched)
    client = jwt_client(UserFactory(username="watched"))
    other = jwt_client(UserFactory(username="checks-out"))

    first = client.post(
        "/api/payment/subscribe", {"plan": "starter", "billing_period": "monthly", "payment_method_id": card()}
    )
    upgrade = client.post("/api/payment/subscribe", {"plan": "pro", "billing_period": "monthly"})
    checkout = other.post("/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"})
    cancel = client.delete(f"/api/payment/subscriptions/{upgrade.json()['subscription_id']}?immediately=true")

    assert [first.status_code, upgrade.status_code, checkout.status_code, cancel.status_code] == [201, 201, 201, 200]
    assert inside == []
    starter, pro = Subscription.objects.filter(customer__user__username="watched").order_by("id")
    assert [starter.status, pro.status] == [SubscriptionStatus.CANCELED] * 2
    assert stripe.Subscription.retrieve(starter.stripe_subscription_id, **stripe_api).status == "canceled"
    theirs = stripe.Subscription.retrieve(pro.stripe_subscription_id, **stripe_api)
    assert theirs.status == "canceled" and theirs.metadata["billing_subscription_id"] == str(pro.pk)
    assert checkout.json()["card"]["payment_intent_id"].startswith("pi_")


def test_with_stripe_off_no_attempt_is_written(db, settings, customer, plans):
    settings.STRIPE_ENABLED = False

    started = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly")

    assert started.invoice.status == InvoiceStatus.OPEN and started.subscription.stripe_subscription_id == ""
    assert not SubscribeAttempt.objects.exists()


def test_a_checkout_while_stripe_is_unreachable_stands_and_is_paid_by_bank_transfer(
    stripe_plans, customer_client, stripe_on
):
    stripe_on.stop()
    try:
        response = customer_client.post(
            "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
        )
    finally:
        stripe_on.start()

    assert response.status_code == 201, response.json()
    assert response.json()["card"] is None and response.json()["payment"]["method"] == "bank_transfer"
    assert Invoice.objects.get(pk=response.json()["invoice_id"]).status == InvoiceStatus.OPEN
