"""Fixtures of the subscription tests: the plans of billing/plans.yaml, moments on the Seoul calendar, the URLs."""

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import pytest

from billing.models import Customer
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription  # noqa: F401  (registered before the test database is built)
from billing.periods import BILLING_TIME_ZONE
from billing.services.customers import customer_get_or_create
from billing.services.plans import plan_file_load, plans_sync


def seoul(day: date, hour: int = 10) -> datetime:
    """An aware moment on a Seoul calendar day (10:00 by default, safely inside the day)."""
    return datetime.combine(day, time(hour), tzinfo=BILLING_TIME_ZONE)


@pytest.fixture
def plans(db: None) -> dict[str, SubscriptionPlan]:
    """free 0 / starter 29,000 / pro 99,000 / enterprise 490,000 won a month (annual: x10), from the plan file."""
    plans_sync(plan_file=plan_file_load())
    return {plan.slug: plan for plan in SubscriptionPlan.objects.all()}


@pytest.fixture
def make_customer(make_billing_user: Callable[..., Any]) -> Callable[..., Customer]:
    def make(name: str | None = None, **fields: Any) -> Customer:
        customer = customer_get_or_create(user=make_billing_user(name))
        for key, value in fields.items():
            setattr(customer, key, value)
        if fields:
            customer.save()
        return customer

    return make


def pay(invoice: Any, *, now: datetime | None = None) -> Any:
    """Pay what an invoice still asks for by bank transfer, then tell the subscriptions (the hook's call)."""
    from billing.services.payments import payment_record
    from billing.services.subscriptions import subscription_invoice_paid

    invoice.refresh_from_db()
    payment_record(invoice=invoice, amount=invoice.amount_remaining, method="bank_transfer")
    return subscription_invoice_paid(invoice=invoice, now=now)
