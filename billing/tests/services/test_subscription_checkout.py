"""Checkout services: bank-transfer instructions in the customer's language, the incomplete subscription."""

from datetime import date

import pytest

from billing.models.subscriptions import SubscriptionInvoice
from billing.providers.manual import bank_transfer_instructions as payment_instructions
from billing.services.checkout import checkout_create
from billing.services.orders import OrderItemInput
from billing.tests.helpers import seoul
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_korean_instructions_name_the_amount_account_due_date_and_reference(customer, plans, settings):
    result = checkout_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(date(2025, 1, 5))
    )

    payment = result.payment
    due = result.invoice.due_date
    assert (payment.method, payment.amount, payment.currency) == ("bank_transfer", 31_900, "KRW")
    assert payment.reference == result.invoice.number
    assert payment.instructions.startswith(
        f"{due.year}년 {due.month}월 {due.day}일까지 ₩31,900을(를) 국민은행 123456-01-234567"
    )
    assert result.invoice.number in payment.instructions


def test_english_instructions_for_an_english_customer(customer, plans):
    customer.preferred_language = "en"
    customer.save()

    result = checkout_create(customer=customer, items=[OrderItemInput(description="Setup", unit_amount=50_000)])

    payment = payment_instructions(invoice=result.invoice)
    assert payment.bank_name == "KB Kookmin Bank"
    assert payment.instructions.startswith("Please transfer ₩55,000 to KB Kookmin Bank account 123456-01-234567")
    assert result.subscription is None


def test_a_plan_checkout_links_the_invoice_to_the_first_period(customer, plans):
    result = checkout_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )

    link = SubscriptionInvoice.objects.get(invoice=result.invoice)
    assert (link.subscription_id, link.period_start, link.period_end) == (
        result.subscription.pk,
        date(2025, 1, 31),
        date(2025, 2, 28),
    )
    assert result.order.items.get().description == "프로 플랜 (월간) 2025-01-31 ~ 2025-02-27"
    assert (result.subscription.status, result.subscription.next_billing_date) == ("incomplete", None)


def test_checkout_needs_a_plan_or_items_not_both(customer, plans):
    with pytest.raises(ApplicationError) as neither:
        checkout_create(customer=customer)
    with pytest.raises(ApplicationError) as both:
        checkout_create(customer=customer, plan=plans["pro"], billing_period="monthly", items=[])

    assert neither.value.code == both.value.code == "validation_error"
