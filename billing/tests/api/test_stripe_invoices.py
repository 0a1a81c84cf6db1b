"""POST /api/payment/invoice with Stripe on: the Stripe copy of our invoice, finalized, and its hosted page."""

from io import StringIO

import pytest
import requests
import stripe
from django.core.management import call_command

from billing.enums import InvoiceStatus
from billing.models import Invoice
from billing.providers.stripe.invoices import invoice_stripe_create

pytestmark = pytest.mark.django_db(transaction=True)  # the Stripe copy is made when the invoice commits


def test_the_invoice_gets_a_finalized_stripe_copy_and_its_hosted_url(stripe_on, customer_client, stripe_api):
    response = customer_client.post(
        "/api/payment/invoice", {"amount_krw": 50000, "description": "컨설팅"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    invoice = Invoice.objects.get(pk=body["invoice_id"])
    copy = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api)
    assert body["stripe_url"] == copy.hosted_invoice_url == invoice.stripe_hosted_invoice_url
    assert (copy.status, copy.collection_method, copy.currency) == ("open", "send_invoice", "krw")
    # Our lines and our VAT (truncated to the won), so Stripe asks exactly our total: 50,000 + 5,000.
    assert copy.total == invoice.total == body["total_krw"] == 55000
    assert sorted(line.amount for line in copy.lines.data) == [5000, 50000]
    assert copy.metadata["billing_invoice_id"] == str(invoice.pk)
    assert copy.metadata["billing_invoice_number"] == invoice.number == body["invoice_number"]
    page = requests.get(body["stripe_url"], timeout=5)
    assert page.status_code == 200 and "55000" in page.text


def test_making_the_copy_again_finds_the_same_stripe_invoice(stripe_on, customer_client, stripe_api):
    """The keys come from our invoice: lost track of the copy, the same calls replay instead of making a second."""
    response = customer_client.post("/api/payment/invoice", {"amount_krw": 12345}, format="json")
    invoice = Invoice.objects.get(pk=response.json()["invoice_id"])
    first = invoice.stripe_invoice_id
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="", stripe_hosted_invoice_url="")

    again = invoice_stripe_create(invoice=invoice)

    assert again.stripe_invoice_id == first
    assert len(stripe.Invoice.list(**stripe_api).data) == 1
    assert stripe.Invoice.retrieve(first, **stripe_api).total == invoice.total == 13579


def test_stripe_down_while_issuing_leaves_our_invoice_and_the_sync_makes_the_copy_later(
    stripe_on, customer_client, stripe_api
):
    stripe_on.stop()
    try:
        response = customer_client.post("/api/payment/invoice", {"amount_krw": 70000}, format="json")
    finally:
        stripe_on.start()

    assert response.status_code == 201, response.json()
    assert response.json()["stripe_url"] is None
    invoice = Invoice.objects.get(pk=response.json()["invoice_id"])
    assert invoice.status == InvoiceStatus.OPEN and invoice.number  # ours stands: issued and numbered

    out = StringIO()
    call_command("billing_sync_stripe", "--invoice", invoice.number, "--no-progress", stdout=out)

    invoice.refresh_from_db()
    assert invoice.stripe_hosted_invoice_url and invoice.number in out.getvalue()
    assert stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api).total == invoice.total


def test_with_stripe_off_there_is_no_stripe_url(settings, customer_client):
    settings.STRIPE_ENABLED = False

    response = customer_client.post("/api/payment/invoice", {"amount_krw": 50000}, format="json")

    assert response.status_code == 201 and response.json()["stripe_url"] is None
    assert Invoice.objects.get().stripe_invoice_id == ""
