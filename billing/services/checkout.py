"""Checkout: an order and its open invoice for a plan or for items, and how to pay it.

With Stripe off the answer is a bank transfer (계좌이체) to the seller's account with the invoice number as
the reference; staff record the transfer when it arrives. The Stripe integration adds card payment here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from billing.enums import Language, PaymentMethod
from billing.models import Customer, Invoice, Order
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.money import money_format
from billing_site.errors import ApplicationError

from . import stripe_sync
from .invoices import invoice_issue_for_order
from .orders import OrderItemInput, order_place
from .stripe_sync import CardPayment
from .subscriptions import subscription_checkout

INSTRUCTIONS = {
    Language.KOREAN: (
        "{due}까지 {amount}을(를) {bank} {account} (예금주 {holder})으로 입금해 주세요. "
        "입금자명 또는 메모에 청구서 번호 {reference}를 적어 주시면 확인이 빨라집니다."
    ),
    Language.ENGLISH: (
        "Please transfer {amount} to {bank} account {account} (holder: {holder}) by {due}, "
        "quoting invoice number {reference} as the reference."
    ),
}


@dataclass(frozen=True)
class BankTransferInstructions:
    method: str
    amount: int
    currency: str
    bank_name: str
    account_number: str
    account_holder: str
    reference: str
    due_date: date
    instructions: str


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    invoice: Invoice
    subscription: Subscription | None
    payment: BankTransferInstructions
    card: CardPayment | None = None  # with Stripe on: the PaymentIntent to confirm with Stripe.js


def payment_instructions(*, invoice: Invoice) -> BankTransferInstructions:
    """How to pay an open invoice by bank transfer, in the invoice's language, from the seller settings."""
    seller: dict[str, Any] = settings.BILLING_SELLER
    english = invoice.language == Language.ENGLISH
    bank = (seller.get("bank_name_en") if english else None) or seller["bank_name"]
    amount = invoice.amount_remaining
    template = INSTRUCTIONS[Language.ENGLISH if english else Language.KOREAN]
    return BankTransferInstructions(
        method=PaymentMethod.BANK_TRANSFER,
        amount=amount,
        currency=invoice.currency,
        bank_name=bank,
        account_number=seller["bank_account"],
        account_holder=seller["bank_account_holder"],
        reference=invoice.number or "",
        due_date=invoice.due_date,
        instructions=template.format(
            amount=money_format(amount=amount, currency=invoice.currency),
            bank=bank,
            account=seller["bank_account"],
            holder=seller["bank_account_holder"],
            reference=invoice.number,
            due=(
                f"{invoice.due_date.day} {invoice.due_date:%b %Y}"
                if english
                else f"{invoice.due_date.year}년 {invoice.due_date.month}월 {invoice.due_date.day}일"
            ),
        ),
    )


@transaction.atomic
def checkout_create(
    *,
    customer: Customer,
    plan: SubscriptionPlan | None = None,
    billing_period: str | None = None,
    items: Sequence[OrderItemInput] | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> CheckoutResult:
    """POST /api/payment/checkout: `plan` + `billing_period` (an incomplete subscription until paid) or `items`."""
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
        started = subscription_checkout(customer=customer, plan=plan, billing_period=billing_period, now=now)
        invoice, subscription = started.invoice, started.subscription
    else:
        order = order_place(customer=customer, items=items or [], currency=currency)
        invoice, subscription = invoice_issue_for_order(order=order), None
    order = Order.objects.get(pk=invoice.order_id)
    card = None
    if settings.STRIPE_ENABLED:  # card payment of the invoice through Stripe (stripe_sync)
        card = stripe_sync.invoice_payment_intent_create(invoice=invoice)
    return CheckoutResult(
        order=order,
        invoice=invoice,
        subscription=subscription,
        payment=payment_instructions(invoice=invoice),
        card=card,
    )
