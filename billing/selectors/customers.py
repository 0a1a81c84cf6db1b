"""Reads of billing profiles: the caller's own, or any one by id for staff."""

from typing import Any

from billing.models import Customer

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
