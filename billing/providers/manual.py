"""Manual bank transfer (계좌이체): the provider while Stripe is off. The customer transfers the invoice total to the
seller's account quoting the invoice number, and staff record the transfer when it arrives; nothing is mirrored
anywhere, so every other question of the PaymentProvider Protocol is answered with "nothing to do"."""

from collections.abc import Callable
from typing import Any

from django.conf import settings

from billing.enums import Language, PaymentMethod
from billing.models import Customer, Invoice, Refund, SubscribeAttempt
from billing.models.coupons import Coupon
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.money import money_format
from billing_site.errors import ApplicationError

from .base import (
    BankTransferInstructions,
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


def bank_transfer_instructions(*, invoice: Invoice) -> BankTransferInstructions:
    """How to pay an open invoice by bank transfer, in the invoice's language, from the seller settings."""
    seller: dict[str, Any] = settings.BILLING_SELLER
    english = invoice.language == Language.ENGLISH
    bank = (seller.get("bank_name_en") if english else None) or seller["bank_name"]
    amount = invoice.amount_remaining
    due = invoice.due_date
    if due is None:
        raise ValueError(f"Invoice {invoice} is not issued: it has no due date to pay by.")
    template = INSTRUCTIONS[Language.ENGLISH if english else Language.KOREAN]
    return BankTransferInstructions(
        method=PaymentMethod.BANK_TRANSFER,
        amount=amount,
        currency=invoice.currency,
        bank_name=bank,
        account_number=seller["bank_account"],
        account_holder=seller["bank_account_holder"],
        reference=invoice.number or "",
        due_date=due,
        instructions=template.format(
            amount=money_format(amount=amount, currency=invoice.currency),
            bank=bank,
            account=seller["bank_account"],
            holder=seller["bank_account_holder"],
            reference=invoice.number,
            due=(f"{due.day} {due:%b %Y}" if english else f"{due.year}년 {due.month}월 {due.day}일"),
        ),
    )


def refund_not_supported() -> ApplicationError:
    """This provider cannot return a card payment's money (billing.jobs then fails the refund: onto the balance)."""
    return ApplicationError(
        "refund_not_supported", "Refunds are not supported here; refund in the provider's dashboard.", status_code=501
    )


def _webhooks_off() -> ApplicationError:
    return ApplicationError("not_found", "Stripe is not enabled on this server.", status_code=404)


class ManualProvider:
    """Bank transfer only: no customer, plan, subscription or invoice lives anywhere but here."""

    name = "manual"
    mirrors = False

    def customer_ensure(self, *, customer: Customer) -> str:
        return ""

    def plan_sync(self, *, plan: SubscriptionPlan) -> list[ProviderChange]:
        return []

    def plans_sync(
        self, *, plans: list[SubscriptionPlan] | None = None, on_progress: Callable[[str], None] | None = None
    ) -> PlansSyncReport:
        return PlansSyncReport()

    def payment_method_check(self, *, payment_method_id: str | None) -> None:
        if payment_method_id:
            raise ApplicationError(
                "card_payments_unavailable",
                "Card payments are not enabled; leave out payment_method_id to pay the invoice by bank transfer.",
                fields={"payment_method_id": ["Card payments are not enabled."]},
            )

    def subscription_prepare(
        self,
        *,
        customer: Customer,
        plan: SubscriptionPlan,
        billing_period: str,
        payment_method_id: str | None,
        replacing: Subscription | None,
    ) -> SubscriptionSetup:
        return SubscriptionSetup()  # paid by bank transfer within the invoice's terms

    def subscription_start(self, *, attempt: SubscribeAttempt, setup: SubscriptionSetup) -> SubscriptionStarted | None:
        return None

    def subscription_start_compensate(self, *, attempt: SubscribeAttempt) -> str:
        return "nothing was made at the provider"

    def subscription_link(self, *, subscription: Subscription) -> None:
        return None

    def subscription_follow(self, *, subscription: Subscription) -> str:
        return "nothing at the provider"

    def subscription_abandoned_cancel(self, *, reference: str) -> None:
        return None

    def subscription_read(self, *, subscription: Subscription) -> RemoteSubscription | None:
        return None

    def invoice_mirror(self, *, invoice: Invoice) -> Invoice:
        return invoice

    def invoice_mirror_schedule(self, *, invoice: Invoice) -> None:
        return None

    def invoice_mirror_void(self, *, invoice: Invoice, reference: str) -> None:
        return None

    def invoice_mirror_pending(self, *, invoice: Invoice) -> bool:
        return False

    def invoice_read(self, *, invoice: Invoice) -> RemoteInvoice | None:
        return None

    def invoice_payment_create(self, *, invoice: Invoice) -> InvoicePayment:
        return InvoicePayment(bank_transfer=bank_transfer_instructions(invoice=invoice))

    def invoice_payment_retry(self, *, invoice: Invoice) -> str:
        return "no card"  # bank transfer: the customer pays; dunning's reminders ask them to

    def refund_create(self, *, refund: Refund) -> RefundOutcome:
        raise refund_not_supported()  # no card to return money to: bank transfers are refunded by staff

    def coupon_mirror(self, *, coupon: Coupon) -> str:
        return ""  # nothing to mirror to: our invoices carry the discount themselves

    def webhook_endpoint_check(self) -> None:
        raise _webhooks_off()

    def webhook_event_verify(self, *, body: bytes, signature: str) -> dict[str, Any]:
        raise _webhooks_off()

    def webhook_event_mirror(self, *, payload: dict[str, Any]) -> bool:
        raise _webhooks_off()

    def webhook_event_read(self, *, event_type: str, object_id: str) -> RemoteObject | str:
        raise _webhooks_off()

    def resync_pull(
        self, *, on_step: Callable[[str, int], None] | None, on_progress: Callable[[], None] | None
    ) -> ResyncPull:
        return ResyncPull()
