"""POST /api/payment/checkout with Stripe on: a PaymentIntent to pay the order's invoice by card."""

import pytest
import stripe

from billing.enums import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.models import Invoice, Payment
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.providers.stripe.payments import invoice_payment_intent_create
from billing.tests.stripe_support import DECLINING_CARD, signed, stripe_event

pytestmark = pytest.mark.django_db


def test_checkout_answers_a_payment_intent_for_the_invoice(stripe_plans, customer_client, stripe_api):
    response = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    card = body["card"]
    intent = stripe.PaymentIntent.retrieve(card["payment_intent_id"], **stripe_api)
    assert card["client_secret"] == intent.client_secret and card["client_secret"].startswith(intent.id)
    assert intent.amount == card["amount"] == body["invoice"]["total"] == 108900
    assert (intent.currency, card["currency"]) == ("krw", "KRW")
    assert intent.metadata["billing_invoice_id"] == str(body["invoice_id"])
    assert body["payment"]["method"] == "bank_transfer"  # the transfer stays possible


def test_asking_again_for_the_same_invoice_gives_the_same_payment_intent(stripe_plans, customer_client):
    response = customer_client.post("/api/payment/checkout", {"plan": "pro", "billing_period": "annual"}, format="json")
    invoice = Invoice.objects.get(pk=response.json()["invoice_id"])

    again = invoice_payment_intent_create(invoice=invoice)

    assert again.payment_intent_id == response.json()["card"]["payment_intent_id"]


def test_paying_the_intent_pays_the_invoice_and_starts_the_subscription(
    stripe_plans, customer_client, card, stripe_api, django_capture_on_commit_callbacks
):
    body = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
    ).json()
    intent_id = body["card"]["payment_intent_id"]
    # What Stripe.js does in the browser: the card on the intent, then confirmation.
    stripe.PaymentIntent.modify(intent_id, payment_method=card(), **stripe_api)
    intent = stripe.PaymentIntent.confirm(intent_id, **stripe_api)
    assert intent.status == "succeeded"
    payload, signature = signed(stripe_event(stripe_api, "payment_intent.succeeded", intent))

    with django_capture_on_commit_callbacks(execute=True):  # the subscription follows its paid invoice on commit
        response = customer_client.generic(
            "POST", "/api/payment/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )

    assert response.status_code == 200, response.json()
    invoice = Invoice.objects.get(pk=body["invoice_id"])
    assert invoice.status == InvoiceStatus.PAID
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.method, payment.provider_reference, payment.amount) == (PaymentMethod.CARD, intent_id, 108900)
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE


def test_a_declined_card_payment_is_recorded_as_failed_and_the_invoice_stays_open(
    stripe_plans, customer_client, card, stripe_api, django_capture_on_commit_callbacks
):
    body = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
    ).json()
    intent_id = body["card"]["payment_intent_id"]
    stripe.PaymentIntent.modify(intent_id, payment_method=card(DECLINING_CARD), **stripe_api)
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.confirm(intent_id, **stripe_api)
    intent = stripe.PaymentIntent.retrieve(intent_id, **stripe_api)
    payload, signature = signed(stripe_event(stripe_api, "payment_intent.payment_failed", intent))

    with django_capture_on_commit_callbacks(execute=True):  # the event is applied by its job, on commit
        response = customer_client.generic(
            "POST", "/api/payment/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )

    assert response.status_code == 200, response.json()
    payment = Payment.objects.get()
    assert (payment.status, payment.method, payment.amount) == (PaymentStatus.FAILED, PaymentMethod.CARD, 108900)
    assert payment.failure_reason and payment.provider_reference.startswith("ch_")
    assert Invoice.objects.get(pk=body["invoice_id"]).status == InvoiceStatus.OPEN
    assert Subscription.objects.get().status == SubscriptionStatus.INCOMPLETE


def test_with_stripe_off_checkout_has_no_card_payment(db, settings, customer_client):
    settings.STRIPE_ENABLED = False
    from billing.services.plans import plan_file_load, plans_sync

    plans_sync(plan_file=plan_file_load())

    response = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
    )

    assert response.status_code == 201 and response.json()["card"] is None
