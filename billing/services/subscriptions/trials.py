"""Free trials: a plan's `trial_days` for a customer's first subscription, the conversion at `trial_end`."""

from datetime import date, datetime

from django.db.models import Q

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    CancellationReason,
    Subscription,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
    TrialClaim,
)
from billing.periods import billing_day_start, first_period

from ..subscription_states import subscription_status_change
from .common import charge_line, period_invoice_issue


def trial_days_for(*, customer: Customer, plan: SubscriptionPlan, replacing: Subscription | None) -> int:
    """The days of free trial a new subscription to `plan` gets (0: none): only a customer with no live subscription
    (a plan change is never a trial) who never had a trial, under this login or under its 사업자등록번호.

    A claim matches by the number it was written with or by its customer's number now: a trial claimed before the
    customer entered its 사업자등록번호 still counts for that number. Read under the customer lock; a claim racing
    from another customer with the same number is refused by the unique index when the trial is written
    (`trial_claim_write`)."""
    if plan.trial_days <= 0 or replacing is not None:
        return 0
    claimed = Q(customer=customer)
    if number := customer.business_registration_number:
        claimed |= Q(business_registration_number=number) | Q(customer__business_registration_number=number)
    return 0 if TrialClaim.objects.filter(claimed).exists() else plan.trial_days


def trial_claim_write(*, customer: Customer, subscription: Subscription) -> TrialClaim:
    """Record the customer's one trial. IntegrityError when its login or 사업자등록번호 already had one (a claim
    that committed after `trial_days_for` read): the caller's savepoint undoes the trial."""
    return TrialClaim.objects.create(
        customer=customer,
        business_registration_number=customer.business_registration_number or "",
        subscription=subscription,
        created_at=subscription.created_at,
    )


def trial_convert_due(locked: Subscription, *, customer: Customer, as_of: date, moment: datetime) -> Invoice | None:
    """Called by subscription_renew with the customer and subscription locked, for a trial whose `trial_end` is on
    or before `as_of`: it becomes active with its first period's invoice (returned), or ends (canceled for the
    period end: None).

    The first period starts on `trial_end` (the new cycle anchor), whenever the run notices; it is invoiced like
    a first subscription invoice (reason create, the credit balance used). Later periods due by `as_of` are left
    to the renewal, which goes on from here.
    """
    trial_end = locked.trial_end
    if locked.status != SubscriptionStatus.TRIALING or trial_end is None or trial_end > as_of:
        return None
    if locked.cancel_at_period_end:
        # The trial was all of it: service stopped at the start of trial_end, nothing ever billed.
        subscription_status_change(
            locked,
            SubscriptionStatus.CANCELED,
            moment=max(billing_day_start(trial_end), locked.canceled_at or moment),
            reason=CancellationReason.REQUESTED,
        )
        return None
    period = first_period(anchor=trial_end, billing_period=locked.billing_period)
    locked.billing_cycle_anchor = trial_end
    locked.current_period_start, locked.current_period_end = period.start, period.end
    locked.save(update_fields=["billing_cycle_anchor", "current_period_start", "current_period_end", "updated_at"])
    lines = [charge_line(locked, period, customer.preferred_language)]
    invoice = period_invoice_issue(
        customer=customer,
        subscription=locked,
        period=period,
        lines=lines,
        reason=SubscriptionInvoiceReason.CREATE,
        moment=moment,
    )
    subscription_status_change(locked, SubscriptionStatus.ACTIVE, moment=moment, reason="trial_end")
    return invoice
