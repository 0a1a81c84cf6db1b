"""Reads of the billing app, one module per topic; every customer read is scoped to that customer.

The names are re-exported here so that `from billing import selectors; selectors.invoice_get(...)` keeps
working; new code may import from the topic module.
"""

from .balance import CurrencyBalance, balance_entries, balance_totals
from .credit_notes import credit_note_get, credit_note_get_for_staff, credit_note_list
from .customers import customer_for_user, customer_get
from .entitlements import entitlement_subscription, entitlements_for
from .history import HISTORY_STATUSES, HISTORY_TYPES, HistoryEntry, payment_history
from .invoices import invoice_get, invoice_get_for_staff, invoice_list, invoices_pdf_pending
from .orders import order_get, order_get_for_staff, order_list
from .plans import plan_get_active, plan_list_active
from .subscriptions import live_subscription_id, subscription_get, subscription_list

__all__ = [
    "HISTORY_STATUSES",
    "HISTORY_TYPES",
    "CurrencyBalance",
    "HistoryEntry",
    "balance_entries",
    "balance_totals",
    "credit_note_get",
    "credit_note_get_for_staff",
    "credit_note_list",
    "customer_for_user",
    "customer_get",
    "entitlement_subscription",
    "entitlements_for",
    "invoice_get",
    "invoice_get_for_staff",
    "invoice_list",
    "invoices_pdf_pending",
    "live_subscription_id",
    "order_get",
    "order_get_for_staff",
    "order_list",
    "payment_history",
    "plan_get_active",
    "plan_list_active",
    "subscription_get",
    "subscription_list",
]
