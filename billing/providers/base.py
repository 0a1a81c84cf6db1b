"""What billing asks of a payment provider (the `PaymentProvider` Protocol) and the plain data it answers with.

Providers answer with the small dataclasses below, never with their own objects, so that the services that act on
the answers (billing.services.provider_sync, billing.services.subscriptions, billing.services.checkout) work the same
for Stripe, manual bank transfer and, later, a Korean gateway (a billing key is a `payment_method`; a virtual
account's deposit notification arrives as a `RemotePayment` through the provider's webhook).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from billing.models import Customer, Invoice, Refund, SubscribeAttempt
from billing.models.coupons import Coupon
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription


class ProviderError(Exception):
    """A provider call failed in a way no ApplicationError describes; the resync reports it and goes on."""


@dataclass
class ProviderChange:
    """One thing a sync changed, for reports: `what` is e.g. "price", `action` e.g. "created"."""

    what: str
    action: str
    ref: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.what} {self.ref}: {self.action}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class PlansSyncReport:
    """What syncing the plans to the provider changed (nothing for a provider that keeps no plans)."""

    changes: list[ProviderChange] = field(default_factory=list)
    plans: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class SubscriptionSetup:
    """What subscribe prepared with the provider before any row of ours was locked: who pays, with what, at which
    price. `customer_reference` is empty when the subscription is not paid through the provider (bank transfer)."""

    customer_reference: str = ""
    payment_method: str = ""
    price_reference: str = ""
    tax_rate_reference: str = ""
    currency: str = ""  # of the price: the customer's when prepared (subscribe re-prepares if it is not any more)
    # The VAT rate `tax_rate_reference` charges (None: no rate prepared); subscribe re-prepares if the customer's
    # rate is another one by the time it is locked (staff changed the treatment meanwhile).
    vat_rate_basis_points: int | None = None


@dataclass(frozen=True)
class SubscriptionStarted:
    """What the provider made (and charged) for a subscribe attempt; our records follow it, or it is compensated."""

    subscription_reference: str
    invoice_reference: str = ""
    hosted_invoice_url: str = ""
    amount_paid: int = 0  # what the provider already collected for our first invoice (0: nothing yet)
    payment_reference: str = ""
    item_references: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardPayment:
    """How a client pays an invoice by card: confirm this PaymentIntent with Stripe.js and the publishable key."""

    payment_intent_id: str
    client_secret: str
    amount: int
    currency: str
    status: str
    publishable_key: str


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
class InvoicePayment:
    """How an invoice can be paid: always by bank transfer to the seller's account, and by card where the provider
    takes cards. (A Korean gateway adds its virtual account here.)"""

    bank_transfer: BankTransferInstructions
    card: CardPayment | None = None


@dataclass(frozen=True)
class RemoteInvoice:
    """The provider's copy of an invoice as it is now."""

    reference: str
    status: str  # "draft", "open", "paid", "void", "uncollectible"
    amount_paid: int = 0
    payment_reference: str = ""  # the payment that paid it, when the provider says
    hosted_url: str = ""
    subscription_reference: str = ""  # the provider's subscription it bills, if any
    from_subscription: bool = False  # made by a subscription of the provider's (a renewal), not by us
    period_start: date | None = None  # the first day of the period it bills (our Asia/Seoul days)
    # Payment attempts made so far (Stripe counts the first attempt and its automatic retries): an open invoice
    # with attempts has had one fail. 0 before any attempt.
    attempt_count: int = 0
    failure_message: str = ""  # why the last attempt failed, when the provider says without another call


@dataclass(frozen=True)
class RemoteSubscription:
    """The provider's subscription as it is now, its status already translated into ours ("" when unknown)."""

    reference: str
    status: str = ""
    ended: bool = False  # canceled (or expired) at the provider
    cancel_at_period_end: bool = False
    period_start: date | None = None
    claimed_subscription_id: str = ""  # the subscription of ours its metadata names
    claimed_attempt_id: str = ""  # the subscribe attempt of ours that made it
    created_at: datetime | None = None


@dataclass(frozen=True)
class RemotePayment:
    """A payment the provider took (or failed to take) for one of our invoices."""

    reference: str
    invoice_id: int | None  # ours, from the provider's metadata
    status: str
    succeeded: bool = False
    amount: int = 0
    amount_received: int = 0
    failed: bool = False
    failure_reference: str = ""  # the failed attempt (a charge), once per attempt
    failure_code: str = ""
    failure_message: str = ""


RefundStatusName = Literal["succeeded", "pending", "failed"]


@dataclass(frozen=True)
class RefundOutcome:
    """What the provider answered when asked to refund (`refund_create`): its refund's reference and how it stands.
    "pending": the provider still works on it and reports the end later (its events, the resync)."""

    reference: str
    status: RefundStatusName
    failure_reason: str = ""
    # Refused because the payment's refunds already cover it (made elsewhere, e.g. in Stripe's dashboard): its
    # refunds as the provider holds them, so that ours is matched with them instead of failing onto the balance.
    already_refunded: "RemoteRefund | None" = None


@dataclass(frozen=True)
class RemoteRefundItem:
    """One refund the provider made of a payment, as it is now."""

    reference: str
    amount: int
    status: RefundStatusName
    claimed_refund_id: str = ""  # the Refund of ours that asked for it (its metadata), "" when made elsewhere
    failure_reason: str = ""


@dataclass(frozen=True)
class RemoteRefund:
    """Money the provider returned for a payment of ours (one of `payment_references`), refund by refund."""

    reference: str
    payment_references: tuple[str, ...]
    amount_refunded: int
    refunded_in_full: bool
    provider_label: str
    refunds: tuple[RemoteRefundItem, ...] = ()


RemoteObject = RemoteInvoice | RemoteSubscription | RemotePayment | RemoteRefund


@dataclass
class ResyncPull:
    """Everything a provider holds, pulled for the resync: its subscriptions and invoices to reconcile ours with,
    and what the pull itself changed (plans) or could not mirror."""

    pulled: dict[str, int] = field(default_factory=dict)
    changes: list[ProviderChange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    subscriptions: list[RemoteSubscription] = field(default_factory=list)
    invoices: list[RemoteInvoice] = field(default_factory=list)
    refunds: list[RemoteRefund] = field(default_factory=list)  # the charges with refunds, made anywhere


class PaymentProvider(Protocol):
    """What billing asks of a payment provider. `payment_provider()` returns the configured one."""

    name: str
    # Keeps its own copy of our plans, invoices and subscriptions, which the admin and commands can sync.
    mirrors: bool

    # customers and plans
    def customer_ensure(self, *, customer: Customer) -> str: ...
    def plan_sync(self, *, plan: SubscriptionPlan) -> list[ProviderChange]: ...
    def plans_sync(
        self, *, plans: list[SubscriptionPlan] | None = None, on_progress: Callable[[str], None] | None = None
    ) -> PlansSyncReport: ...

    # subscriptions
    def payment_method_check(self, *, payment_method_id: str | None) -> None: ...
    def subscription_prepare(
        self,
        *,
        customer: Customer,
        plan: SubscriptionPlan,
        billing_period: str,
        payment_method_id: str | None,
        replacing: Subscription | None,
    ) -> SubscriptionSetup: ...
    # Never called while a row of ours is locked: each runs between the committed steps of a subscribe attempt.
    def subscription_start(
        self, *, attempt: SubscribeAttempt, setup: SubscriptionSetup
    ) -> SubscriptionStarted | None: ...
    def subscription_start_compensate(self, *, attempt: SubscribeAttempt) -> str: ...
    def subscription_link(self, *, subscription: Subscription) -> None: ...
    # The provider's copy made to match ours as it is now (ended, cancel at period end or not, paused, seats, plan);
    # says what changed. Called by a job after each saved change (billing.jobs), so it must be idempotent.
    def subscription_follow(self, *, subscription: Subscription) -> str: ...
    def subscription_abandoned_cancel(self, *, reference: str) -> None: ...
    def subscription_read(self, *, subscription: Subscription) -> RemoteSubscription | None: ...

    # invoices and payments
    def invoice_mirror(self, *, invoice: Invoice) -> Invoice: ...
    def invoice_mirror_schedule(self, *, invoice: Invoice) -> None: ...
    def invoice_mirror_void(self, *, invoice: Invoice, reference: str) -> None: ...
    # The provider's copy (and the hosted page an email links to) is still being made for this invoice.
    def invoice_mirror_pending(self, *, invoice: Invoice) -> bool: ...
    def invoice_read(self, *, invoice: Invoice) -> RemoteInvoice | None: ...
    def invoice_payment_create(self, *, invoice: Invoice) -> InvoicePayment: ...
    # Charge the card on file again for an unpaid invoice (a dunning step); a decline is an outcome, not an error:
    # what happened, in words. The provider's events (or the resync) bring the result back to our invoice.
    def invoice_payment_retry(self, *, invoice: Invoice) -> str: ...
    # Return a card refund's money through the provider (idempotent per refund: asked again, the same refund
    # answers). Never called while a row of ours is locked. ApplicationError refund_not_supported where it cannot.
    def refund_create(self, *, refund: Refund) -> RefundOutcome: ...
    # The provider's copy of a coupon (Stripe: a Stripe coupon), made once; its id ("" where nothing is mirrored).
    def coupon_mirror(self, *, coupon: Coupon) -> str: ...

    # webhooks and resync
    def webhook_endpoint_check(self) -> None: ...
    def webhook_event_verify(self, *, body: bytes, signature: str) -> dict[str, Any]: ...
    def webhook_event_mirror(self, *, payload: dict[str, Any]) -> bool: ...
    def webhook_event_read(self, *, event_type: str, object_id: str) -> RemoteObject | str: ...
    def resync_pull(
        self, *, on_step: Callable[[str, int], None] | None, on_progress: Callable[[], None] | None
    ) -> ResyncPull: ...
