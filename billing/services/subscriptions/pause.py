"""Pause and resume: no service and no invoice while paused; the paid days left carry over to the resume, and the
metered usage of the paused days is never billed."""

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionPause, SubscriptionStatus
from billing.periods import add_months, billing_date, billing_day_start
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..subscription_states import customer_lock, dunning_refresh, subscription_lock, subscription_status_change
from ..usage_invoicing import usage_period_close
from .start import subscription_provider_follow_enqueue
from .usage import usage_final_invoice


def _resume_on_check(resume_on: date | None, *, today: date, by_customer: bool) -> date | None:
    """The scheduled resume day: after today; a customer may pause BILLING_PAUSE_MAX_DAYS at most (staff any time,
    or until resumed). A customer who names no day is resumed at that limit."""
    limit = today + timedelta(days=settings.BILLING_PAUSE_MAX_DAYS)
    if resume_on is None:
        return limit if by_customer else None
    if resume_on <= today:
        raise ApplicationError(
            "invalid_resume_on",
            "The resume date must be after today.",
            status_code=400,
            fields={"resume_on": ["The resume date must be after today."]},
        )
    if by_customer and resume_on > limit:
        message = f"A pause lasts {settings.BILLING_PAUSE_MAX_DAYS} days at most (resume on {limit} at the latest)."
        raise ApplicationError("invalid_resume_on", message, status_code=400, fields={"resume_on": [message]})
    return resume_on


@transaction.atomic
def subscription_pause(
    *, subscription: Subscription, resume_on: date | None, actor: Any = None, now: datetime | None = None
) -> Subscription:
    """Pause an active subscription from today: no service and no invoice until it resumes (on `resume_on`, by
    the renewal run, or when resumed), and the days left of the paid period carry over to the resume.

    The metered usage not billed yet, up to the end of today (Seoul), is invoiced now on an invoice of its own
    (`usage_final_invoice`; none when nothing is billable): the renewal after the resume bills only the days from
    the resume on (`pause_end`), so the days before the pause would otherwise never be billed.

    Only an active subscription pauses (a past-due one pays first: a pause must not stop dunning), and not while
    its renewal is overdue and not yet billed (current_period_end < today: 409 `subscription_not_pausable`).
    `actor` None is the system; a customer may pause their own subscription, anyone else needs
    billing.change_subscription.
    """
    moment = now or timezone.now()
    today = billing_date(moment)
    owner = customer_lock(subscription.customer_id)
    by_customer = actor is not None and getattr(actor, "pk", None) == owner.user_id
    if actor is not None and not by_customer:
        permission_require(actor=actor, permission="billing.change_subscription")
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status == SubscriptionStatus.PAUSED:
        raise ApplicationError("already_paused", f"Subscription {locked.pk} is already paused.", status_code=409)
    if locked.status != SubscriptionStatus.ACTIVE or locked.cancel_at_period_end:
        state = "set to cancel at the end of its period" if locked.cancel_at_period_end else locked.status
        raise ApplicationError(
            "subscription_not_pausable",
            f"Subscription {locked.pk} is {state}; only an active subscription can be paused.",
            status_code=409,
        )
    if locked.current_period_end < today:
        # The renewal run has not billed the period that began on current_period_end, and days of it were served:
        # a pause now would carry nothing and leave them unbilled. Renewed first, the new period pauses as usual.
        # On the boundary day itself nothing was served yet (a pause takes its first day): that pause carries 0.
        raise ApplicationError(
            "subscription_not_pausable",
            f"Subscription {locked.pk}'s renewal is due (since {locked.current_period_end}) and not billed yet; "
            "it can be paused once renewed.",
            status_code=409,
        )
    scheduled = _resume_on_check(resume_on, today=today, by_customer=by_customer)
    usage_final_invoice(locked, customer=owner, end=today + timedelta(days=1), moment=moment)
    SubscriptionPause.objects.create(
        subscription=locked,
        paused_on=today,
        resume_on=scheduled,
        days_carried=max(0, (locked.current_period_end - today).days),
    )
    subscription_status_change(locked, SubscriptionStatus.PAUSED, moment=moment, reason="pause")
    subscription_provider_follow_enqueue(locked)
    return locked


def _anchor_for(boundary: date, *, not_after: date) -> date:
    """An anchor whose periods have a boundary on `boundary` (same day of the month), on or before `not_after`.

    Whole years back keep the day of the month (a 29 February needs a leap year: up to 8 years back)."""
    for years in range(1, 9):
        anchor = add_months(boundary, -12 * years)
        if anchor.day == boundary.day and anchor <= not_after:
            return anchor
    return add_months(boundary, -12)


def pause_end(locked: Subscription, *, customer: Customer, on: date, moment: datetime) -> None:
    """End the open pause of a locked paused subscription on the day `on` (`customer`, the caller's locked row,
    and the subscription locked).

    The carried days come back as the current period [on, on + days_carried), not invoiced again (they were
    paid), and the cycle is re-based so the next period starts (and is invoiced) on on + days_carried. With
    nothing carried the subscription is due on `on` itself: the current period is the one day before it (a
    placeholder that satisfies the period checks, never invoiced) so the renewal bills [on, on + 1 period).
    The paused days are never billed: the pause billed the usage up to its first day's end, and the usage is
    closed here at the start of the resume day, so events of the paused days are refused from now on
    (`period_closed`) and those accepted while paused stay unbilled. `customer` is the caller's row so that its
    `usage_billed_until` says so too (the renewal bills the usage from that mark in the same transaction).
    """
    pause = SubscriptionPause.objects.select_for_update().filter(subscription=locked, resumed_on__isnull=True).first()
    if pause is None:
        # Paused without a pause of ours (the provider reported it): nothing was carried, the period stands, and
        # nothing billed the usage before the pause, whose first day is unknown: no usage is closed.
        start, carried = on, max(0, (locked.current_period_end - on).days)
    else:
        pause.resumed_on = start = max(on, pause.paused_on)
        pause.save(update_fields=["resumed_on"])
        carried = pause.days_carried
        usage_period_close(customer=customer, until=billing_day_start(start))
    if carried:
        period_start, next_boundary = start, start + timedelta(days=carried)
    else:
        period_start, next_boundary = start - timedelta(days=1), start
    locked.billing_cycle_anchor = _anchor_for(next_boundary, not_after=period_start)
    locked.current_period_start, locked.current_period_end = period_start, next_boundary
    locked.save(update_fields=["billing_cycle_anchor", "current_period_start", "current_period_end", "updated_at"])
    subscription_status_change(locked, SubscriptionStatus.ACTIVE, moment=moment, reason="resume")
    subscription_provider_follow_enqueue(locked)
    dunning_refresh(locked, as_of=max(on, billing_date(moment)), moment=moment)


def pause_resume_due(locked: Subscription, *, customer: Customer, as_of: date, moment: datetime) -> bool:
    """Called by subscription_renew (`customer` its locked row, the subscription locked): a pause whose
    `resume_on` has come ends on that day (the subscription resumes with its carried days). True if it did."""
    due = SubscriptionPause.objects.filter(subscription=locked, resumed_on__isnull=True, resume_on__lte=as_of).first()
    if due is None or due.resume_on is None:
        return False
    pause_end(locked, customer=customer, on=due.resume_on, moment=moment)
    return True


def usage_to_today_invoice(locked: Subscription, *, customer: Customer, moment: datetime) -> Invoice | None:
    """As a subscription ends now (customer and subscription locked): its metered usage not billed yet, up to the
    end of today (Seoul), on an invoice of its own (`usage_final_invoice`), and the usage closed there.

    A paused subscription (a pause of ours) bills none: its pause billed the days before it, and every day since is
    a paused day, never billed; the usage is only closed at the end of today."""
    end = billing_date(moment) + timedelta(days=1)
    if locked.status == SubscriptionStatus.PAUSED and locked.pauses.filter(resumed_on__isnull=True).exists():
        usage_period_close(customer=customer, until=billing_day_start(end))
        return None
    return usage_final_invoice(locked, customer=customer, end=end, moment=moment)
