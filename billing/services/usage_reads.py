"""A customer's usage in the current period, priced: what GET /api/usage, the entitlements and the usage alerts show.

A service, not a selector, only because the projected amounts come from the pricing service (charge_compute), and
reads may not import services (import-linter layers); it writes nothing.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from billing.enums import Language
from billing.models import BillableMetric, Customer, PlanCharge, Subscription
from billing.selectors.entitlements import entitlement_subscription, entitlements_of, subscription_served
from billing.selectors.usage import (
    METERED_STATUSES,
    plan_charges,
    usage_quantities,
    usage_subscription,
    usage_subscription_of,
    usage_window_so_far,
)
from billing_site.errors import ApplicationError

from .usage_pricing import charge_compute


@dataclass(frozen=True)
class UsageSummary:
    """One charged metric of the current period: the quantity so far, what the plan includes, what is billable,
    and what it would cost if the period ended now (None: more than an invoice can hold)."""

    metric: BillableMetric
    charge: PlanCharge
    code: str
    name: str
    unit: str
    quantity: int
    included: int
    billable: int
    projected_amount: int | None
    currency: str
    period_start: date
    # The day after the period (excluded), as the subscription's current_period_end.
    period_end: date


@dataclass(frozen=True)
class UsageReport:
    """The current period of the subscription that prices usage, and its charged metrics; all empty without one."""

    subscription: Subscription | None
    period_start: date | None
    period_end: date | None
    currency: str | None
    metrics: list[UsageSummary]


def _summary(*, charge: PlanCharge, quantity: int, subscription: Subscription, language: str) -> UsageSummary:
    metric = charge.metric
    billable = max(0, quantity - charge.included_quantity)
    projected: int | None
    try:
        projected = charge_compute(charge=charge, quantity=quantity).amount
    except ApplicationError as error:
        # A read must not fail because usage ran past what one invoice can hold; the invoicing will refuse it.
        if error.code != "usage_amount_too_large":
            raise
        projected = None
    return UsageSummary(
        metric=metric,
        charge=charge,
        code=metric.code,
        name=metric.display_name(language),
        unit=metric.display_unit(language),
        quantity=quantity,
        included=charge.included_quantity,
        billable=billable,
        projected_amount=projected,
        currency=subscription.currency,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )


def usage_report_of(
    *, subscription: Subscription | None, language: str = Language.KOREAN, now: datetime | None = None
) -> UsageReport:
    """The usage `subscription` prices (usage_subscription's or entitlement_subscription's answer): each metric its
    plan charges, over the current period's usage window up to the end of today (Asia/Seoul), from the rollups;
    names and units in `language`. None, or a subscription that prices no usage (canceled): an empty report.

    A plan without charges costs no query (the `metered` annotation says so); one with charges costs one for
    them and at most three for the quantities, whatever the volume of events."""
    if subscription is None or subscription.status not in METERED_STATUSES:
        return UsageReport(subscription=None, period_start=None, period_end=None, currency=None, metrics=[])
    metrics: list[UsageSummary] = []
    metered = getattr(subscription, "metered", True)
    charges = plan_charges(plan_id=subscription.plan_id, currency=subscription.currency) if metered else []
    if charges:
        start, end = usage_window_so_far(subscription.current_period, now=now or timezone.now())
        quantities = usage_quantities(
            customer_id=subscription.customer_id, metrics=[charge.metric for charge in charges], start=start, end=end
        )
        metrics = [
            _summary(charge=charge, quantity=quantities[charge.metric_id], subscription=subscription, language=language)
            for charge in charges
        ]
    return UsageReport(
        subscription=subscription,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        currency=subscription.currency,
        metrics=metrics,
    )


def usage_report(
    *, customer: Customer | None, language: str = Language.KOREAN, now: datetime | None = None
) -> UsageReport:
    """The customer's current usage (usage_report_of their live subscription, not an unpaid checkout); no
    subscription or no billing profile: no period and no metrics."""
    return usage_report_of(subscription=usage_subscription(customer=customer), language=language, now=now)


def usage_report_for(
    *, customer_id: int | None = None, user_id: int | None = None, language: str = Language.KOREAN
) -> UsageReport:
    """usage_report of the customer with this id, or of this user's customer (none: an empty report), with no
    read of the customer itself: what GET /api/usage answers."""
    return usage_report_of(
        subscription=usage_subscription_of(customer_id=customer_id, user_id=user_id), language=language
    )


def usage_current(
    *, customer: Customer | None, language: str = Language.KOREAN, now: datetime | None = None
) -> list[UsageSummary]:
    """The charged metrics of `usage_report`: one summary per charge of the live subscription's plan."""
    return usage_report(customer=customer, language=language, now=now).metrics


def entitlements_with_usage(*, customer: Customer | None, language: str, now: datetime | None = None) -> dict[str, Any]:
    """The entitlements (billing.selectors.entitlements) plus `usage`: the current usage of the subscription that
    decides them, read with no second look-up of the subscription. Empty without service (paused, canceled, none),
    like the features and limits; GET /api/usage still shows a paused subscription's."""
    subscription = entitlement_subscription(customer=customer)
    body = entitlements_of(subscription=subscription, language=language)
    served = subscription if subscription_served(subscription, now=now) else None
    body["usage"] = usage_report_of(subscription=served, language=language, now=now).metrics
    return body
