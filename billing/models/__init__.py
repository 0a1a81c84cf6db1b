"""billing models, one module per entity; every module is imported here so Django registers its models."""

from .balance import CustomerBalanceEntry
from .coupons import Coupon, CouponRedemption, PromotionCode
from .credit_notes import CreditNote, CreditNoteLine, CreditNoteNumberSequence, Refund
from .customers import Customer
from .idempotency import IdempotencyKey
from .invoices import Invoice, InvoiceLine, InvoiceNumberSequence
from .orders import Order, OrderItem
from .payments import Payment
from .plans import SubscriptionPlan
from .provider_operations import SubscribeAttempt, SubscribeAttemptStatus
from .stripe import StripeWebhookEvent
from .subscriptions import (
    DunningAction,
    DunningStep,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPause,
    TrialClaim,
)

__all__ = [
    "Coupon",
    "CouponRedemption",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteNumberSequence",
    "Customer",
    "CustomerBalanceEntry",
    "DunningAction",
    "DunningStep",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "Order",
    "OrderItem",
    "Payment",
    "PromotionCode",
    "Refund",
    "StripeWebhookEvent",
    "SubscribeAttempt",
    "SubscribeAttemptStatus",
    "Subscription",
    "SubscriptionInvoice",
    "SubscriptionPause",
    "SubscriptionPlan",
    "TrialClaim",
]
