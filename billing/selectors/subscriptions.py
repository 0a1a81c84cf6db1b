"""Reads of subscriptions: a customer's own, newest first, every state."""

from django.db.models import QuerySet

from billing.models import Customer
from billing.models.subscriptions import Subscription

from .common import not_found


def subscription_list(*, customer: Customer | None) -> QuerySet[Subscription]:
    """The customer's subscriptions, newest first; nobody's when the caller has no billing profile."""
    if customer is None:
        return Subscription.objects.none()
    subscriptions = Subscription.objects.filter(customer=customer)
    return subscriptions.select_related("plan").order_by("-created_at", "-id")


def subscription_get(*, customer: Customer | None, subscription_id: int) -> Subscription:
    """One subscription of the customer; another customer's is 404, never 403."""
    subscription = subscription_list(customer=customer).filter(pk=subscription_id).first()
    if subscription is None:
        raise not_found()
    return subscription
