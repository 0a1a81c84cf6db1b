"""Metered usage at the ends of a subscription and at its renewals: the invoice of the usage still unbilled when it
is canceled (now, or at the end of its period), the renewal a usage-only plan skips when nothing was used, and the
hold of a renewal whose usage no invoice can hold. Renewals and plan changes put usage lines on the invoice they
issue anyway."""

import logging
from datetime import date, datetime

from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoiceReason, SubscriptionStatus
from billing_site.errors import ApplicationError

from ..invoice_lines import InvoiceLineInput
from ..subscription_states import subscription_status_change
from ..usage_invoicing import USAGE_TOO_LARGE, UsageArrears, plan_metered, usage_arrears_bill
from .common import period_invoice_issue

logger = logging.getLogger(__name__)


def usage_final_invoice(locked: Subscription, *, customer: Customer, end: date, moment: datetime) -> Invoice | None:
    """Invoice the usage of the days before `end` the subscription has not billed, on an invoice of their own, as
    the subscription ends (customer and subscription locked by the caller). None when nothing is billable (its
    usage is still closed at `end`: events for those days are refused from now on).

    Usage too large for any invoice is logged as an error and closed with no line (`drop_unbillable`): an ending
    never fails on it, so a subscription can always be canceled. The invoice is linked to the days it bills as a
    change during the period (reason update), the one kind a period may have besides its own invoice."""
    arrears = usage_arrears_bill(
        subscription=locked,
        customer=customer,
        end=end,
        language=customer.preferred_language,
        drop_unbillable=True,
    )
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


def usage_only_nothing_due(locked: Subscription, *, usage: UsageArrears, charge: InvoiceLineInput) -> bool:
    """A renewal of a usage-only plan (the next period costs nothing, the plan charges usage) whose ended period
    has nothing billable: no invoice (a ₩0 invoice every period would be noise). The period still advances and the
    usage is closed all the same. A free plan without charges still gets its zero invoice, paid at once."""
    return (
        not usage.lines
        and charge.quantity * charge.unit_amount == 0
        and plan_metered(locked.plan_id, currency=locked.currency)
    )


def usage_too_large_for_invoice(error: ApplicationError, *, usage: UsageArrears) -> ApplicationError | None:
    """`usage_amount_too_large` when a renewal invoice carrying usage was refused as too large (`invalid_amount`:
    its total above MAX_AMOUNT, so the usage made it so); None for any other error."""
    if error.code != "invalid_amount" or not usage.lines:
        return None
    return ApplicationError(
        USAGE_TOO_LARGE,
        f"The renewal invoice with this period's usage would be more than an invoice can hold ({error.message}).",
        status_code=422,
    )


def renewal_hold(locked: Subscription, *, error: ApplicationError, moment: datetime) -> str:
    """Hold a renewal whose usage no invoice can hold (`usage_amount_too_large`; customer and subscription locked,
    nothing of the renewal written): the period does not advance and the usage stays open, so staff can correct
    the price (plans.yaml) and the next run bills it exactly, or cancel (which closes it with no line).

    Meanwhile the subscription is past due and, from the day after its period ended, has no service
    (billing.selectors.entitlements.subscription_served: a period not renewed is not served), even should a
    payment's refresh make it active again before the next run holds it again; it never gets stuck either: any
    cancel ends it. Returns the reason, for the renewal run's failures and the job's result."""
    reason = f"renewal held, no service until it renews: {error.code}: {error.message}"
    logger.error("subscription %s (customer %s): %s", locked.pk, locked.customer_id, reason)
    if locked.status == SubscriptionStatus.ACTIVE:
        subscription_status_change(locked, SubscriptionStatus.PAST_DUE, moment=moment, reason=USAGE_TOO_LARGE)
    return reason
