"""Cancel, resume and renew: a subscription ends, takes a cancel back, leaves a pause or moves to its next period."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.subscriptions import (
    RENEWING_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
)
from billing.periods import billing_date, billing_day_start, next_period
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..subscription_emails import subscription_canceled_email_queue
from ..subscription_states import (
    customer_lock,
    dunning_refresh,
    subscription_lock,
    subscription_status_change,
    unpaid_invoices_void,
)
from ..usage_invoicing import USAGE_TOO_LARGE, usage_arrears_bill
from .changes import pending_change_apply
from .common import charge_line, period_invoice_issue
from .pause import pause_end, pause_resume_due, usage_to_today_invoice
from .start import subscription_provider_follow_enqueue
from .trials import trial_convert_due
from .usage import renewal_hold, usage_final_invoice, usage_only_nothing_due, usage_too_large_for_invoice


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, immediately: bool = False, now: datetime | None = None, actor: Any = None
) -> Subscription:
    """Cancel at the end of the period (service continues until then) or, with `immediately`, now.

    Idempotent: canceling a canceled subscription returns it unchanged. An incomplete subscription (never
    paid) ends at once and its invoice is voided. Canceling now credits nothing, as Stripe does by default, and
    invoices the metered usage not billed yet up to the end of today (Seoul; `usage_final_invoice`). A trial
    bills nothing either way: at period end it ends on `trial_end` instead of converting (`trial_convert_due`).
    A paused subscription ends now either way: its service stopped with the pause and it has no period end to
    wait for (the carried paid days are not credited, as canceling now credits nothing).
    `actor` None is the system; a customer may cancel their own subscription, anyone else needs
    billing.change_subscription.
    """
    moment = now or timezone.now()
    owner = customer_lock(subscription.customer_id)
    if actor is not None and getattr(actor, "pk", None) != owner.user_id:
        permission_require(actor=actor, permission="billing.change_subscription")
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status == SubscriptionStatus.CANCELED:
        return locked
    if locked.status == SubscriptionStatus.INCOMPLETE:
        unpaid_invoices_void(locked)
        subscription_status_change(
            locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REQUESTED
        )
    elif immediately or locked.status == SubscriptionStatus.PAUSED:
        # A paused subscription's service has already stopped, and the renewal never reaches an open-ended pause's
        # period end: canceled at period end, it ends now.
        # Metered usage is billed in whole days: up to the end of today, on an invoice of its own.
        # A paused one bills none: its pause billed the days before it and the paused days are never billed.
        usage_to_today_invoice(locked, customer=owner, moment=moment)
        subscription_status_change(
            locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REQUESTED
        )
    elif not locked.cancel_at_period_end:
        locked.cancel_at_period_end = True
        locked.canceled_at = moment
        locked.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
        subscription_canceled_email_queue(subscription=locked)
    # The same at the provider, by a job once this commits (never while these rows are locked; a no-op if it did).
    subscription_provider_follow_enqueue(locked)
    return locked


@transaction.atomic
def subscription_resume(*, subscription: Subscription, actor: Any = None, now: datetime | None = None) -> Subscription:
    """Undo a cancellation set for the end of the period (service simply goes on and renews), or resume a paused
    subscription from today (`pause_end`: its carried days first).

    Nothing of that kind to undo: 409 `nothing_to_resume` (so resuming twice answers 409 the second time); an ended
    subscription cannot come back: 409 `subscription_ended` (subscribe again). `actor` None is the system; a
    customer may resume their own subscription, anyone else needs billing.change_subscription.
    """
    moment = now or timezone.now()
    owner = customer_lock(subscription.customer_id)
    if actor is not None and getattr(actor, "pk", None) != owner.user_id:
        permission_require(actor=actor, permission="billing.change_subscription")
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status == SubscriptionStatus.CANCELED:
        raise ApplicationError(
            "subscription_ended",
            f"Subscription {locked.pk} has ended; subscribe again to start a new one.",
            status_code=409,
        )
    if locked.status == SubscriptionStatus.PAUSED:
        pause_end(locked, customer=owner, on=billing_date(moment), moment=moment)
    elif locked.cancel_at_period_end:
        locked.cancel_at_period_end = False
        locked.canceled_at = None
        locked.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
    else:
        raise ApplicationError(
            "nothing_to_resume",
            f"Subscription {locked.pk} is {locked.status} and not set to cancel: there is nothing to resume.",
            status_code=409,
        )
    # The provider's copy follows (a job after commit, one per saved revision).
    subscription_provider_follow_enqueue(locked)
    return locked


@dataclass
class RenewalOutcome:
    """What renewing one subscription did."""

    subscription: Subscription
    status_before: str
    invoices: list[Invoice] = field(default_factory=list)
    ended: bool = False
    # What else the run did, in order, for reports: "resumed", "trial_converted", "plan_changed", "held".
    events: list[str] = field(default_factory=list)
    # Periods advanced (a usage-only plan with nothing used advances with no invoice).
    renewed: int = 0
    # Why the renewal was held (`renewal_hold`: usage no invoice can hold), "" when it was not.
    held: str = ""

    @property
    def status_after(self) -> str:
        return self.subscription.status

    @property
    def actions(self) -> tuple[str, ...]:
        """What happened, for reports: renewed / ended, then a status change (past_due, reactivated, ...)."""
        found = list(self.events)
        converted = "trial_converted" in self.events
        if self.renewed:  # a trial's first invoice is not a renewal
            found.append("renewed")
        if self.ended:
            found.append("ended")
        elif converted and self.status_after == SubscriptionStatus.ACTIVE:
            pass  # trialing -> active is the conversion itself
        elif self.status_before != self.status_after:
            if self.status_after == SubscriptionStatus.CANCELED:
                found.append("expired")
            elif self.status_after == SubscriptionStatus.PAST_DUE:
                found.append("past_due")
            elif self.status_before == SubscriptionStatus.INCOMPLETE:
                found.append("activated")
            else:
                found.append("reactivated")
        return tuple(found) or ("nothing_due",)

    @property
    def action(self) -> str:
        """The main thing that happened (the first of `actions`)."""
        return self.actions[0]


@transaction.atomic
def subscription_renew(
    *, subscription: Subscription, as_of: date, now: datetime | None = None, actor: Any = None
) -> RenewalOutcome:
    """Bring one subscription up to date as of the Asia/Seoul day `as_of` (the renewal run; staff, one at a time).

    Each period that has ended by `as_of` is invoiced and the subscription advanced (one invoice per
    period, also when runs were missed), with the metered usage of the period that ended (`usage_arrears_bill`;
    a plan priced 0 bills only that usage: a usage-only plan with nothing billable advances with no invoice,
    `usage_only_nothing_due`, while a free plan without charges gets a zero invoice, paid at once); one set to
    cancel at period end ends at that boundary instead, its last period's usage on an invoice of its own; then
    active/past_due/incomplete follow its invoices. Running it again for the same day does nothing.
    Usage no invoice can hold (`usage_amount_too_large`) holds the renewal instead of failing it (`renewal_hold`:
    that period is not invoiced nor advanced, the subscription is past due without service, `outcome.held` says
    why); the periods before it are renewed.
    `actor` None is the system (the renewal run); a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    moment = now or timezone.now()
    customer = customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    outcome = RenewalOutcome(subscription=locked, status_before=locked.status)
    if locked.status == SubscriptionStatus.PAUSED and pause_resume_due(
        locked, customer=customer, as_of=as_of, moment=moment
    ):
        outcome.events.append("resumed")
    if locked.status == SubscriptionStatus.TRIALING and locked.trial_end is not None and locked.trial_end <= as_of:
        # trial_end is a boundary: a change scheduled during the trial shapes the first invoice.
        if not locked.cancel_at_period_end and pending_change_apply(locked, moment=moment):
            outcome.events.append("plan_changed")
        first = trial_convert_due(locked, customer=customer, as_of=as_of, moment=moment)
        if first is not None:
            outcome.invoices.append(first)
            outcome.events.append("trial_converted")
        outcome.ended = locked.status == SubscriptionStatus.CANCELED
    if locked.status in RENEWING_STATUSES and locked.current_period_end <= as_of:
        if locked.cancel_at_period_end:
            # The last period's metered usage, in arrears, on an invoice of its own (no period follows to carry it).
            if usage_final_invoice(locked, customer=customer, end=locked.current_period_end, moment=moment):
                outcome.events.append("usage_invoiced")
            # Service stopped at the boundary, whenever the run noticed.
            subscription_status_change(
                locked,
                SubscriptionStatus.CANCELED,
                moment=max(billing_day_start(locked.current_period_end), locked.canceled_at or moment),
                reason=CancellationReason.REQUESTED,
            )
            outcome.ended = True
        else:
            while locked.current_period_end <= as_of:
                try:
                    with transaction.atomic():  # a savepoint: a held renewal leaves nothing of that period
                        invoice, changed = _period_renew(locked, customer=customer, moment=moment)
                except ApplicationError as error:
                    if error.code != USAGE_TOO_LARGE:
                        raise
                    locked.refresh_from_db()  # the savepoint's changes (a pending change) are undone in the rows
                    customer.refresh_from_db()
                    outcome.events.append("held")
                    outcome.held = renewal_hold(locked, error=error, moment=moment)
                    # No dunning refresh: with nothing overdue it would make the held subscription active again.
                    return outcome
                if changed:
                    outcome.events.append("plan_changed")
                if invoice is not None:
                    outcome.invoices.append(invoice)
                outcome.renewed += 1
    dunning_refresh(locked, as_of=as_of, moment=moment)
    return outcome


def _period_renew(locked: Subscription, *, customer: Customer, moment: datetime) -> tuple[Invoice | None, bool]:
    """Invoice the period after the one that ended and advance to it (customer and subscription locked): its
    invoice (None for a usage-only plan with nothing billable) and whether a pending change applied.

    The ended period's metered usage (in arrears, at the prices of the plan it had: before a pending change
    applies) joins the invoice of the next period. Usage no invoice can hold raises `usage_amount_too_large`."""
    usage = usage_arrears_bill(
        subscription=locked, customer=customer, end=locked.current_period_end, language=customer.preferred_language
    )
    changed = pending_change_apply(locked, moment=moment)
    period = next_period(
        anchor=locked.billing_cycle_anchor, current=locked.current_period, billing_period=locked.billing_period
    )
    charge = charge_line(locked, period, customer.preferred_language)
    invoice = None
    if not usage_only_nothing_due(locked, usage=usage, charge=charge):
        try:
            invoice = period_invoice_issue(
                customer=customer,
                subscription=locked,
                period=period,
                lines=[charge, *usage.lines],
                reason=SubscriptionInvoiceReason.CYCLE,
                moment=moment,
            )
        except ApplicationError as error:
            too_large = usage_too_large_for_invoice(error, usage=usage)
            if too_large is None:
                raise
            raise too_large from error
    locked.current_period_start, locked.current_period_end = period.start, period.end
    locked.save(update_fields=["billing_cycle_anchor", "current_period_start", "current_period_end", "updated_at"])
    return invoice, changed
