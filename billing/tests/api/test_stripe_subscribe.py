"""Subscribe by card through Stripe: a good card, a declining card, plan changes, cancellation, Stripe unreachable."""

from typing import Any

import pytest
import stripe
from django.db import connection
from djstripe import models as djstripe_models

from billing.enums import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.models import Invoice, InvoiceNumberSequence, Payment
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.services.customers import customer_get_or_create
from billing.tests.factories import UserFactory
from billing.tests.stripe_support import DECLINING_CARD
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db


def subscribe(client: Any, plan: str, period: str = "monthly", **extra: Any) -> Any:
    return client.post("/api/payment/subscribe", {"plan": plan, "billing_period": period, **extra}, format="json")


def test_a_good_card_pays_the_first_invoice_through_a_stripe_subscription(
    stripe_plans, customer_client, customer_user, card, stripe_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # Stripe's copy names ours by a job, after commit
        response = subscribe(customer_client, "pro", payment_method_id=card())

    assert response.status_code == 201, response.json()
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    invoice = Invoice.objects.get(subscription_link__subscription=ours)
    theirs = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    stripe_invoice = stripe.Invoice.retrieve(theirs.latest_invoice, **stripe_api)
    assert ours.status == SubscriptionStatus.ACTIVE and theirs.status == "active"
    assert theirs.metadata["billing_subscription_id"] == str(ours.pk)
    assert theirs["items"].data[0].price.id == stripe_plans["pro"].stripe_monthly_price_id
    # 99,000 + 10% VAT, the same in both books; Stripe collected it and we recorded it once.
    assert (invoice.total, stripe_invoice.total, stripe_invoice.status) == (108900, 108900, "paid")
    assert invoice.status == InvoiceStatus.PAID and invoice.stripe_invoice_id == stripe_invoice.id
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.method, payment.status, payment.amount) == (PaymentMethod.CARD, PaymentStatus.SUCCEEDED, 108900)
    assert payment.provider_reference == stripe_invoice.payment_intent
    linked = djstripe_models.Customer.objects.get(subscriber=customer_user)
    assert theirs.customer == linked.id
    assert stripe.Customer.retrieve(linked.id, **stripe_api).metadata["billing_customer_id"] == str(
        customer_get_or_create(user=customer_user).pk
    )


def test_a_declined_card_is_402_and_leaves_nothing_here_or_in_stripe(
    stripe_plans, customer_client, customer_user, card, stripe_api
):
    response = subscribe(customer_client, "pro", payment_method_id=card(DECLINING_CARD))

    assert response.status_code == 402, response.json()
    assert response.json()["error"]["code"] == "card_declined"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()
    assert not InvoiceNumberSequence.objects.filter(last_number__gt=0).exists()  # no number consumed
    (stripe_customer,) = [
        customer.id for customer in stripe.Customer.list(email=customer_user.email, **stripe_api).data
    ]
    subscriptions = stripe.Subscription.list(customer=stripe_customer, status="all", **stripe_api).data
    invoices = stripe.Invoice.list(customer=stripe_customer, **stripe_api).data
    assert [subscription.status for subscription in subscriptions] in (["canceled"], ["incomplete_expired"])
    assert [invoice.status for invoice in invoices] == ["void"]


def test_after_a_decline_a_good_card_subscribes(stripe_plans, customer_client, customer_user, card, stripe_api):
    subscribe(customer_client, "pro", payment_method_id=card(DECLINING_CARD))

    response = subscribe(customer_client, "pro", payment_method_id=card())

    assert response.status_code == 201, response.json()
    # The Stripe customer the declined attempt made is found again, not duplicated.
    assert len(stripe.Customer.list(email=customer_user.email, **stripe_api).data) == 1
    ours = Subscription.objects.get()
    assert ours.status == SubscriptionStatus.ACTIVE
    assert Invoice.objects.get().status == InvoiceStatus.PAID


def test_an_unknown_payment_method_is_400(stripe_plans, customer_client):
    response = subscribe(customer_client, "pro", payment_method_id="pm_doesnotexist")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payment_method"
    assert not Subscription.objects.exists()


def test_an_upgrade_cancels_the_old_stripe_subscription_and_charges_what_our_invoice_says(
    stripe_plans, customer_client, card, stripe_api, django_capture_on_commit_callbacks
):
    subscribe(customer_client, "starter", payment_method_id=card())
    starter = Subscription.objects.get()

    with django_capture_on_commit_callbacks(execute=True):  # the old one is canceled in Stripe by a job
        response = subscribe(customer_client, "pro")  # no card sent: the card on file pays the new plan

    assert response.status_code == 201, response.json()
    starter.refresh_from_db()
    pro = Subscription.objects.get(pk=response.json()["subscription_id"])
    old = stripe.Subscription.retrieve(starter.stripe_subscription_id, **stripe_api)
    new = stripe.Subscription.retrieve(pro.stripe_subscription_id, **stripe_api)
    invoice = Invoice.objects.get(subscription_link__subscription=pro)
    stripe_invoice = stripe.Invoice.retrieve(new.latest_invoice, **stripe_api)
    assert (starter.status, old.status) == (SubscriptionStatus.CANCELED, "canceled")
    assert (pro.status, new.status) == (SubscriptionStatus.ACTIVE, "active")
    # The pro rata credit of the starter plan is on both invoices, and the totals agree to the won.
    assert invoice.lines.filter(amount__lt=0).exists()
    assert stripe_invoice.total == invoice.total and invoice.status == InvoiceStatus.PAID
    assert response.json()["proration"]["credit"] > 0


def test_a_bank_transfer_subscription_stays_out_of_stripe(stripe_plans, customer_client, stripe_api):
    response = subscribe(customer_client, "pro")

    assert response.status_code == 201
    ours = Subscription.objects.get()
    assert ours.stripe_subscription_id == "" and ours.status == SubscriptionStatus.ACTIVE
    assert Invoice.objects.get().status == InvoiceStatus.OPEN
    assert stripe.Subscription.list(status="all", **stripe_api).data == []


def test_canceling_at_period_end_and_now_is_mirrored_in_stripe(
    stripe_plans, customer_client, card, stripe_api, django_capture_on_commit_callbacks
):
    subscribe(customer_client, "pro", payment_method_id=card())
    ours = Subscription.objects.get()

    with django_capture_on_commit_callbacks(execute=True):  # mirrored in Stripe by a job, after commit
        at_end = customer_client.delete(f"/api/payment/subscriptions/{ours.pk}")
    stripe_after_first = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    with django_capture_on_commit_callbacks(execute=True):
        now = customer_client.delete(f"/api/payment/subscriptions/{ours.pk}?immediately=true")
    stripe_after_second = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)

    assert at_end.status_code == 200 and at_end.json()["cancel_at_period_end"] is True
    assert stripe_after_first.cancel_at_period_end is True and stripe_after_first.status == "active"
    assert now.status_code == 200 and now.json()["status"] == SubscriptionStatus.CANCELED
    assert stripe_after_second.status == "canceled"


def test_stripe_unreachable_is_a_clean_503(stripe_plans, customer_client, card, stripe_on):
    payment_method = card()
    stripe_on.stop()
    try:
        response = subscribe(customer_client, "pro", payment_method_id=payment_method)
    finally:
        stripe_on.start()

    assert response.status_code == 503, response.json()
    assert response.json()["error"]["code"] == "stripe_unavailable"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()
    assert not InvoiceNumberSequence.objects.filter(last_number__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_when_our_write_fails_after_stripe_charged_the_stripe_subscription_is_undone(stripe_on, card, stripe_api):
    """Our database refuses to store the Stripe id (a trigger stands in for any failure after the Stripe call)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL triggers")
    from billing.providers.stripe.plans import plans_stripe_sync
    from billing.services.plans import plan_file_load, plans_sync

    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    client = jwt_client(UserFactory(username="bob"))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_stripe_id() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'test: storage of the Stripe id refused'; END $$;
            CREATE TRIGGER test_refuse_stripe_id BEFORE UPDATE OF stripe_subscription_id ON billing_subscription
            FOR EACH ROW WHEN (NEW.stripe_subscription_id <> '') EXECUTE FUNCTION test_refuse_stripe_id();
            """
        )
    try:
        client.raise_request_exception = False
        response = subscribe(client, "pro", payment_method_id=card())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_refuse_stripe_id ON billing_subscription")
            cursor.execute("DROP FUNCTION test_refuse_stripe_id()")

    assert response.status_code == 500
    assert not Subscription.objects.exists() and not Invoice.objects.exists()
    subscriptions = stripe.Subscription.list(status="all", **stripe_api).data
    assert len(subscriptions) == 1 and subscriptions[0].status == "canceled"
    assert stripe.Invoice.retrieve(subscriptions[0].latest_invoice, **stripe_api).status in ("void", "paid")
