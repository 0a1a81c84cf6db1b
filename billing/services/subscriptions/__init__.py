"""Subscription writes: subscribe (auto-upgrade with pro rata credit), change plan, checkout, cancel, renew.

Every change locks the customer row first and the subscription row second (always in that order, so a
renewal and a subscribe of one customer queue instead of deadlocking), re-checks the state against
billing.models.subscriptions.SUBSCRIPTION_TRANSITIONS and only then changes it (billing.services.subscription_states
holds the locks, the transitions and dunning). A period is invoiced through billing.services.invoices and linked by
a SubscriptionInvoice, unique per (subscription, period start), so no period is ever billed twice.

Plan prices are supply amounts; invoices add VAT. A plan change credits only what was received for the
period it leaves (`replaced_period_settle` in .proration, the one place credit is made): the unused days of that
period times the part of its price that was paid (by money, or by credit applied to its invoice, itself
money-backed), truncated to the minor unit, never the list price of an unpaid period. An unpaid invoice of that
period is voided and what it asked for the days used is billed again on the new invoice. A partly paid one can be
neither voided (it has money on it) nor edited (it is issued), so the plan change is refused (409
`replaced_invoice_partly_paid`) until the rest is paid or staff settle it. What the new invoice cannot
absorb goes to the customer's credit balance, which later subscription invoices use up; so every credit
balance and every invoice "paid" by credit traces back to money received.

Modules: common (texts, checks, credit balance, the invoice of a period), proration, start (the checks and the one
write of a new subscription, its quote), attempts (a subscribe paid through the payment provider, step by step,
and its compensation), subscribe (subscribe, change plan, checkout: now or at the period end), changes (a change
pending for the period end, seats), preview (the upcoming invoice, nothing written), lifecycle (cancel, renew). The
names are re-exported here.
"""

from ..subscription_states import subscription_invoice_paid, subscription_lock, subscription_status_follow
from .attempts import AttemptsReconcileReport, subscribe_attempt_compensate, subscribe_attempts_reconcile
from .changes import pending_change_drop, subscription_quantity_change
from .common import LINE_TEXT, PERIOD_LABELS, plan_line_description
from .lifecycle import RenewalOutcome, subscription_cancel, subscription_renew, subscription_resume
from .preview import UpcomingInvoice, UpcomingLine, subscription_upcoming
from .proration import CreditSplit, PeriodSettlement, credit_split, paid_share, proration_credit
from .start import SubscriptionStart
from .subscribe import SubscriptionCheckout, subscription_change_plan, subscription_checkout, subscription_create

__all__ = [
    "LINE_TEXT",
    "PERIOD_LABELS",
    "AttemptsReconcileReport",
    "CreditSplit",
    "PeriodSettlement",
    "RenewalOutcome",
    "SubscriptionCheckout",
    "SubscriptionStart",
    "UpcomingInvoice",
    "UpcomingLine",
    "credit_split",
    "paid_share",
    "pending_change_drop",
    "plan_line_description",
    "proration_credit",
    "subscribe_attempt_compensate",
    "subscribe_attempts_reconcile",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_checkout",
    "subscription_create",
    "subscription_invoice_paid",
    "subscription_lock",
    "subscription_quantity_change",
    "subscription_renew",
    "subscription_resume",
    "subscription_status_follow",
    "subscription_upcoming",
]
