"""Reads of subscriptions: a customer's own, newest first, every state."""

from django.db.models import Prefetch, QuerySet

from billing.models import Customer
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionPause

from .common import not_found


def subscription_list(*, customer: Customer | None) -> QuerySet[Subscription]:
    """The customer's subscriptions, newest first; nobody's when the caller has no billing profile."""
    if customer is None:
        return Subscription.objects.none()
    subscriptions = Subscription.objects.filter(customer=customer)
    # What the API shows of each: its plan, the plan of a pending change and the open pause (`open_pauses`).
    open_pauses = Prefetch(
        "pauses",
        queryset=SubscriptionPause.objects.filter(resumed_on__isnull=True).order_by("-paused_on", "-id"),
        to_attr="open_pauses",
    )
    return (
        subscriptions.select_related("plan", "pending_plan")
        .prefetch_related(open_pauses)
        .order_by("-created_at", "-id")
    )


def subscription_get(*, customer: Customer | None, subscription_id: int) -> Subscription:
    """One subscription of the customer; another customer's is 404, never 403."""
    subscription = subscription_list(customer=customer).filter(pk=subscription_id).first()
    if subscription is None:
        raise not_found()
    return subscription


def live_subscription_id(*, customer: Customer) -> int | None:
    """The id of the customer's live subscription (at most one: a unique index), or None."""
    return (
        Subscription.objects.filter(customer=customer, status__in=sorted(LIVE_STATUSES))
        .values_list("pk", flat=True)
        .first()
    )
