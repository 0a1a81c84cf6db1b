"""Checkout: an order and its open invoice for a plan or for items, and how to pay it.

The payment provider says how (billing.providers): a bank transfer (계좌이체) to the seller's account with the
invoice number as the reference, which staff record when it arrives, and with Stripe on also a card payment. The
provider is asked once our order and invoice are committed, never while their rows (or the day's invoice number
counter) are locked.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from billing.models import Customer, Invoice, Order
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.providers import payment_provider
from billing.providers.base import BankTransferInstructions, CardPayment, InvoicePayment
from billing.providers.manual import bank_transfer_instructions
from billing_site.errors import ApplicationError

from .invoices import invoice_issue_for_order
from .orders import OrderItemInput, order_place
from .subscriptions import subscription_checkout

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    invoice: Invoice
    subscription: Subscription | None
    payment: BankTransferInstructions
    card: CardPayment | None = None  # with Stripe on: the PaymentIntent to confirm with Stripe.js


def checkout_create(
    *,
    customer: Customer,
    plan: SubscriptionPlan | None = None,
    billing_period: str | None = None,
    items: Sequence[OrderItemInput] | None = None,
    currency: str | None = None,
    now: datetime | None = None,
    coupon: str = "",
) -> CheckoutResult:
    """POST /api/payment/checkout: `plan` + `billing_period` (an incomplete subscription until paid) or `items`.

    The order and its invoice are committed first, then the provider says how to pay. If it cannot answer (Stripe
    unreachable), the checkout stands and is paid by bank transfer: `card` is None, as with Stripe off.
    `coupon` (a promotion code) only with a plan (`subscription_checkout`); with items 400 `invalid_coupon`.
    """
    with transaction.atomic():
        order, invoice, subscription = _checkout_write(
            customer=customer,
            plan=plan,
            billing_period=billing_period,
            items=items,
            currency=currency,
            now=now,
            coupon=coupon,
        )
    try:
        payment = payment_provider().invoice_payment_create(invoice=invoice)
    except ApplicationError as error:
        if error.status_code < 500:
            raise
        logger.warning("checkout of invoice %s: no card payment offered (%s)", invoice.pk, error.message)
        payment = InvoicePayment(bank_transfer=bank_transfer_instructions(invoice=invoice))
    return CheckoutResult(
        order=order, invoice=invoice, subscription=subscription, payment=payment.bank_transfer, card=payment.card
    )


def _checkout_write(
    *,
    customer: Customer,
    plan: SubscriptionPlan | None,
    billing_period: str | None,
    items: Sequence[OrderItemInput] | None,
    currency: str | None,
    now: datetime | None,
    coupon: str = "",
) -> tuple[Order, Invoice, Subscription | None]:
    if (plan is None) == (items is None):
        raise ApplicationError(
            "validation_error",
            "Send either plan and billing_period, or items.",
            fields={"non_field_errors": ["Send either plan and billing_period, or items."]},
        )
    if plan is not None:
        if billing_period is None:
            raise ApplicationError(
                "validation_error", "billing_period is required with a plan.", fields={"billing_period": ["Required."]}
            )
        started = subscription_checkout(
            customer=customer, plan=plan, billing_period=billing_period, now=now, coupon=coupon
        )
        invoice, subscription = started.invoice, started.subscription
    else:
        if coupon:
            raise ApplicationError(
                "invalid_coupon",
                "A coupon discounts a subscription: check out a plan to use it.",
                fields={"coupon": ["Only with a plan."]},
            )
        order = order_place(customer=customer, items=items or [], currency=currency)
        invoice, subscription = invoice_issue_for_order(order=order), None
    if invoice.order_id is None:
        raise RuntimeError(f"Checkout invoice {invoice} bills no order.")
    return Order.objects.get(pk=invoice.order_id), invoice, subscription
