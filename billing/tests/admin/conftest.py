"""Fixtures of the admin tests: staff in each group, plans, customers, and issued invoices made fast."""

import itertools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.test import Client

from billing.enums import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.models import Customer, Invoice, InvoiceLine, Payment, SubscriptionPlan
from billing.periods import BILLING_TIME_ZONE
from billing.services.customers import customer_get_or_create
from billing.tests.helpers import staff_group

_numbers = itertools.count(1)


def seoul_time(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BILLING_TIME_ZONE)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def group_member(make_billing_user: Callable[..., Any]) -> Callable[[str], Any]:
    def make(group: str) -> Any:
        user = make_billing_user(f"{group.replace(' ', '-')}-{next(_numbers)}", is_staff=True)
        user.groups.add(staff_group(group))
        return user

    return make


@pytest.fixture
def billing_staff_client(group_member: Callable[[str], Any]) -> Client:
    return logged_in(group_member("billing staff"))


@pytest.fixture
def support_user(group_member: Callable[[str], Any]) -> Any:
    return group_member("support")


@pytest.fixture
def support_client(support_user: Any) -> Client:
    return logged_in(support_user)


@pytest.fixture
def plans(db: None) -> dict[str, SubscriptionPlan]:
    return {
        "basic": SubscriptionPlan.objects.create(
            slug="basic", name="베이직", name_en="Basic", monthly_price=10_000, annual_price=100_000, display_order=10
        ),
        "pro": SubscriptionPlan.objects.create(
            slug="pro", name="프로", name_en="Pro", monthly_price=99_000, annual_price=990_000, display_order=20
        ),
    }


@pytest.fixture
def make_customer(make_billing_user: Callable[..., Any]) -> Callable[..., Customer]:
    def make(name: str | None = None, **fields: Any) -> Customer:
        user = make_billing_user(name)
        customer = customer_get_or_create(user=user)
        for field, value in fields.items():
            setattr(customer, field, value)
        if fields:
            customer.save()
        return customer

    return make


def invoice_create(
    customer: Customer,
    *,
    total: int,
    status: str = InvoiceStatus.OPEN,
    issue_date: date = date(2026, 6, 1),
    due_days: int = 30,
    currency: str = "KRW",
    paid_at: datetime | None = None,
    save: bool = True,
) -> Invoice:
    """An issued invoice written directly (test data: the services are tested elsewhere), PDF pending."""
    paid = status == InvoiceStatus.PAID
    invoice = Invoice(
        customer=customer,
        number=f"{issue_date:%Y%m%d}-{next(_numbers):04d}",
        status=status,
        currency=currency,
        subtotal=total,
        tax=0,
        total=total,
        amount_paid=total if paid else 0,
        amount_remaining=0 if paid else total,
        days_until_due=due_days,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=due_days),
        finalized_at=seoul_time(issue_date),
        paid_at=(paid_at or seoul_time(issue_date, 11)) if paid else None,
        voided_at=seoul_time(issue_date, 12) if status == InvoiceStatus.VOID else None,
        marked_uncollectible_at=seoul_time(issue_date, 12) if status == InvoiceStatus.UNCOLLECTIBLE else None,
        buyer_name=customer.display_name,
        buyer_email=customer.email,
        pdf_status="pending",
        pdf_revision=1,
    )
    if save:
        # Lines can only be added to a draft (a database trigger freezes an issued invoice's lines).
        draft = Invoice.objects.create(
            customer=customer, currency=currency, subtotal=total, total=total, amount_remaining=total
        )
        InvoiceLine.objects.create(invoice=draft, description="프로 플랜 (월간)", unit_amount=total, amount=total)
        issued = {
            field.attname: getattr(invoice, field.attname)
            for field in Invoice._meta.concrete_fields
            if not field.primary_key and field.attname not in ("created_at", "updated_at")
        }
        Invoice.objects.filter(pk=draft.pk).update(**issued)
        invoice = Invoice.objects.get(pk=draft.pk)
    return invoice


def payment_create(
    invoice: Invoice, *, amount: int, succeeded_at: datetime, status: str = PaymentStatus.SUCCEEDED
) -> Payment:
    return Payment.objects.create(
        invoice=invoice,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        method=PaymentMethod.BANK_TRANSFER,
        status=status,
        succeeded_at=succeeded_at if status == PaymentStatus.SUCCEEDED else None,
        failed_at=succeeded_at if status == PaymentStatus.FAILED else None,
    )
