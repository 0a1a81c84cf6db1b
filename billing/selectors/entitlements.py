"""What a customer may use right now (GET /api/payment/entitlements): status, plan, features, limits, until when."""

from datetime import date, datetime
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.utils import timezone

from billing.models import Customer, PlanCharge
from billing.models.subscriptions import LIVE_STATUSES, RENEWING_STATUSES, Subscription, SubscriptionStatus
from billing.periods import billing_date

# Statuses with service: the plan's features and limits apply. A past-due subscription keeps its service while
# dunning runs; a paused one has none (its paid days wait for the resume).
SERVICE_STATUSES: frozenset[str] = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)
# A live subscription that grants something, or at least says why not. An `incomplete` one (a checkout whose
# first invoice is unpaid) grants nothing and is not shown: until it is paid the customer is where they were.
_SHOWN_LIVE: list[str] = sorted(LIVE_STATUSES - {SubscriptionStatus.INCOMPLETE})


def entitlement_subscription(*, customer: Customer | None) -> Subscription | None:
    """The subscription that decides the customer's entitlements, in one query: the live one, else the latest
    canceled one, else None. `metered` says whether its plan charges any usage metric (so a plan without usage
    charges costs no further query for the entitlements' `usage`)."""
    if customer is None:
        return None
    candidates = (
        Subscription.objects.filter(customer=customer, status__in=[*_SHOWN_LIVE, SubscriptionStatus.CANCELED])
        .select_related("plan")
        .annotate(
            rank=Case(When(status__in=_SHOWN_LIVE, then=Value(0)), default=Value(1), output_field=IntegerField()),
            metered=Exists(PlanCharge.objects.filter(plan_id=OuterRef("plan_id"))),
        )
        .order_by("rank", "-created_at", "-id")
    )
    return candidates.first()


def subscription_served(subscription: Subscription | None, *, now: datetime | None = None) -> bool:
    """Whether the subscription gives service now: a service status, unless it renews (active, past due) and its
    period ended before today (Seoul). The renewal run renews a subscription on the day its period ends; one still
    not renewed a day later has its renewal held (usage no invoice can hold:
    billing.services.subscriptions.usage.renewal_hold) or failing, and days never invoiced are not served."""
    if subscription is None or subscription.status not in SERVICE_STATUSES:
        return False
    if subscription.status in RENEWING_STATUSES:
        return subscription.current_period_end >= billing_date(now or timezone.now())
    return True


def _until(subscription: Subscription, *, served: bool) -> date | None:
    if subscription.status == SubscriptionStatus.TRIALING:
        return subscription.trial_end
    if served:
        return subscription.current_period_end
    return None


def entitlements_for(*, customer: Customer | None, language: str) -> dict[str, Any]:
    """The customer's entitlements as the API shows them (features in `language`).

    Without service (none, paused, canceled) the features are empty and the limits 0, so a product that reads only
    the limits never grants an ended plan's; `status` and `plan` still say which plan it was.
    """
    return entitlements_of(subscription=entitlement_subscription(customer=customer), language=language)


def entitlements_of(*, subscription: Subscription | None, language: str) -> dict[str, Any]:
    """The entitlements `subscription` (entitlement_subscription's answer) gives, as entitlements_for shows them."""
    if subscription is None:
        return {
            "status": "none",
            "plan": None,
            "features": [],
            "limits": {"max_projects": 0, "seats": 0},
            "until": None,
            "cancel_at_period_end": False,
        }
    plan = subscription.plan
    served = subscription_served(subscription)
    return {
        "status": subscription.status,
        "plan": {"slug": plan.slug, "name": plan.display_name(language)},
        "features": plan.display_features(language) if served else [],
        "limits": {
            "max_projects": plan.max_projects if served else 0,
            "seats": subscription.quantity if served else 0,
        },
        "until": _until(subscription, served=served),
        "cancel_at_period_end": subscription.cancel_at_period_end and served,
    }
