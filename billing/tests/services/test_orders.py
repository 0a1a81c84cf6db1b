"""Orders: totals with VAT, validation, and the status that follows the invoice."""

import pytest
from django.db import IntegrityError, transaction

from billing.models import Order, OrderItem
from billing.services.orders import OrderItemInput, order_cancel, order_create
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_order_totals_are_items_plus_truncated_vat(customer):
    order = order_create(
        customer=customer,
        items=[OrderItemInput("Pro 플랜", 33_333, 3), OrderItemInput("추가 좌석", 1_001, 1)],
        description="3월 주문",
    )
    assert (order.subtotal, order.tax, order.total, order.status) == (101_000, 10_100, 111_100, "pending")
    assert [(item.description, item.amount) for item in order.items.all()] == [
        ("Pro 플랜", 99_999),
        ("추가 좌석", 1_001),
    ]


def test_two_digit_currency_order(customer):
    order = order_create(customer=customer, items=[OrderItemInput("Seat", 1999, 3)], currency="usd")
    assert (order.currency, order.subtotal, order.tax, order.total) == ("USD", 5997, 599, 6596)


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([], "order_has_no_items"),
        ([OrderItemInput("free", 0)], "invalid_amount"),
        ([OrderItemInput("", 100)], "invalid_item"),
        ([OrderItemInput("x", 100, 0)], "invalid_item"),
        ([OrderItemInput("x", -100)], "invalid_amount"),
    ],
)
def test_invalid_orders_are_refused(customer, items, code):
    with pytest.raises(ApplicationError) as refused:
        order_create(customer=customer, items=items)
    assert refused.value.code == code
    assert not Order.objects.exists()


def test_pending_order_can_be_canceled_once(customer):
    order = order_create(customer=customer, items=[OrderItemInput("x", 100)])
    assert order_cancel(order=order).status == "canceled"
    with pytest.raises(ApplicationError) as again:
        order_cancel(order=order)
    assert again.value.code == "invalid_order_transition"


def test_database_keeps_order_totals_consistent(customer):
    order = order_create(customer=customer, items=[OrderItemInput("x", 100)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(total=999)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderItem.objects.filter(order=order).update(amount=1)
