"""No changelist is N+1: the query count of a page of 200 rows is that of a page of 20."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.enums import InvoiceStatus
from billing.models import Customer, Invoice, SubscriptionPlan

from ..factories import CustomerFactory, InvoiceFactory, PaymentFactory, SubscriptionFactory
from ..helpers import seoul

pytestmark = pytest.mark.django_db

MAX_QUERIES = 14  # session, user, counts, rows, filter choices: never one per row


def rows(count: int, customers: list[Customer], basic_and_pro_plans: dict[str, SubscriptionPlan]) -> None:
    for index in range(count):
        invoice = InvoiceFactory.create(
            customer=customers[index % len(customers)], subtotal=10_000 + index, tax=0, status=InvoiceStatus.OPEN
        )
        PaymentFactory.create(
            invoice=invoice, amount=1_000, succeeded_at=seoul(date(2026, 6, 1)) + timedelta(minutes=index)
        )
    start = date(2026, 1, 1)
    for index in range(count):
        SubscriptionFactory.create(
            customer=customers[index % len(customers)],
            plan=basic_and_pro_plans["pro" if index % 2 else "basic"],
            status="canceled",
            price_amount=99_000,
            started=start,
            current_period_end=start + timedelta(days=31),
            canceled_at=seoul(start),
            ended_at=seoul(start),
            cancellation_reason="requested",
        )


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"all": ""})
        assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "name",
    ["billing_invoice", "billing_payment", "billing_subscription"],
)
def test_changelist_with_200_rows_is_not_n_plus_one(
    admin_client: Client, basic_and_pro_plans: dict[str, SubscriptionPlan], name: str
) -> None:
    customers = [
        CustomerFactory.create(user__username=f"c{index}", display_name=f"고객 {index}") for index in range(10)
    ]
    url = reverse(f"admin:{name}_changelist")
    rows(20, customers, basic_and_pro_plans)
    few = queries(admin_client, url)
    rows(180, customers, basic_and_pro_plans)
    many = queries(admin_client, url)
    assert Invoice.objects.count() == 200
    assert many == few, f"{name}: {few} queries for 20 rows, {many} for 200"
    assert many <= MAX_QUERIES
