"""Subscription emails: what a renewal (a trial's end) will charge, the daily notices, canceled and ended emails.

Services queue by kind name (billing.enums.EmailKind); the renderers in billing.emails.subscriptions read the
subscription at send time. Each email is one `billing_site.mail` row per (subscription, kind, occurrence,
recipient), so a repeated run, a second call or a concurrent one sends nothing more.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from billing.enums import EmailKind
from billing.models import Customer
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    RENEWING_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionStatus,
)
from billing.periods import ServicePeriod, first_period, next_period
from billing.selectors.plans import plan_price_in
from billing.tax import vat_on
from billing_site.errors import ApplicationError
from billing_site.mail.models import Email
from billing_site.mail.services import email_queue

from .coupons import discount_expected

logger = logging.getLogger(__name__)

SUBSCRIPTION_OBJECT = "billing.subscription"


@dataclass(frozen=True)
class RenewalCharge:
    """What the next renewal of a subscription will invoice, as the renewal computes it (before any credit)."""

    period: ServicePeriod
    currency: str
    supply_amount: int
    vat: int
    total: int
    # The customer's credit balance will be used against it: the invoice will ask for less than `total`.
    credit_applies: bool
    # What is billed: the pending change's plan and billing period when one takes effect at the boundary.
    plan: SubscriptionPlan
    billing_period: str


@dataclass(frozen=True)
class NextTerms:
    """What a subscription is from its next boundary on: its pending change applied (pending_change_apply)."""

    plan: SubscriptionPlan
    billing_period: str
    price_amount: int
    currency: str
    anchor: date  # the cycle anchor: the boundary itself when the billing period switches


def next_terms(subscription: Subscription) -> NextTerms:
    """The plan, billing period, price and anchor the next period is billed with, as pending_change_apply will
    set them at `current_period_end` (the plan's price as of now, times the pending seats)."""
    plan, period = subscription.pending_plan, subscription.pending_billing_period
    price = None
    if plan is not None:
        try:  # in the subscription's currency; a plan no longer sold in it: the renewal drops the change
            price = plan_price_in(plan=plan, currency=subscription.currency, for_sale=False)
        except ApplicationError:
            price = None
    if plan is None or price is None or subscription.pending_quantity is None or not period:
        return NextTerms(
            plan=subscription.plan,
            billing_period=subscription.billing_period,
            price_amount=subscription.price_amount,
            currency=subscription.currency,
            anchor=subscription.billing_cycle_anchor,
        )
    switched = period != subscription.billing_period
    return NextTerms(
        plan=plan,
        billing_period=period,
        price_amount=price.price_for(period) * subscription.pending_quantity,
        currency=subscription.currency,
        anchor=subscription.current_period_end if switched else subscription.billing_cycle_anchor,
    )


def _charge(
    *, terms: NextTerms, period: ServicePeriod, customer: Customer, subscription: Subscription
) -> RenewalCharge:
    # The coupons' discount (에누리) is off the supply amount, as the invoice will take it.
    supply = terms.price_amount - discount_expected(
        subscription=subscription,
        plan_id=terms.plan.pk,
        billing_period=terms.billing_period,
        currency=terms.currency,
        charges=terms.price_amount,
        on=period.start,
    )
    # The VAT the invoice will carry: the rate of the day it is issued (the period's first day), not today's.
    vat = vat_on(supply_amount=supply, tax_treatment=customer.tax_treatment, day=period.start)
    return RenewalCharge(
        period=period,
        currency=terms.currency,
        supply_amount=supply,
        vat=vat,
        total=supply + vat,
        credit_applies=(customer.currency == terms.currency and customer.credit_balance > 0 and supply > 0),
        plan=terms.plan,
        billing_period=terms.billing_period,
    )


def renewal_charge(*, subscription: Subscription, customer: Customer) -> RenewalCharge:
    """The invoice of the next period, computed without writing: the renewal's one line (charge_line: the
    subscription's price_amount, or the pending change's price and period, applied first at the boundary), less
    the coupons' discount (`discount_expected`), and VAT on it under the customer's tax treatment at the rate of the
    period's first day (invoice totals: VAT of the subtotal). The credit balance, if any, is only flagged: it may
    change before the renewal day."""
    terms = next_terms(subscription)
    period = next_period(anchor=terms.anchor, current=subscription.current_period, billing_period=terms.billing_period)
    return _charge(terms=terms, period=period, customer=customer, subscription=subscription)


def trial_first_charge(*, subscription: Subscription, customer: Customer) -> RenewalCharge:
    """The first invoice of a trial, issued on `trial_end` (billing.services.subscriptions.trials): its first period
    from `trial_end`, the subscription's price_amount (a pending change applied first, as the renewal does) and VAT
    on it, the credit balance only flagged (as `renewal_charge`)."""
    if subscription.trial_end is None:
        raise ValueError(f"Subscription {subscription.pk} has no trial.")
    terms = next_terms(subscription)
    period = first_period(anchor=subscription.trial_end, billing_period=terms.billing_period)
    return _charge(terms=terms, period=period, customer=customer, subscription=subscription)


def trial_notice_expected(subscription: Subscription) -> bool:
    """Whether a trial will turn into a paid subscription at its end (and so gets the trial-ending email)."""
    return (
        subscription.status == SubscriptionStatus.TRIALING
        and subscription.trial_end is not None
        and not subscription.cancel_at_period_end
    )


def renewal_notice_expected(subscription: Subscription) -> bool:
    """Whether a subscription will renew at the end of its current period (and so gets a notice)."""
    return subscription.status in RENEWING_STATUSES and not subscription.cancel_at_period_end


def _customer_email_queue(
    *, subscription: Subscription, kind: str, occurrence: str, context: dict[str, str] | None = None
) -> Email | None:
    customer = subscription.customer
    return email_queue(
        kind=kind,
        object_type=SUBSCRIPTION_OBJECT,
        object_id=subscription.pk,
        to=customer.email,
        cc=getattr(customer, "cc_emails", None) or [],
        user=customer.user,
        language=customer.preferred_language,
        occurrence=occurrence,
        context=context,
    )


def renewal_notices_due(*, as_of: date, days: int) -> QuerySet[Subscription]:
    """Subscriptions that renew between the day after `as_of` and `as_of + days` (Asia/Seoul days) and have no
    notice for that renewal yet.

    The whole window, not only its last day: a day the run missed is caught up with the days left. A renewal on
    `as_of` itself or earlier is never announced (the renewal run invoices it today: a notice would arrive after
    the invoice); a renewal tomorrow that was never announced still is, a day ahead.
    """
    window = [(as_of + timedelta(days=offset)).isoformat() for offset in range(1, days + 1)]
    notified = Email.objects.filter(
        kind=EmailKind.RENEWAL_UPCOMING, object_type=SUBSCRIPTION_OBJECT, occurrence__in=window
    ).values_list("object_id", "occurrence")
    already = {(object_id, occurrence) for object_id, occurrence in notified.iterator()}
    candidates = (
        Subscription.objects.filter(
            status__in=RENEWING_STATUSES,
            cancel_at_period_end=False,
            current_period_end__gt=as_of,
            current_period_end__lte=as_of + timedelta(days=days),
        )
        .select_related("customer", "customer__user", "plan")
        .order_by("current_period_end", "id")
    )
    keep = [
        subscription.pk
        for subscription in candidates
        if (str(subscription.pk), subscription.current_period_end.isoformat()) not in already
    ]
    return candidates.filter(pk__in=keep)


def trial_ending_notices_due(*, as_of: date, days: int) -> QuerySet[Subscription]:
    """Trials that end between the day after `as_of` and `as_of + days` (Asia/Seoul days) and have no trial-ending
    email yet; the whole window, like `renewal_notices_due` (a missed run is caught up, never on trial_end)."""
    window = [(as_of + timedelta(days=offset)).isoformat() for offset in range(1, days + 1)]
    notified = Email.objects.filter(
        kind=EmailKind.TRIAL_ENDING, object_type=SUBSCRIPTION_OBJECT, occurrence__in=window
    ).values_list("object_id", "occurrence")
    already = {(object_id, occurrence) for object_id, occurrence in notified.iterator()}
    candidates = (
        Subscription.objects.filter(
            status=SubscriptionStatus.TRIALING,
            cancel_at_period_end=False,
            trial_end__gt=as_of,
            trial_end__lte=as_of + timedelta(days=days),
        )
        .select_related("customer", "customer__user", "plan")
        .order_by("trial_end", "id")
    )
    keep = [
        subscription.pk
        for subscription in candidates
        if subscription.trial_end is not None
        and (str(subscription.pk), subscription.trial_end.isoformat()) not in already
    ]
    return candidates.filter(pk__in=keep)


def _notices_queue(
    *, kind: str, candidates: QuerySet[Subscription], as_of: date, ends: Callable[[Subscription], date | None]
) -> int:
    """Queue one notice of `kind` per candidate whose `ends` day (the occurrence) is still after `as_of`.

    Each in its own transaction, re-checked under the subscription's lock: one failure does not stop the others,
    and a cancellation at period end that commits meanwhile is seen.
    """
    expected = trial_notice_expected if kind == EmailKind.TRIAL_ENDING else renewal_notice_expected
    queued = 0
    for candidate in candidates:
        try:
            with transaction.atomic():
                subscription = (
                    Subscription.objects.select_for_update(of=("self",))
                    .select_related("customer", "customer__user")
                    .get(pk=candidate.pk)
                )
                day = ends(subscription)
                if not expected(subscription) or day is None or day <= as_of:
                    continue
                occurrence = day.isoformat()
                # Read after the lock: a concurrent run that queued this notice has committed it by now.
                if Email.objects.filter(
                    kind=kind, object_type=SUBSCRIPTION_OBJECT, object_id=str(subscription.pk), occurrence=occurrence
                ).exists():
                    continue
                email = _customer_email_queue(subscription=subscription, kind=kind, occurrence=occurrence)
                queued += email is not None
        except Exception:  # one broken subscription must not stop everyone else's notice
            logger.exception("%s notice of subscription %s failed", kind, candidate.pk)
    return queued


def renewal_notices_queue(
    *, as_of: date, days: int | None = None, trial_days: int | None = None, customer_id: int | None = None
) -> int:
    """The daily notices after the Asia/Seoul day `as_of`: the renewal notice of every subscription renewing within
    `days` (settings.BILLING_RENEWAL_NOTICE_DAYS), and the trial-ending email of every trial ending within
    `trial_days` (settings.BILLING_TRIAL_ENDING_NOTICE_DAYS); 0 turns either off. Returns how many were queued.

    Each notice once per renewal (per trial) and recipient: a second run, or a concurrent one, queues nothing more.
    `customer_id` limits the run to one customer (billing.services.simulation locks no one else's rows).
    """
    scope = {} if customer_id is None else {"customer_id": customer_id}
    days = settings.BILLING_RENEWAL_NOTICE_DAYS if days is None else days
    trial_days = settings.BILLING_TRIAL_ENDING_NOTICE_DAYS if trial_days is None else trial_days
    queued = 0
    if days > 0:
        queued += _notices_queue(
            kind=EmailKind.RENEWAL_UPCOMING,
            candidates=renewal_notices_due(as_of=as_of, days=days).filter(**scope),
            as_of=as_of,
            ends=lambda subscription: subscription.current_period_end,
        )
    if trial_days > 0:
        queued += _notices_queue(
            kind=EmailKind.TRIAL_ENDING,
            candidates=trial_ending_notices_due(as_of=as_of, days=trial_days).filter(**scope),
            as_of=as_of,
            ends=lambda subscription: subscription.trial_end,
        )
    return queued


def cancellation_occurrence(subscription: Subscription) -> str:
    """The occurrence of a "canceled" email: when the cancellation was asked, in UTC (the same text whether the
    moment came from a caller in Seoul or back from the database)."""
    if subscription.canceled_at is None:
        return ""
    return subscription.canceled_at.astimezone(UTC).isoformat()


def subscription_canceled_email_queue(*, subscription: Subscription) -> Email | None:
    """The "your subscription will end at the end of its period" email: queued when a cancellation at period end is
    asked for (one per request: the occurrence is when it was asked)."""
    if subscription.canceled_at is None:
        raise ValueError(f"Subscription {subscription.pk} has no cancellation to announce.")
    return _customer_email_queue(
        subscription=subscription,
        kind=EmailKind.SUBSCRIPTION_CANCELED,
        occurrence=cancellation_occurrence(subscription),
    )


def subscription_ended_email_queue(*, subscription: Subscription, status_before: str) -> Email | None:
    """The "your subscription has ended" email, once per subscription, whatever ended it; none for one that never
    started (incomplete: never paid) or one replaced by a plan change (the customer's service goes on)."""
    if subscription.status != SubscriptionStatus.CANCELED:
        return None
    if (
        status_before == SubscriptionStatus.INCOMPLETE
        or subscription.cancellation_reason == CancellationReason.REPLACED
    ):
        return None
    return _customer_email_queue(
        subscription=subscription,
        kind=EmailKind.SUBSCRIPTION_ENDED,
        occurrence="",
        context={"reason": subscription.cancellation_reason, "status_before": status_before},
    )
