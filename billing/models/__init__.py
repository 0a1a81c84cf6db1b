"""billing models, one module per entity; every module is imported here so Django registers its models."""

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
    "Customer",
    "DunningAction",
    "DunningStep",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "Order",
    "OrderItem",
    "Payment",
    "StripeWebhookEvent",
    "SubscribeAttempt",
    "SubscribeAttemptStatus",
    "Subscription",
    "SubscriptionInvoice",
    "SubscriptionPause",
    "SubscriptionPlan",
    "TrialClaim",
]
