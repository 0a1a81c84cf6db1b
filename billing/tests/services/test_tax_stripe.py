"""VAT in Stripe (the harness's localstripe): one TaxRate per rate, a card subscription taxed at its customer's rate
(0 % when zero-rated), and the Stripe copy of an invoice carrying our VAT at the rate it was issued with."""

from decimal import Decimal
from typing import Any

import pytest
import stripe

from billing.enums import TaxTreatment
from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription
from billing.providers.stripe.invoices import invoice_stripe_create
from billing.providers.stripe.plans import vat_tax_rate_ensure
from billing.services.customers import customer_tax_treatment_set
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.numbering import billing_today
from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_plans, stripe_server

__all__ = ["card", "stripe_api", "stripe_on", "stripe_plans", "stripe_server"]  # fixtures used here

pytestmark = pytest.mark.django_db


def test_each_rate_has_one_tax_rate_in_stripe(stripe_on: Any, stripe_api: dict[str, Any]) -> None:
    ten, twelve, zero = vat_tax_rate_ensure(1000), vat_tax_rate_ensure(1200), vat_tax_rate_ensure(0)

    assert vat_tax_rate_ensure(1000) == ten and vat_tax_rate_ensure() == ten  # found again; today's rate: 10 %
    assert len({ten, twelve, zero}) == 3
    percentages = {rate: stripe.TaxRate.retrieve(rate, **stripe_api).percentage for rate in (ten, twelve, zero)}
    assert [float(percentages[rate]) for rate in (ten, twelve, zero)] == [10.0, 12.0, 0.0]


def test_a_zero_rated_customer_subscribes_by_card_at_zero_percent(
    stripe_plans: Any,
    customer: Customer,
    customer_client: Any,
    card: Any,
    stripe_api: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.ZERO_RATED, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(
            "/api/payment/subscribe",
            {"plan": "pro", "billing_period": "monthly", "payment_method_id": card()},
            format="json",
        )

    assert response.status_code == 201, response.json()
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    invoice = Invoice.objects.get(subscription_link__subscription=ours)
    theirs = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    (tax_rate,) = theirs["items"].data[0].tax_rates
    # Stripe's renewals are taxed by this rate: 0 %, like ours, not the taxable 10 %.
    assert Decimal(str(tax_rate.percentage)) == 0
    assert isinstance(theirs.latest_invoice, str)
    stripe_invoice = stripe.Invoice.retrieve(theirs.latest_invoice, **stripe_api)
    assert (invoice.tax_treatment, invoice.tax, invoice.total, stripe_invoice.total) == (
        "zero_rated",
        0,
        99_000,
        99_000,
    )


def test_the_stripe_copy_carries_our_vat_at_the_rate_the_invoice_was_issued_with(
    settings: Any, stripe_on: Any, customer: Customer, stripe_api: dict[str, Any]
) -> None:
    settings.BILLING_VAT_RATE_CHANGES = f"{billing_today().isoformat()}=1200"
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("컨설팅", 50_000)])

    copy = stripe.Invoice.retrieve(invoice_stripe_create(invoice=invoice).stripe_invoice_id, **stripe_api)

    assert copy.total == invoice.total == 56_000
    assert {(line.amount, line.description) for line in copy.lines.data} == {
        (50_000, "컨설팅"),
        (6_000, "부가세 (VAT) 12%"),
    }
    assert copy.metadata is not None
    assert (copy.metadata["billing_tax_treatment"], copy.metadata["billing_vat_basis_points"]) == ("taxable", "1200")
