"""Cancel, resume and renew: a subscription ends, takes a cancel back, leaves a pause or moves to its next period."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice
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
from ..usage_invoicing import usage_arrears_bill
from .changes import pending_change_apply
from .common import charge_line, period_invoice_issue
from .pause import pause_end, pause_resume_due
from .start import subscription_provider_follow_enqueue
from .trials import trial_convert_due
from .usage import usage_final_invoice


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
        usage_final_invoice(locked, customer=owner, end=billing_date(moment) + timedelta(days=1), moment=moment)
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
        pause_end(locked, on=billing_date(moment), moment=moment)
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
    # What else the run did, in order, for reports: "resumed", "trial_converted", "plan_changed".
    events: list[str] = field(default_factory=list)

    @property
    def status_after(self) -> str:
        return self.subscription.status

    @property
    def actions(self) -> tuple[str, ...]:
        """What happened, for reports: renewed / ended, then a status change (past_due, reactivated, ...)."""
        found = list(self.events)
        converted = "trial_converted" in self.events
        if len(self.invoices) > converted:  # a trial's first invoice is not a renewal
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
    a plan priced 0 bills only that usage, and a renewal with nothing billable is a zero invoice, paid at once, as
    for any free plan); one set to cancel at period end ends at that boundary instead, its last period's usage on
    an invoice of its own; then active/past_due/incomplete follow its invoices. Running it again for the same day
    does nothing.
    `actor` None is the system (the renewal run); a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    moment = now or timezone.now()
    customer = customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    outcome = RenewalOutcome(subscription=locked, status_before=locked.status)
    if locked.status == SubscriptionStatus.PAUSED and pause_resume_due(locked, as_of=as_of, moment=moment):
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
                # The ended period's metered usage (in arrears, at the prices of the plan it had: before a pending
                # change applies) joins the invoice of the next period.
                usage = usage_arrears_bill(
                    subscription=locked,
                    customer=customer,
                    end=locked.current_period_end,
                    language=customer.preferred_language,
                )
                if pending_change_apply(locked, moment=moment):
                    outcome.events.append("plan_changed")
                period = next_period(
                    anchor=locked.billing_cycle_anchor,
                    current=locked.current_period,
                    billing_period=locked.billing_period,
                )
                lines = [charge_line(locked, period, customer.preferred_language), *usage.lines]
                outcome.invoices.append(
                    period_invoice_issue(
                        customer=customer,
                        subscription=locked,
                        period=period,
                        lines=lines,
                        reason=SubscriptionInvoiceReason.CYCLE,
                        moment=moment,
                    )
                )
                locked.current_period_start, locked.current_period_end = period.start, period.end
                locked.save(
                    update_fields=["billing_cycle_anchor", "current_period_start", "current_period_end", "updated_at"]
                )
    dunning_refresh(locked, as_of=as_of, moment=moment)
    return outcome
