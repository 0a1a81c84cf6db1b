"""The renewal run: every subscription whose period ended is invoiced and advanced, ended or moved along dunning.

`manage.py billing_run_renewals` calls `subscriptions_renew_all`; each subscription is renewed by
billing.services.subscriptions.subscription_renew in its own transaction, so one failure neither stops the
run nor undoes the others, and a second run for the same day finds nothing left to do. A renewal held because its
usage is more than an invoice can hold (billing.services.subscriptions.usage.renewal_hold) is listed with the
failures, every day until staff correct the price or cancel it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from billing.enums import INVOICE_PAYABLE_STATUSES
from billing.models.subscriptions import (
    RENEWING_STATUSES,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPause,
    SubscriptionStatus,
)
from billing_site.errors import ApplicationError

from .subscriptions import RenewalOutcome, subscription_renew

logger = logging.getLogger(__name__)


def subscriptions_to_process(*, as_of: date) -> QuerySet[Subscription]:
    """Every subscription a run for `as_of` may change: its period ended, or its dunning state needs a look."""
    overdue = SubscriptionInvoice.objects.filter(
        subscription__customer_id=OuterRef("customer_id"),
        invoice__status__in=INVOICE_PAYABLE_STATUSES,
        invoice__due_date__lt=as_of,
    )
    resume_due = SubscriptionPause.objects.filter(
        subscription_id=OuterRef("pk"), resumed_on__isnull=True, resume_on__lte=as_of
    )
    return Subscription.objects.filter(
        Q(status__in=RENEWING_STATUSES, current_period_end__lte=as_of)
        | Q(status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.INCOMPLETE])
        | Q(Exists(overdue), status=SubscriptionStatus.ACTIVE)
        | Q(status=SubscriptionStatus.TRIALING, trial_end__lte=as_of)
        | Q(Exists(resume_due), status=SubscriptionStatus.PAUSED)
    ).order_by("id")


@dataclass
class RenewalRunSummary:
    """Counts per action (renewed, ended, past_due, reactivated, activated, expired, resumed, trial_converted,
    plan_changed, held, nothing_due) and failures (with the renewals held: usage no invoice can hold)."""

    as_of: date
    processed: int = 0
    invoices: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return self.actions.get(action, 0)


def subscriptions_renew_all(
    *,
    as_of: date,
    now: datetime | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[RenewalOutcome | None], None] | None = None,
) -> RenewalRunSummary:
    """Renew every subscription due as of `as_of` (an Asia/Seoul day), one transaction each.

    `on_start(total)` and `on_progress(outcome or None on failure)` let a caller draw a progress bar.
    """
    summary = RenewalRunSummary(as_of=as_of)
    subscriptions = list(subscriptions_to_process(as_of=as_of))
    if on_start is not None:
        on_start(len(subscriptions))
    for subscription in subscriptions:
        outcome: RenewalOutcome | None = None
        try:
            outcome = subscription_renew(subscription=subscription, as_of=as_of, now=now)
        except ApplicationError as error:
            summary.failures.append((subscription.pk, f"{error.code}: {error.message}"))
        except Exception as error:  # one broken subscription must not stop everyone else's renewal
            logger.exception("renewal of subscription %s failed", subscription.pk)
            summary.failures.append((subscription.pk, f"{type(error).__name__}: {error}"))
        else:
            summary.processed += 1
            summary.invoices += len(outcome.invoices)
            for action in outcome.actions:
                summary.actions[action] = summary.actions.get(action, 0) + 1
            if outcome.held:
                # Held, not failed (its hold is written), but staff must act: reported with the failures.
                summary.failures.append((subscription.pk, outcome.held))
        if on_progress is not None:
            on_progress(outcome)
    return summary
