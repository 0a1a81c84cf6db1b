"""Metered usage at the ends of a subscription: the invoice of the usage still unbilled when it is canceled (now, or
at the end of its period). Renewals and plan changes put usage lines on the invoice they issue anyway."""

from datetime import date, datetime

from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoiceReason

from ..usage_invoicing import usage_arrears_bill
from .common import period_invoice_issue


def usage_final_invoice(locked: Subscription, *, customer: Customer, end: date, moment: datetime) -> Invoice | None:
    """Invoice the usage of the days before `end` the subscription has not billed, on an invoice of their own, as
    the subscription ends (customer and subscription locked by the caller). None when nothing is billable (its
    usage is still closed at `end`: events for those days are refused from now on).

    The invoice is linked to the days it bills as a change during the period (reason update), the one kind a period
    may have besides its own invoice."""
    arrears = usage_arrears_bill(subscription=locked, customer=customer, end=end, language=customer.preferred_language)
    if arrears.period is None or not arrears.lines:
        return None
    return period_invoice_issue(
        customer=customer,
        subscription=locked,
        period=arrears.period,
        lines=arrears.lines,
        reason=SubscriptionInvoiceReason.UPDATE,
        moment=moment,
    )
