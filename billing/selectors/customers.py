"""Reads of billing profiles: the caller's own, or any one by id for staff; whether a customer's currency is fixed."""

from typing import Any

from billing.models import Customer, CustomerBalanceEntry, Invoice
from billing.models.subscriptions import Subscription

from .common import not_found


def customer_for_user(*, user: Any) -> Customer | None:
    """The user's billing profile if one exists (reads never create it)."""
    # pk None: not a stored user (an API key's principal, billing.api.authentication), so never a customer.
    if user is None or not user.is_authenticated or getattr(user, "pk", None) is None:
        return None
    return Customer.objects.filter(user=user).first()


def customer_get(*, customer_id: int) -> Customer:
    """Any customer by id (the caller has checked billing.view_customer); unknown is 404."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise not_found()
    return customer


def customer_currency_fixed(*, customer: Customer) -> bool:
    """Whether the customer's currency can no longer change: once it has a subscription (any status), an invoice or
    a credit balance entry, everything of the customer is in that currency (issue 17). Before, it is chosen at the
    first subscribe or by staff."""
    customer_id = customer.pk
    return (
        Subscription.objects.filter(customer_id=customer_id).exists()
        or Invoice.objects.filter(customer_id=customer_id).exists()
        or CustomerBalanceEntry.objects.filter(customer_id=customer_id).exists()
    )
