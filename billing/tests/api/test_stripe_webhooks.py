"""Stripe webhooks: signed by the server, checked, recorded, applied once (also concurrently), in any order."""

import random
import time
from io import StringIO
from typing import Any

import pytest
import stripe
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, TestCase
from djstripe import models as djstripe_models

from billing.enums import InvoiceStatus, PaymentStatus
from billing.models import CreditNote, Invoice, Payment
from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.providers.stripe.plans import plans_stripe_sync
from billing.services.plans import plan_file_load, plans_sync
from billing.tests.factories import UserFactory
from billing.tests.helpers import run_concurrently
from billing.tests.stripe_support import signed, stripe_event, wait_for
from billing_site.tests.helpers import jwt_client

WEBHOOK = "/api/payment/webhook"


def deliver(client: Any, payload: dict, **signing: Any) -> Any:
    """POST a signed event; the job it enqueues runs on commit (in-process: these tests have no broker)."""
    body, signature = signed(payload, **signing)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.generic("POST", WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def subscribe_by_card(client: Any, card: Any, plan: str = "pro") -> Subscription:
    response = client.post(
        "/api/payment/subscribe",
        {"plan": plan, "billing_period": "monthly", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Subscription.objects.get(pk=response.json()["subscription_id"])


def paid_checkout(client: Any, card: Any, stripe_api: dict) -> tuple[Invoice, Any]:
    """A checkout whose PaymentIntent the customer paid in Stripe (our invoice does not know yet)."""
    body = client.post("/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json").json()
    intent_id = body["card"]["payment_intent_id"]
    stripe.PaymentIntent.modify(intent_id, payment_method=card(), **stripe_api)
    return Invoice.objects.get(pk=body["invoice_id"]), stripe.PaymentIntent.confirm(intent_id, **stripe_api)


# --- deliveries by the server itself ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_events_signed_by_stripe_reach_the_endpoint_and_follow_stripe(
    stripe_on, live_server, webhook_to, card, stripe_api
):
    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    webhook_to(live_server.url + WEBHOOK)
    client = jwt_client(UserFactory(username="erin"))
    ours = subscribe_by_card(client, card)

    # Filtered by object: an earlier test's events may still be on their way to whoever listens now.
    created = wait_for(
        lambda: StripeWebhookEvent.objects.filter(
            event_type="customer.subscription.created",
            object_id=ours.stripe_subscription_id,
            status=StripeWebhookEventStatus.PROCESSED,
        ).first(),
        what="customer.subscription.created to be processed",
    )
    # Changed in Stripe (the dashboard, a dunning rule...): our records follow when the event arrives.
    stripe.Subscription.modify(ours.stripe_subscription_id, cancel_at_period_end=True, **stripe_api)
    wait_for(
        lambda: Subscription.objects.filter(pk=ours.pk, cancel_at_period_end=True).exists(),
        what="cancel_at_period_end to arrive",
    )
    stripe.Subscription.cancel(ours.stripe_subscription_id, **stripe_api)
    wait_for(
        lambda: Subscription.objects.filter(pk=ours.pk, status=SubscriptionStatus.CANCELED).exists(),
        what="customer.subscription.deleted to cancel ours",
    )

    assert created.deliveries == 1
    assert djstripe_models.Event.objects.filter(id=created.stripe_event_id).exists()
    assert djstripe_models.WebhookEventTrigger.objects.filter(valid=True, processed=True).count() >= 3
    assert not djstripe_models.WebhookEventTrigger.objects.filter(valid=False).exists()
    stripe_invoice_id = Invoice.objects.get(subscription_link__subscription=ours).stripe_invoice_id
    paid = wait_for(
        lambda: StripeWebhookEvent.objects.filter(
            event_type="invoice.paid", object_id=stripe_invoice_id, status="processed"
        ).first(),
        what="invoice.paid",
    )
    assert "already paid" in paid.result  # subscribe recorded the payment; the event found nothing left to do
    assert Payment.objects.count() == 1
    assert not StripeWebhookEvent.objects.filter(status=StripeWebhookEventStatus.FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_voids_and_refunds_made_in_stripe_reach_our_records(stripe_on, live_server, webhook_to, card, stripe_api):
    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    webhook_to(live_server.url + WEBHOOK)
    client = jwt_client(UserFactory(username="frank"))
    ours = subscribe_by_card(client, card)
    payment = Payment.objects.get()
    issued = client.post("/api/payment/invoice", {"amount_krw": 30000}, format="json").json()
    invoice = Invoice.objects.get(pk=issued["invoice_id"])

    stripe.Invoice.void_invoice(invoice.stripe_invoice_id, **stripe_api)
    stripe.Refund.create(payment_intent=payment.provider_reference, **stripe_api)

    wait_for(lambda: Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.VOID, what="invoice.voided")
    wait_for(lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.REFUNDED, what="charge.refunded")
    assert Invoice.objects.get(pk=payment.invoice_id).status == InvoiceStatus.PAID  # an issued invoice stays paid
    assert Subscription.objects.get(pk=ours.pk).status == SubscriptionStatus.ACTIVE
    # The refund made in Stripe is documented by a credit note of ours, its whole total refunded to the card.
    note = CreditNote.objects.get(invoice_id=payment.invoice_id)
    assert (note.total, note.refund_amount, note.pre_payment_amount) == (payment.amount, payment.amount, 0)
    assert Invoice.objects.get(pk=payment.invoice_id).amount_refunded == payment.amount


# --- signatures ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_wrong_signature_is_400_and_applies_and_stores_nothing(stripe_plans, card, stripe_api):
    client = jwt_client(UserFactory(username="gina"))
    invoice, intent = paid_checkout(client, card, stripe_api)
    event = stripe_event(stripe_api, "payment_intent.succeeded", intent)

    forged = deliver(Client(), event, secret="whsec_someone_else")
    stale = deliver(Client(), event, at=int(time.time()) - 3600)
    unsigned = Client().generic("POST", WEBHOOK, b"{}", content_type="application/json")

    assert (forged.status_code, forged.json()["error"]["code"]) == (400, "invalid_signature")
    assert (stale.status_code, stale.json()["error"]["code"]) == (400, "invalid_signature")
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (400, "missing_signature")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.OPEN
    assert not Payment.objects.exists() and not StripeWebhookEvent.objects.exists()
    assert not djstripe_models.Event.objects.exists()
    # Nothing of a delivery is stored before its signature verifies (issue 10: anyone can post junk here).
    assert not djstripe_models.WebhookEventTrigger.objects.exists()


@pytest.mark.django_db
def test_with_stripe_off_the_endpoint_is_not_there(settings):
    settings.STRIPE_ENABLED = False

    response = deliver(Client(), {"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})

    assert response.status_code == 404


# --- exactly once ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_duplicate_delivery_is_acknowledged_and_not_applied_again(stripe_plans, card, stripe_api):
    client = jwt_client(UserFactory(username="hana"))
    invoice, intent = paid_checkout(client, card, stripe_api)
    event = stripe_event(stripe_api, "payment_intent.succeeded", intent)

    first = deliver(Client(), event)
    second = deliver(Client(), event)

    assert first.status_code == second.status_code == 200
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert Payment.objects.filter(invoice=invoice).count() == 1
    record = StripeWebhookEvent.objects.get(stripe_event_id=event["id"])
    assert (record.deliveries, record.attempts, record.status) == (2, 1, StripeWebhookEventStatus.PROCESSED)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_apply_it_once(stripe_on, card, stripe_api):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    client = jwt_client(UserFactory(username="ivan"))
    invoice, intent = paid_checkout(client, card, stripe_api)
    body, signature = signed(stripe_event(stripe_api, "payment_intent.succeeded", intent))

    responses = run_concurrently(
        lambda _: Client().generic(
            "POST", WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        ),
        8,
    )

    assert [getattr(response, "status_code", response) for response in responses] == [200] * 8
    assert sorted(response.json()["duplicate"] for response in responses) == [False] + [True] * 7
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    record = StripeWebhookEvent.objects.get()
    assert (record.deliveries, record.attempts) == (8, 1)
    assert djstripe_models.WebhookEventTrigger.objects.filter(valid=True, processed=True).count() == 8


@pytest.mark.django_db
def test_events_in_any_order_leave_the_same_final_state(stripe_plans, card, stripe_api):
    """The real events of a subscription's life (localstripe's own list), delivered shuffled and with repeats."""
    client = jwt_client(UserFactory(username="jun"))
    ours = subscribe_by_card(client, card)
    invoice, _ = paid_checkout(jwt_client(UserFactory(username="kim")), card, stripe_api)
    stripe.Subscription.modify(ours.stripe_subscription_id, cancel_at_period_end=True, **stripe_api)
    stripe.Subscription.cancel(ours.stripe_subscription_id, **stripe_api)
    time.sleep(1.5)  # localstripe records events as it sends them, about a second later
    events = [event.to_dict() for event in stripe.Event.list(limit=100, **stripe_api).auto_paging_iter()]
    kinds = {event["type"] for event in events}
    assert {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"} <= kinds
    assert {"invoice.paid", "payment_intent.succeeded"} <= kinds
    events = [json_clean(event) for event in events]

    def final_state(order: list[dict]) -> tuple:
        with transaction.atomic():
            for event in order:
                assert deliver(Client(), event).status_code == 200
            state = (
                Subscription.objects.get(pk=ours.pk).status,
                Subscription.objects.get(pk=ours.pk).cancel_at_period_end,
                Invoice.objects.get(pk=invoice.pk).status,
                tuple(sorted(Payment.objects.values_list("invoice_id", "status", "amount"))),
                StripeWebhookEvent.objects.exclude(status=StripeWebhookEventStatus.PROCESSED).count(),
            )
            transaction.set_rollback(True)
        return state

    states = set()
    for seed in range(3):
        order = events + random.Random(seed).sample(events, k=len(events) // 2)
        random.Random(seed).shuffle(order)
        states.add(final_state(order))

    assert len(states) == 1
    (state,) = states
    assert state[0] == SubscriptionStatus.CANCELED and state[2] == InvoiceStatus.PAID and state[4] == 0
    assert len(state[3]) == 2  # the subscription's card payment and the checkout's: each once


def json_clean(event: dict) -> dict:
    import json

    return json.loads(json.dumps(event, default=str))


# --- failures and retries -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_event_is_recorded_and_retried_later(stripe_plans, card, stripe_api, stripe_on):
    client = jwt_client(UserFactory(username="lee"))
    invoice, intent = paid_checkout(client, card, stripe_api)
    event = stripe_event(stripe_api, "payment_intent.succeeded", intent)
    stripe_on.stop()  # the handler re-reads the payment intent from Stripe, which is down
    try:
        failed = deliver(Client(), event)
    finally:
        stripe_on.start()
    record = StripeWebhookEvent.objects.get(stripe_event_id=event["id"])
    not_due, retried = StringIO(), StringIO()

    call_command("billing_retry_webhooks", "--no-progress", stdout=not_due)
    call_command("billing_retry_webhooks", "--event", event["id"], "--no-progress", stdout=retried)

    # Acknowledged once recorded: the failure is ours to retry (our schedule), not Stripe's to redeliver.
    # (in this test the job runs once the request's transaction is over, so the answer says only "received").
    assert (failed.status_code, failed.json()["status"]) == (200, StripeWebhookEventStatus.RECEIVED)
    assert (record.status, record.attempts) == (StripeWebhookEventStatus.FAILED, 1)
    assert "APIConnectionError" in record.last_error and record.next_retry_at > record.updated_at
    assert djstripe_models.WebhookEventTrigger.objects.get().exception.startswith("APIConnectionError")
    assert "0 event(s)" in not_due.getvalue()  # its retry time has not come yet
    assert "1 processed" in retried.getvalue()
    record.refresh_from_db()
    assert (record.status, record.attempts, record.next_retry_at) == (StripeWebhookEventStatus.PROCESSED, 2, None)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert not djstripe_models.Event.objects.exclude(id=event["id"]).exists()


@pytest.mark.django_db
def test_events_about_objects_that_are_not_ours_are_acknowledged(stripe_on, stripe_api):
    foreign = stripe.Customer.create(email="stranger@example.com", **stripe_api)
    invoice_event = stripe_event(stripe_api, "invoice.paid", {"id": "in_unknown", "object": "invoice"})
    customer_event = stripe_event(stripe_api, "customer.updated", foreign)

    gone = deliver(Client(), invoice_event)
    mirrored = deliver(Client(), customer_event)

    assert gone.status_code == mirrored.status_code == 200
    results = dict(StripeWebhookEvent.objects.values_list("stripe_event_id", "result"))
    assert "no longer exists" in results[invoice_event["id"]]
    assert "mirrored by dj-stripe only" in results[customer_event["id"]]
    assert djstripe_models.Customer.objects.filter(id=foreign.id).exists()
