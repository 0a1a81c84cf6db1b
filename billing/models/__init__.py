"""billing models, one module per entity; every module is imported here so Django registers its models."""

from .api_keys import ApiKey
from .balance import CustomerBalanceEntry
from .coupons import Coupon, CouponRedemption, PromotionCode
from .credit_notes import CreditNote, CreditNoteLine, CreditNoteNumberSequence, Refund
from .customers import Customer
from .exchange_rates import ExchangeRate
from .idempotency import IdempotencyKey
from .invoices import Invoice, InvoiceLine, InvoiceNumberSequence
from .orders import Order, OrderItem
from .payments import Payment
from .plans import PlanPrice, SubscriptionPlan
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
from .usage import (
    BillableMetric,
    PlanCharge,
    UsageAlert,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
    UsageRollup,
)

__all__ = [
    "ApiKey",
    "BillableMetric",
    "Coupon",
    "CouponRedemption",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteNumberSequence",
    "Customer",
    "CustomerBalanceEntry",
    "DunningAction",
    "DunningStep",
    "ExchangeRate",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "Order",
    "OrderItem",
    "Payment",
    "PlanCharge",
    "PlanPrice",
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
    "UsageAlert",
    "UsageDistinctValue",
    "UsageEvent",
    "UsageEventKey",
    "UsageRollup",
]
