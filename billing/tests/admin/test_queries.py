"""No changelist is N+1: the query count of a page of 200 rows is that of a page of 20."""

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Customer, Invoice, Subscription, SubscriptionPlan

from .conftest import invoice_create, payment_create, seoul_time

pytestmark = pytest.mark.django_db

MAX_QUERIES = 14  # session, user, counts, rows, filter choices: never one per row


def rows(count: int, customers: list[Customer], plans: dict[str, SubscriptionPlan]) -> None:
    invoices = Invoice.objects.bulk_create(
        invoice_create(customers[index % len(customers)], total=10_000 + index, save=False) for index in range(count)
    )
    for index, invoice in enumerate(invoices):
        payment_create(invoice, amount=1_000, succeeded_at=seoul_time(date(2026, 6, 1)) + timedelta(minutes=index))
    start = date(2026, 1, 1)
    Subscription.objects.bulk_create(
        Subscription(
            customer=customers[index % len(customers)],
            plan=plans["pro" if index % 2 else "basic"],
            billing_period="monthly",
            status="canceled",
            price_amount=99_000,
            billing_cycle_anchor=start,
            current_period_start=start,
            current_period_end=start + timedelta(days=31),
            canceled_at=seoul_time(start),
            ended_at=seoul_time(start),
            cancellation_reason="requested",
        )
        for index in range(count)
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
    admin_client: Client, make_customer: Any, plans: dict[str, SubscriptionPlan], name: str
) -> None:
    customers = [make_customer(f"c{index}", display_name=f"고객 {index}") for index in range(10)]
    url = reverse(f"admin:{name}_changelist")
    rows(20, customers, plans)
    few = queries(admin_client, url)
    rows(180, customers, plans)
    many = queries(admin_client, url)
    assert Invoice.objects.count() == 200
    assert many == few, f"{name}: {few} queries for 20 rows, {many} for 200"
    assert many <= MAX_QUERIES
