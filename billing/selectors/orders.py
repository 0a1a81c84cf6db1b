"""Reads of orders: a customer's own, newest first, and any order for staff."""

from django.db.models import QuerySet

from billing.models import Customer, Order

from .common import not_found


def order_list(*, customer: Customer | None) -> QuerySet[Order]:
    """The customer's orders with their items, newest first; nobody's without a billing profile."""
    if customer is None:
        return Order.objects.none()
    orders = Order.objects.filter(customer=customer)
    return orders.order_by("-created_at", "-id").prefetch_related("items")


def order_get(*, customer: Customer | None, order_id: int) -> Order:
    """One order of the customer; another customer's is 404, never 403."""
    order = order_list(customer=customer).filter(pk=order_id).first()
    if order is None:
        raise not_found()
    return order


def order_get_for_staff(*, order_id: int) -> Order:
    """Any order by id with its customer (the caller has checked billing.view_order)."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        raise not_found()
    return order
