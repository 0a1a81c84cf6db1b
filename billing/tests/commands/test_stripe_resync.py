"""`manage.py billing_sync_stripe`: Stripe pulled back through dj-stripe, and our records repaired to match it."""

from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from djstripe import models as djstripe_models

from billing.enums import InvoiceStatus, PaymentMethod
from billing.models import Invoice, Payment
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.providers.stripe.invoices import invoice_stripe_create

pytestmark = pytest.mark.django_db


def resync() -> str:
    out = StringIO()
    call_command("billing_sync_stripe", "--no-progress", stdout=out)
    return out.getvalue()


def test_a_subscription_canceled_in_stripe_behind_our_back_is_canceled_here(
    stripe_plans, customer_client, card, stripe_api
):
    response = customer_client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "payment_method_id": card()},
        format="json",
    )
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    stripe.Subscription.cancel(ours.stripe_subscription_id, **stripe_api)  # no webhook reaches us

    first = resync()
    second = resync()

    ours.refresh_from_db()
    assert ours.status == SubscriptionStatus.CANCELED
    assert f"ours {ours.pk}: active -> canceled" in first
    assert "Everything already agrees with Stripe: no changes." in second
    mirrored = djstripe_models.Subscription.objects.get(id=ours.stripe_subscription_id)
    assert mirrored.stripe_data["status"] == "canceled"
    assert "subscriptions" in first and "invoices" in first


def test_an_invoice_paid_on_stripes_page_without_a_webhook_is_paid_here(
    stripe_plans, customer_client, card, stripe_api
):
    # The customer pays the hosted invoice with a card; the webhook never arrives.
    body = customer_client.post("/api/payment/invoice", {"amount_krw": 40000}, format="json")
    invoice = Invoice.objects.get(pk=body.json()["invoice_id"])
    invoice = invoice_stripe_create(invoice=invoice)  # the test transaction never commits: make the copy now
    stripe_customer = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api).customer
    payment_method = card()
    stripe.PaymentMethod.attach(payment_method, customer=stripe_customer, **stripe_api)
    stripe.Customer.modify(stripe_customer, invoice_settings={"default_payment_method": payment_method}, **stripe_api)
    stripe.Invoice.pay(invoice.stripe_invoice_id, **stripe_api)

    out = resync()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and f"ours {invoice}: open -> paid" in out
    payment = Payment.objects.get(invoice=invoice)
    assert payment.method == PaymentMethod.CARD and payment.amount == invoice.total == 44000


def test_a_plan_price_edited_behind_stripes_back_gets_a_new_stripe_price(stripe_plans, stripe_api):
    SubscriptionPlan.objects.filter(slug="starter").update(annual_price=300000)
    starter = SubscriptionPlan.objects.get(slug="starter")
    old_price = starter.stripe_annual_price_id

    out = resync()

    starter.refresh_from_db()
    assert starter.stripe_annual_price_id != old_price
    assert stripe.Price.retrieve(starter.stripe_annual_price_id, **stripe_api).unit_amount == 300000
    assert stripe.Price.retrieve(old_price, **stripe_api).active is False
    assert "price" in out and "created" in out and "archived" in out


def test_the_sync_refuses_to_run_with_stripe_off(db, settings):
    settings.STRIPE_ENABLED = False

    with pytest.raises(Exception, match="Stripe is off"):
        call_command("billing_sync_stripe", "--no-progress", stdout=StringIO())
