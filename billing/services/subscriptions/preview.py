"""The upcoming invoice of a subscription, and what a change would cost, read by running the real code in a savepoint
that is always rolled back (invoices left drafts, so no number is taken): nothing is written."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    LIVE_STATUSES,
    RENEWING_STATUSES,
    Subscription,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
)
from billing.periods import billing_date, billing_day_start, first_period, next_period
from billing_site.errors import ApplicationError

from ..subscription_states import customer_lock, subscription_lock
from ..usage_invoicing import UsageArrears, usage_arrears_bill
from .changes import owner_or_permission_require, pending_change_apply
from .common import billing_period_validate, charge_line, period_invoice_issue, when_validate
from .pause import pause_resume_due
from .start import SubscribeRequest, SubscriptionStart, subscribe_check, subscription_start_write
from .subscribe import subscribe_route
from .usage import usage_only_nothing_due


@dataclass(frozen=True)
class UpcomingLine:
    description: str
    quantity: int
    unit_amount: int
    amount: int
    period_start: date | None
    period_end: date | None  # the last day of service, as the invoice prints it


@dataclass(frozen=True)
class UpcomingInvoice:
    """An invoice as it would be issued on `date` (supply amounts, VAT and total in minor units of `currency`)."""

    date: date
    lines: list[UpcomingLine]
    subtotal: int
    tax: int
    total: int
    currency: str
    proration: bool  # it bills part of a period (a change now), not a whole one
    # False: the run on `date` issues no invoice (a usage-only plan with nothing used so far renews without one);
    # `lines` are then empty and the amounts 0.
    issued: bool = True


class _Previewed(Exception):
    def __init__(self, upcoming: UpcomingInvoice) -> None:
        super().__init__("previewed")
        self.upcoming = upcoming


def no_upcoming_invoice(subscription: Subscription) -> ApplicationError:
    return ApplicationError(
        "no_upcoming_invoice",
        f"Subscription {subscription.pk} has no next invoice (it is {subscription.status}"
        f"{', set to end at its period end' if subscription.cancel_at_period_end else ''}).",
        status_code=409,
    )


def _upcoming_from(invoice: Invoice, *, on: date, proration: bool) -> UpcomingInvoice:
    return UpcomingInvoice(
        date=on,
        lines=[
            UpcomingLine(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in invoice.lines.order_by("position", "id")
        ],
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        currency=invoice.currency,
        proration=proration,
    )


def _next_invoice(locked: Subscription, *, customer: Customer, moment: datetime) -> UpcomingInvoice:
    """The next invoice as its day's run would issue it (customer and subscription locked, inside the rolled-back
    savepoint): a pause with a resume date resumes first; a trial's first invoice at `trial_end`; else the renewal
    at `current_period_end`, with the metered usage of the period so far, a pending change applied and the credit
    balance used (none when the renewal would issue none: `usage_only_nothing_due`)."""
    if locked.status == SubscriptionStatus.PAUSED and not locked.cancel_at_period_end:
        pause = locked.pauses.filter(resumed_on__isnull=True).first()
        if pause is None or pause.resume_on is None:
            raise no_upcoming_invoice(locked)
        pause_resume_due(
            locked,
            customer=customer,
            as_of=pause.resume_on,
            moment=max(moment, billing_day_start(pause.resume_on)),
        )
    on = locked.next_billing_date
    if on is None:
        raise no_upcoming_invoice(locked)
    at = max(moment, billing_day_start(on))
    language = customer.preferred_language
    usage = UsageArrears()
    if locked.status == SubscriptionStatus.TRIALING:
        # As trial_convert_due issues it: the first period starts on trial_end, the new cycle anchor.
        period = first_period(anchor=on, billing_period=locked.billing_period)
        locked.billing_cycle_anchor = on
        locked.current_period_start, locked.current_period_end = period.start, period.end
        reason = SubscriptionInvoiceReason.CREATE
    elif locked.status in RENEWING_STATUSES:
        # The current period's metered usage so far, as the renewal will bill it (at the prices of the plan it has).
        usage = usage_arrears_bill(
            subscription=locked, customer=customer, end=locked.current_period_end, language=language
        )
        pending_change_apply(locked, moment=at)
        period = next_period(
            anchor=locked.billing_cycle_anchor, current=locked.current_period, billing_period=locked.billing_period
        )
        reason = SubscriptionInvoiceReason.CYCLE
    else:
        raise no_upcoming_invoice(locked)
    charge = charge_line(locked, period, language)
    if reason == SubscriptionInvoiceReason.CYCLE and usage_only_nothing_due(locked, usage=usage, charge=charge):
        return UpcomingInvoice(
            date=on, lines=[], subtotal=0, tax=0, total=0, currency=locked.currency, proration=False, issued=False
        )
    lines = [charge, *usage.lines]
    invoice = period_invoice_issue(
        customer=customer, subscription=locked, period=period, lines=lines, reason=reason, moment=at, finalize=False
    )
    return _upcoming_from(invoice, on=on, proration=False)


def _change_invoice(
    locked: Subscription,
    *,
    customer: Customer,
    plan: SubscriptionPlan | None,
    billing_period: str | None,
    quantity: object,
    when: str,
    moment: datetime,
) -> UpcomingInvoice:
    """What the change would issue now (a new subscription with its credit, or seats added), or, for a change that
    waits (a pending change, a trial changed in place), the next invoice after it."""
    if locked.status not in LIVE_STATUSES:
        raise ApplicationError(
            "subscription_not_active", f"Subscription {locked.pk} is {locked.status}.", status_code=409
        )
    request = SubscribeRequest(
        customer_id=customer.pk,
        plan=plan or locked.plan,
        billing_period=billing_period or locked.billing_period,
        payment_method_id=None,
        moment=moment,
        subscription_id=locked.pk,
    )
    routed = subscribe_route(request, when=when, quantity=quantity, finalize=False)
    today = billing_date(moment)
    if isinstance(routed, SubscriptionStart):
        if routed.invoice is not None:
            return _upcoming_from(routed.invoice, on=today, proration=True)
        changed = subscription_lock(subscription_id=locked.pk)
        return _next_invoice(changed, customer=customer_lock(customer.pk), moment=moment)
    checked = subscribe_check(routed)
    started = subscription_start_write(
        customer=checked.customer,
        plan=checked.plan,
        billing_period=checked.billing_period,
        replacing=checked.current,
        moment=moment,
        finalize=False,
        quantity=checked.quantity,
    )
    if started.invoice is None:  # not for a live subscription replaced (a trial is a first subscription's)
        raise no_upcoming_invoice(locked)
    return _upcoming_from(started.invoice, on=today, proration=started.replaced is not None)


def subscription_upcoming(
    *,
    subscription: Subscription,
    plan: SubscriptionPlan | None = None,
    billing_period: str | None = None,
    quantity: object = None,
    when: str = "auto",
    now: datetime | None = None,
    actor: Any = None,
) -> UpcomingInvoice:
    """GET /api/payment/subscriptions/{id}/upcoming: the next invoice as it would be issued (on the next billing
    date: the renewal with a pending change applied and the credit balance used; a trial's first invoice at
    `trial_end`; a pause with a resume date, after the resume). With `plan`, `billing_period` or `quantity`: what
    the change (subscribe with `when`, "auto" by default) would issue now, or, for a change that would wait for the
    period end, the invoice then. A usage-only plan with nothing used so far renews with no invoice: `issued`
    false, no lines, amounts 0.

    Nothing is written: it is the code of subscribe and renew itself, run in a savepoint that is always rolled back,
    its invoices left drafts (no number taken, no email, no job). 409 `no_upcoming_invoice` when there is none
    (canceled, ending at its period end, incomplete, paused with no resume date). `actor` None is the system; a
    customer may read their own, anyone else needs billing.change_subscription.
    """
    moment = now or timezone.now()
    changing = plan is not None or billing_period is not None or quantity is not None
    if billing_period is not None:
        billing_period_validate(billing_period)
    when_validate(when)
    try:
        with transaction.atomic():
            customer = customer_lock(subscription.customer_id)
            owner_or_permission_require(actor=actor, owner=customer)
            locked = subscription_lock(subscription_id=subscription.pk)
            if changing:
                upcoming = _change_invoice(
                    locked,
                    customer=customer,
                    plan=plan,
                    billing_period=billing_period,
                    quantity=quantity,
                    when=when,
                    moment=moment,
                )
            else:
                upcoming = _next_invoice(locked, customer=customer, moment=moment)
            raise _Previewed(upcoming)
    except _Previewed as previewed:
        return previewed.upcoming
