"""Stripe as our payment provider (through dj-stripe), one module per topic; `StripeProvider` is the interface.

client (options, idempotency keys, errors), plans (Products, Prices, VAT TaxRate), customers (and cards),
subscriptions, invoices (the hosted copy), payments (PaymentIntents, refunds made and read back), webhooks, resync.
"""

from collections.abc import Callable
from typing import Any

from billing.models import Customer, Invoice, Refund, SubscribeAttempt
from billing.models.coupons import Coupon
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.providers.base import (
    InvoicePayment,
    PlansSyncReport,
    ProviderChange,
    RefundOutcome,
    RemoteInvoice,
    RemoteObject,
    RemoteSubscription,
    ResyncPull,
    SubscriptionSetup,
    SubscriptionStarted,
)
from billing.providers.manual import bank_transfer_instructions

from . import coupons as stripe_coupons
from . import customers, invoices, payments, resync, subscriptions, webhooks
from . import plans as stripe_plans


class StripeProvider:
    """Card payments, subscriptions and hosted invoices in Stripe; bank transfer stays possible beside them."""

    name = "stripe"
    mirrors = True

    def customer_ensure(self, *, customer: Customer) -> str:
        return str(customers.customer_stripe_ensure(customer=customer).id)

    def plan_sync(self, *, plan: SubscriptionPlan) -> list[ProviderChange]:
        return stripe_plans.plan_stripe_sync(plan=plan)

    def plans_sync(
        self, *, plans: list[SubscriptionPlan] | None = None, on_progress: Callable[[str], None] | None = None
    ) -> PlansSyncReport:
        return stripe_plans.plans_stripe_sync(plans=plans, on_progress=on_progress)

    def payment_method_check(self, *, payment_method_id: str | None) -> None:
        return None  # any card; Stripe judges it when it is attached

    def subscription_prepare(
        self,
        *,
        customer: Customer,
        plan: SubscriptionPlan,
        billing_period: str,
        payment_method_id: str | None,
        replacing: Subscription | None,
    ) -> SubscriptionSetup:
        return subscriptions.subscription_stripe_prepare(
            customer=customer,
            plan=plan,
            billing_period=billing_period,
            payment_method_id=payment_method_id,
            replacing=replacing,
        )

    def subscription_start(self, *, attempt: SubscribeAttempt, setup: SubscriptionSetup) -> SubscriptionStarted | None:
        return subscriptions.subscription_stripe_start(attempt=attempt, setup=setup)

    def subscription_start_compensate(self, *, attempt: SubscribeAttempt) -> str:
        return subscriptions.subscription_stripe_start_compensate(attempt=attempt)

    def subscription_link(self, *, subscription: Subscription) -> None:
        subscriptions.subscription_stripe_link(subscription=subscription)

    def subscription_follow(self, *, subscription: Subscription) -> str:
        return subscriptions.subscription_stripe_follow(subscription=subscription)

    def subscription_abandoned_cancel(self, *, reference: str) -> None:
        subscriptions.subscription_abandoned_cancel(stripe_subscription_id=reference)

    def subscription_read(self, *, subscription: Subscription) -> RemoteSubscription | None:
        return subscriptions.subscription_stripe_read(subscription=subscription)

    def invoice_mirror(self, *, invoice: Invoice) -> Invoice:
        return invoices.invoice_stripe_create(invoice=invoice)

    def invoice_mirror_schedule(self, *, invoice: Invoice) -> None:
        invoices.invoice_stripe_schedule(invoice=invoice)

    def invoice_mirror_void(self, *, invoice: Invoice, reference: str) -> None:
        invoices.invoice_stripe_void(invoice=invoice, stripe_invoice_id=reference)

    def invoice_mirror_pending(self, *, invoice: Invoice) -> bool:
        return invoices.invoice_stripe_pending(invoice=invoice)

    def invoice_read(self, *, invoice: Invoice) -> RemoteInvoice | None:
        return invoices.invoice_stripe_read(invoice=invoice)

    def invoice_payment_create(self, *, invoice: Invoice) -> InvoicePayment:
        card = payments.invoice_payment_intent_create(invoice=invoice)
        return InvoicePayment(bank_transfer=bank_transfer_instructions(invoice=invoice), card=card)

    def invoice_payment_retry(self, *, invoice: Invoice) -> str:
        return invoices.invoice_stripe_pay_retry(invoice=invoice)

    def refund_create(self, *, refund: Refund) -> RefundOutcome:
        return payments.refund_stripe_create(refund=refund)

    def coupon_mirror(self, *, coupon: Coupon) -> str:
        return stripe_coupons.coupon_stripe_mirror(coupon=coupon)

    def webhook_endpoint_check(self) -> None:
        webhooks.webhook_endpoint_check()

    def webhook_event_verify(self, *, body: bytes, signature: str) -> dict[str, Any]:
        return webhooks.webhook_event_verify(body=body, signature=signature)

    def webhook_event_mirror(self, *, payload: dict[str, Any]) -> bool:
        return webhooks.webhook_event_mirror(payload=payload)

    def webhook_event_read(self, *, event_type: str, object_id: str) -> RemoteObject | str:
        return webhooks.webhook_event_read(event_type=event_type, object_id=object_id)

    def resync_pull(
        self, *, on_step: Callable[[str, int], None] | None, on_progress: Callable[[], None] | None
    ) -> ResyncPull:
        return resync.stripe_resync_pull(on_step=on_step, on_progress=on_progress)
