"""Order writes: creating an order with its items and totals, and the status that follows its invoice."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.enums import CustomerInvoicePolicy, OrderStatus, order_transition_allowed
from billing.models import Customer, Order, OrderItem
from billing.money import MAX_AMOUNT, amount_validate, currency_normalize, line_amount, vat_amount
from billing.tax import vat_rate_now
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from .customers import customer_currency_choose

MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class OrderItemInput:
    description: str
    unit_amount: int
    quantity: int = 1


def order_items_validate(items: Sequence[OrderItemInput]) -> list[OrderItemInput]:
    if not items:
        raise ApplicationError(
            "order_has_no_items", "An order needs at least one item.", fields={"items": ["Required."]}
        )
    if len(items) > MAX_ITEMS:
        raise ApplicationError(
            "too_many_items", f"An order has at most {MAX_ITEMS} items.", fields={"items": ["Too many items."]}
        )
    for index, item in enumerate(items):
        if not item.description or not item.description.strip():
            raise ApplicationError(
                "invalid_item", "Every item needs a description.", fields={f"items[{index}].description": ["Required."]}
            )
        if (
            isinstance(item.quantity, bool)
            or not isinstance(item.quantity, int)
            or not 1 <= item.quantity <= MAX_QUANTITY
        ):
            raise ApplicationError(
                "invalid_item",
                f"quantity must be an integer from 1 to {MAX_QUANTITY}.",
                fields={f"items[{index}].quantity": ["Out of range."]},
            )
        amount_validate(item.unit_amount, field=f"items[{index}].unit_amount")
    return list(items)


@transaction.atomic
def order_create(
    *, customer: Customer, items: Sequence[OrderItemInput], currency: str | None = None, description: str = ""
) -> Order:
    """A pending order; tax is the VAT of the subtotal under the customer's tax treatment at today's rate
    (billing.tax), truncated."""
    code = currency_normalize(currency)
    checked = order_items_validate(items)
    amounts = [line_amount(quantity=item.quantity, unit_amount=item.unit_amount) for item in checked]
    subtotal = sum(amounts)
    amount_validate(subtotal, field="subtotal")
    rate = vat_rate_now(tax_treatment=customer.tax_treatment)
    tax = vat_amount(supply_amount=subtotal, tax_treatment=customer.tax_treatment, rate_basis_points=rate)
    if subtotal + tax > MAX_AMOUNT:
        raise ApplicationError(
            "invalid_amount", "The order total is too large.", fields={"items": ["Total too large."]}
        )
    order = Order.objects.create(
        customer=customer,
        currency=code,
        description=description.strip(),
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            position=position,
            description=item.description.strip(),
            quantity=item.quantity,
            unit_amount=item.unit_amount,
            amount=amount,
        )
        for position, (item, amount) in enumerate(zip(checked, amounts, strict=True))
    )
    return order


def customer_prices_allowed() -> bool:
    """BILLING_CUSTOMER_INVOICES=`any` (the seed's behaviour): customers may name their own amounts, on orders and
    on invoices. `orders_only`, or an unknown value (check billing.E004), is the stricter rule."""
    return settings.BILLING_CUSTOMER_INVOICES == CustomerInvoicePolicy.ANY


def customer_prices_check() -> None:
    """Items priced by the customer (`POST /api/orders`, checkout with `items`) only where the policy allows it.

    Otherwise customers buy only what the business prices (plans, through subscribe and checkout with a plan),
    so a customer-priced order, which could then be invoiced by its id, is refused before anything is written."""
    if customer_prices_allowed():
        return
    raise ApplicationError(
        "customer_prices_not_accepted",
        "Orders with your own prices are not accepted: subscribe to a plan or check out a plan instead.",
        status_code=403,
        fields={"items": ["Not accepted: prices come from the plans."]},
    )


@transaction.atomic
def order_place(
    *, customer: Customer, items: Sequence[OrderItemInput], currency: str | None = None, description: str = ""
) -> Order:
    """A customer places an order with prices of their own (`POST /api/orders`): only where the policy allows it.
    In the customer's currency by default; an order in another currency chooses it while it is not fixed, else 409
    `currency_mismatch` (everything of a customer is in one currency)."""
    customer_prices_check()
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    code = currency_normalize(currency) if currency else locked.currency
    locked = customer_currency_choose(customer=locked, currency=code, tax_default=False)
    return order_create(customer=locked, items=items, currency=code, description=description)


def order_lock(*, order_id: int) -> Order:
    """The order row, locked until the surrounding transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_lock must run inside a transaction.")
    return Order.objects.select_for_update().get(pk=order_id)


def order_status_change(*, order_id: int, target: str, now: datetime | None = None) -> Order:
    """Move an order along ORDER_TRANSITIONS (lock, re-check, change); called inside the invoice's transaction."""
    order = order_lock(order_id=order_id)
    if not order_transition_allowed(order.status, target):
        raise ApplicationError(
            "invalid_order_transition",
            f"Order {order.pk} is {order.status}; it cannot become {target}.",
            status_code=409,
        )
    order.status = target
    if target == OrderStatus.CANCELED:
        order.canceled_at = now or timezone.now()
    order.save(update_fields=["status", "canceled_at", "updated_at"])
    return order


@transaction.atomic
def order_cancel(*, order: Order, actor: Any = None, now: datetime | None = None) -> Order:
    """Cancel a pending order (one with no live invoice). `actor` None is the system; a user needs change_order."""
    permission_require(actor=actor, permission="billing.change_order")
    return order_status_change(order_id=order.pk, target=OrderStatus.CANCELED, now=now)
