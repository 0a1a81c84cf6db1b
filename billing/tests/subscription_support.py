"""Helpers of the subscription tests: moments on the Seoul calendar, and paying an invoice as the hook does.

The plans of billing/plans.yaml are the root conftest's `plans`; customers are `CustomerFactory` rows.
"""

from datetime import date, datetime, time
from typing import Any

from billing.periods import BILLING_TIME_ZONE


def seoul(day: date, hour: int = 10) -> datetime:
    """An aware moment on a Seoul calendar day (10:00 by default, safely inside the day)."""
    return datetime.combine(day, time(hour), tzinfo=BILLING_TIME_ZONE)


def pay(invoice: Any, *, now: datetime | None = None) -> Any:
    """Pay what an invoice still asks for by bank transfer, then tell the subscriptions (the hook's call)."""
    from billing.services.payments import payment_record
    from billing.services.subscriptions import subscription_invoice_paid

    invoice.refresh_from_db()
    payment_record(invoice=invoice, amount=invoice.amount_remaining, method="bank_transfer")
    return subscription_invoice_paid(invoice=invoice, now=now)
