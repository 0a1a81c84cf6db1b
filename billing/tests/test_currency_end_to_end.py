"""Each currency end to end on the harness's servers (issue 17): the plan price from billing/plans.yaml as the API
lists it, a card subscribe through the API charged by localstripe at the Price of that currency, our invoice's
amounts and VAT rounding, the PDF (stored in S3) and the emails, for a taxable and a zero-rated customer.

The amounts are chosen so that rounding shows: a coupon takes an odd amount off, and the VAT of what is left is a
fraction of the minor unit (₩9,776.6, $7.777, €7.077, ¥877.7). billing.money.vat_amount truncates it toward zero;
Stripe rounds a line's tax half up, so our subscribe sends Stripe the difference as a "부가세 조정" item and both
invoices agree to the minor unit.
"""

import os
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import stripe
from django.conf import settings
from django.core.management import call_command

from billing.enums import CouponDuration, EmailKind, InvoiceStatus, PaymentMethod, PaymentStatus, TaxTreatment
from billing.models import Customer, Invoice, Payment
from billing.models.plans import PlanPrice
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.money import money_format, vat_amount
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.customers import customer_tax_treatment_set
from billing.tests.factories import CustomerFactory
from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_server
from billing_site.mail.models import Email, EmailStatus
from billing_site.tests.helpers import jwt_client

from .helpers import pdf_text, stored_bytes

__all__ = ["card", "stripe_api", "stripe_on", "stripe_server"]  # fixtures used here

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(os.environ.get("HARNESS_SERVICES") == "none", reason="servers disabled by HARNESS_SERVICES"),
]

ZERO_RATED_BASIS = "부가가치세법 제24조 제1항 제3호, 같은 법 시행령 제33조 제2항"


@dataclass(frozen=True)
class Shown:
    """What a Korean document prints (money_format(language="ko"), babel's ko_KR)."""

    price: str
    discount: str
    subtotal: str
    tax: str
    total: str


@dataclass(frozen=True)
class Expected:
    """One currency and treatment: the pro plan's monthly price and the coupon in minor units, then our invoice."""

    price: int
    annual: int
    coupon_off: int
    subtotal: int
    tax: int
    total: int
    shown: Shown


# Pro monthly (billing/plans.yaml) less a once-coupon: the subtotal's 10 % VAT is truncated (money.vat_amount).
TAXABLE = {
    # ₩97,766 x 10 % = ₩9,776.6 -> ₩9,776
    "KRW": Expected(
        99_000, 990_000, 1_234, 97_766, 9_776, 107_542, Shown("₩99,000", "-₩1,234", "₩97,766", "₩9,776", "₩107,542")
    ),
    # $77.77 x 10 % = $7.777 -> $7.77
    "USD": Expected(
        7_900, 79_000, 123, 7_777, 777, 8_554, Shown("US$79.00", "-US$1.23", "US$77.77", "US$7.77", "US$85.54")
    ),
    # €70.77 x 10 % = €7.077 -> €7.07
    "EUR": Expected(7_200, 72_000, 123, 7_077, 707, 7_784, Shown("€72.00", "-€1.23", "€70.77", "€7.07", "€77.84")),
    # ¥8,777 x 10 % = ¥877.7 -> ¥877
    "JPY": Expected(
        8_900, 89_000, 123, 8_777, 877, 9_654, Shown("JP¥8,900", "-JP¥123", "JP¥8,777", "JP¥877", "JP¥9,654")
    ),
}
ZERO_RATED = {
    "KRW": Expected(99_000, 990_000, 1_234, 97_766, 0, 97_766, Shown("₩99,000", "-₩1,234", "₩97,766", "₩0", "₩97,766")),
    "USD": Expected(
        7_900, 79_000, 123, 7_777, 0, 7_777, Shown("US$79.00", "-US$1.23", "US$77.77", "US$0.00", "US$77.77")
    ),
    "EUR": Expected(7_200, 72_000, 123, 7_077, 0, 7_077, Shown("€72.00", "-€1.23", "€70.77", "€0.00", "€70.77")),
    "JPY": Expected(8_900, 89_000, 123, 8_777, 0, 8_777, Shown("JP¥8,900", "-JP¥123", "JP¥8,777", "JP¥0", "JP¥8,777")),
}
EXPECTED: dict[str, dict[str, Expected]] = {TaxTreatment.TAXABLE: TAXABLE, TaxTreatment.ZERO_RATED: ZERO_RATED}


def _buyer(currency: str, treatment: str, staff: Any) -> Customer:
    """A customer who has chosen nothing yet (KRW by default, Korean documents).

    Taxable: a Korean business with its 사업자등록번호, in any currency. Zero-rated: in a foreign currency, a customer
    without one, whom the first subscribe makes zero-rated (the foreign default); in KRW, staff set it (a Korean
    exporter of services), since the default never applies to KRW."""
    if treatment == TaxTreatment.TAXABLE:
        return CustomerFactory.create(user__username=f"buyer-{currency.lower()}", business=True)
    customer = CustomerFactory.create(user__username=f"buyer-{currency.lower()}")
    if currency == "KRW":
        customer = customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.ZERO_RATED, actor=staff)
    return customer


def _html(message: Any) -> str:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return str(html)


@pytest.mark.parametrize("treatment", [TaxTreatment.TAXABLE, TaxTreatment.ZERO_RATED])
@pytest.mark.parametrize("currency", ["KRW", "USD", "EUR", "JPY"])
def test_a_currency_from_plan_price_to_invoice_pdf_email_and_stripe(
    postgresql: None,
    stripe_on: Any,
    stripe_api: dict[str, Any],
    card: Any,
    billing_staff_user: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    currency: str,
    treatment: str,
) -> None:
    expected = EXPECTED[treatment][currency]
    assert settings.AWS_STORAGE_BUCKET_NAME, "the PDF goes to the harness's S3 server"

    # 1. The plans of billing/plans.yaml, seeded (and synced to Stripe) as on a deployment; the price list a
    # customer reads in their currency.
    call_command("seed_plans", "--no-progress", stdout=StringIO(), stderr=StringIO())
    buyer = _buyer(currency, treatment, billing_staff_user)
    client = jwt_client(buyer.user)
    listed = client.get("/api/payment/plans", {"currency": currency})
    assert listed.status_code == 200, listed.content
    pro = {plan["slug"]: plan for plan in listed.json()}["pro"]
    assert (pro["currency"], pro["monthly_price"], pro["annual_price"]) == (currency, expected.price, expected.annual)
    assert money_format(amount=pro["monthly_price"], currency=currency, language="ko") == expected.shown.price

    # 2. The first subscribe by card in that currency, with a once-coupon of an odd amount in it.
    coupon = coupon_create(
        actor=billing_staff_user,
        name="Welcome",
        duration=CouponDuration.ONCE,
        amount_off=expected.coupon_off,
        currency=currency,
    )
    promotion_code_create(actor=billing_staff_user, coupon=coupon, code=f"WELCOME-{currency}")
    request = {
        "plan": "pro",
        "billing_period": "monthly",
        "currency": currency,
        "payment_method_id": card(),
        "coupon": f"welcome-{currency.lower()}",
    }
    key = f"subscribe-{currency}-{treatment}"
    with django_capture_on_commit_callbacks(execute=True):  # the PDF, the emails, the Stripe link: after commit
        response = client.post("/api/payment/subscribe", request, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.content
    replay = client.post("/api/payment/subscribe", request, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (replay.status_code, replay.json()) == (201, response.json())  # the same answer, nothing charged twice

    buyer.refresh_from_db()
    assert (buyer.currency, buyer.tax_treatment) == (currency, treatment)
    ours = Subscription.objects.get(customer=buyer)
    assert (ours.status, ours.currency, ours.price_amount) == (SubscriptionStatus.ACTIVE, currency, expected.price)
    invoice = Invoice.objects.get(subscription_link__subscription=ours)

    # At Stripe: the Price of this currency, in Stripe's smallest unit (KRW and JPY whole units, USD and EUR
    # cents), charged once for exactly our total.
    price_row = PlanPrice.objects.get(plan__slug="pro", currency=currency)
    theirs = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    (item,) = theirs["items"].data
    price = stripe.Price.retrieve(item.price.id, **stripe_api)
    assert price.id == price_row.stripe_monthly_price_id
    assert (price.unit_amount, price.currency) == (expected.price, currency.lower())
    assert price.recurring is not None and price.recurring.interval == "month"
    rate = 1000 if treatment == TaxTreatment.TAXABLE else 0  # basis points
    (tax_rate,) = item.tax_rates
    assert Decimal(str(tax_rate.percentage)) * 100 == rate
    assert isinstance(theirs.customer, str)
    listed_there = stripe.Subscription.list(customer=theirs.customer, status="all", **stripe_api).data
    assert [subscription.id for subscription in listed_there] == [theirs.id]
    stripe_invoice = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api)
    assert stripe_invoice.id == theirs.latest_invoice
    assert (stripe_invoice.status, stripe_invoice.currency) == ("paid", currency.lower())
    assert stripe_invoice.total == stripe_invoice.amount_paid == invoice.total == expected.total
    lines = {line.description: line.amount for line in stripe_invoice.lines.data if line.description}
    assert lines.get("할인: Welcome") == -expected.coupon_off
    # Stripe taxes the plan line alone, at the item's rate (every pro price is whole tens: nothing to round
    # there); the "부가세 조정" item brings its VAT to ours, on the discounted subtotal and truncated.
    stripe_tax = expected.price * rate // 10_000
    assert stripe_invoice["tax"] == stripe_tax
    assert lines.get("부가세 조정", 0) == expected.tax - stripe_tax
    intent = stripe.PaymentIntent.retrieve(stripe_invoice["payment_intent"], **stripe_api)
    (charge,) = intent["charges"]["data"]
    assert (intent.amount, intent.currency, intent.status) == (expected.total, currency.lower(), "succeeded")
    assert (charge.amount, charge.currency, charge.paid) == (expected.total, currency.lower(), True)

    # 3. Our invoice: exact minor units, the VAT truncated (never rounded up), the treatment kept on it.
    assert invoice.currency == currency and invoice.status == InvoiceStatus.PAID
    assert (invoice.subtotal, invoice.tax, invoice.total) == (expected.subtotal, expected.tax, expected.total)
    assert vat_amount(supply_amount=expected.subtotal, tax_treatment=treatment, rate_basis_points=rate) == expected.tax
    if treatment == TaxTreatment.TAXABLE:
        assert expected.subtotal * rate % 10_000 != 0  # a fraction of a minor unit was dropped
    assert sorted(invoice.lines.values_list("amount", flat=True)) == [-expected.coupon_off, expected.price]
    basis = ZERO_RATED_BASIS if treatment == TaxTreatment.ZERO_RATED else ""
    assert (invoice.tax_treatment, invoice.vat_rate_basis_points, invoice.tax_basis) == (treatment, rate, basis)
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.method, payment.status, payment.amount, payment.currency) == (
        PaymentMethod.CARD,
        PaymentStatus.SUCCEEDED,
        expected.total,
        currency,
    )
    seen = client.get(f"/api/invoices/{invoice.pk}").json()
    assert (seen["currency"], seen["subtotal"], seen["tax"], seen["total"], seen["amount_remaining"]) == (
        currency,
        expected.subtotal,
        expected.tax,
        expected.total,
        0,
    )
    assert (seen["tax_treatment"], seen["vat_rate_basis_points"], seen["tax_basis"]) == (treatment, rate, basis)
    assert response.json()["invoice"]["total"] == expected.total

    # 4. The PDF (rendered after commit, stored in S3): the Korean locale's amounts and the tax line.
    shown = expected.shown
    for amount, text in (
        (expected.price, shown.price),
        (-expected.coupon_off, shown.discount),
        (expected.subtotal, shown.subtotal),
        (expected.tax, shown.tax),
        (expected.total, shown.total),
    ):
        assert money_format(amount=amount, currency=currency, language="ko") == text
    pdf = stored_bytes(invoice)
    text = " ".join(pdf_text(pdf).split())
    for amount_text in (shown.price, shown.discount, shown.subtotal, shown.tax, shown.total):
        assert amount_text in text, (amount_text, text)
    if treatment == TaxTreatment.TAXABLE:
        assert "과세 구분: 과세 (10%)" in text and "부가세 10%" in text and "적용 근거" not in text
    else:
        assert "과세 구분: 영세율" in text and "부가세 0%" in text
        # The basis wraps in its column (-layout puts the seller's column between its two lines).
        assert "적용 근거: 부가가치세법 제24조 제1항 제3호, 같은 법 시행령" in text and "제33조 제2항" in text

    # 5. The emails (the configured backend, locmem here): the invoice with that PDF, then the card receipt.
    issued = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    receipt = Email.objects.get(kind=EmailKind.PAYMENT_RECEIVED, object_id=str(payment.pk))
    assert (issued.status, receipt.status) == (EmailStatus.SENT, EmailStatus.SENT)
    by_subject = {message.subject: message for message in mailoutbox}
    assert len(mailoutbox) == 2 and set(by_subject) == {issued.subject, receipt.subject}
    invoice_mail, receipt_mail = by_subject[issued.subject], by_subject[receipt.subject]
    assert invoice_mail.subject == f"[주식회사 빌링사이트] 청구서 {invoice.number} 발행 안내"
    assert receipt_mail.subject == f"[주식회사 빌링사이트] 결제 영수증 - 청구서 {invoice.number}"
    assert invoice_mail.to == receipt_mail.to == [buyer.email]
    for body in (invoice_mail.body, _html(invoice_mail)):
        assert shown.total in body, body
    assert f"청구금액(부가세 포함): {shown.total}" in invoice_mail.body
    for body in (receipt_mail.body, _html(receipt_mail)):
        assert shown.total in body, body
    assert f"결제금액: {shown.total}" in receipt_mail.body
    ((name, content, mimetype),) = invoice_mail.attachments
    assert (name, mimetype, content) == (f"invoice-{invoice.number}.pdf", "application/pdf", pdf)
