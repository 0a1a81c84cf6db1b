"""Helpers of the subscription tests: paying an invoice as the hook does (Seoul moments: `helpers.seoul`).

The plans of billing/plans.yaml are the root conftest's `plans`; customers are `CustomerFactory` rows.
"""

from datetime import datetime
from typing import Any


def pay(invoice: Any, *, now: datetime | None = None) -> Any:
    """Pay what an invoice still asks for by bank transfer, then tell the subscriptions (the hook's call)."""
    from billing.services.payments import payment_record
    from billing.services.subscriptions import subscription_invoice_paid

    invoice.refresh_from_db()
    payment_record(invoice=invoice, amount=invoice.amount_remaining, method="bank_transfer")
    return subscription_invoice_paid(invoice=invoice, now=now)
