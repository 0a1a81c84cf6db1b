"""Our records follow what the payment provider reports: its webhooks (billing.webhooks), the admin's sync buttons
and the resync (`manage.py billing_sync_stripe`). The provider answers with billing.providers.base data; here it
is applied under our locks (customer first, then the invoice or subscription), in the caller's transaction.

Providers never call into services: this module sits above them and above billing.providers.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from billing.enums import (
    INVOICE_PAYABLE_STATUSES,
    InvoiceStatus,
    JobKind,
    PaymentMethod,
    PaymentStatus,
    RefundMethod,
    RefundStatus,
)
from billing.models import Customer, Invoice, Payment, Refund, SubscribeAttempt, SubscribeAttemptStatus
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionInvoice, SubscriptionStatus
from billing.providers import PaymentProvider, payment_provider
from billing.providers.base import (
    ProviderChange,
    ProviderError,
    RemoteInvoice,
    RemoteObject,
    RemotePayment,
    RemoteRefund,
    RemoteRefundItem,
    RemoteSubscription,
)
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_enqueue

from .credit_notes import credit_note_issue_for_provider_refund
from .invoice_emails import payment_failed_email_queue
from .invoices import invoice_lock, invoice_mark_uncollectible, invoice_void
from .payments import card_payment_record
from .refunds import refund_fail, refund_succeed
from .subscription_states import subscription_lock, subscription_status_follow
from .subscriptions import subscription_cancel, subscription_renew

logger = logging.getLogger(__name__)

# A provider subscription naming a subscription of ours that does not exist is a leftover once this old.
ABANDONED_AFTER_MINUTES = 15


class ProviderRecordNotReady(Exception):
    """A provider object says it is ours but our row is not there (yet): the transaction creating it may still run."""


# --- subscriptions ------------------------------------------------------------------------------------------------


def subscription_remote_apply(*, remote: RemoteSubscription) -> str:
    """Make our subscription follow the provider's as it is now: status, cancellation, renewed period.

    Runs in the caller's transaction (a webhook's or the resync's); the customer and the subscription rows are
    locked before anything is read from them. Returns what changed, for the event record and reports.
    """
    local = Subscription.objects.filter(stripe_subscription_id=remote.reference).first()
    if local is None:
        return _unknown_subscription(remote)
    Customer.objects.select_for_update().get(pk=local.customer_id)
    locked = subscription_lock(subscription_id=local.pk)
    done: list[str] = []
    if remote.status == SubscriptionStatus.CANCELED:
        if locked.status != SubscriptionStatus.CANCELED:
            subscription_cancel(subscription=locked, immediately=True)
            done.append("canceled")
        return _said(locked, done)
    if (
        remote.cancel_at_period_end
        and not locked.cancel_at_period_end
        and locked.is_live
        and not _provider_behind(locked)
    ):
        subscription_cancel(subscription=locked)
        done.append("cancels at period end")
    period_start = remote.period_start
    if period_start is not None and locked.status in LIVE_STATUSES and period_start >= locked.current_period_end:
        # The provider renewed: our renewal issues the period's invoice (the same service the renewal run uses).
        outcome = subscription_renew(subscription=locked, as_of=period_start)
        done.append(f"renewed ({len(outcome.invoices)} invoice(s))")
        locked = subscription_lock(subscription_id=local.pk)
    ours_only = (SubscriptionStatus.TRIALING, SubscriptionStatus.PAUSED)  # decided here, never by the provider
    if (
        remote.status
        and remote.status != locked.status
        and locked.status != SubscriptionStatus.CANCELED
        and remote.status not in ours_only
        and locked.status not in ours_only
    ):
        before = locked.status
        locked = subscription_status_follow(subscription=locked, status=remote.status)
        if locked.status != before:
            done.append(f"{before} -> {locked.status}")
    return _said(locked, done)


def _provider_behind(subscription: Subscription) -> bool:
    """Ours changed since and the provider is not told yet (its follow job waits): what it says is older than ours
    (a cancel at period end ours undid must not come back)."""
    return Job.objects.filter(
        key__startswith=f"subscription_provider_cancel:{subscription.pk}:",
        status__in=(JobStatus.PENDING, JobStatus.RUNNING),
    ).exists()


def _said(subscription: Subscription, done: list[str]) -> str:
    return f"subscription {subscription.pk}: " + (", ".join(done) if done else f"already {subscription.status}")


def _unknown_subscription(remote: RemoteSubscription) -> str:
    if remote.claimed_attempt_id:
        return _attempt_subscription(remote)
    claimed = remote.claimed_subscription_id
    if not claimed or not claimed.isdigit():
        return f"subscription {remote.reference} is not ours: nothing to do"
    if remote.ended:
        return f"subscription {remote.reference} of an abandoned subscribe, already canceled"
    if Subscription.objects.filter(pk=claimed).exists():
        # Our subscription exists but is linked to another provider subscription: this one is a leftover.
        return f"subscription {remote.reference} is a leftover (ours {claimed} is linked elsewhere)"
    raise ProviderRecordNotReady(f"subscription {remote.reference} names our subscription {claimed}, not found yet")


def _attempt_subscription(remote: RemoteSubscription) -> str:
    """A provider subscription made by a subscribe attempt of ours that is not linked to our subscription (yet)."""
    attempt = SubscribeAttempt.objects.filter(pk=remote.claimed_attempt_id).first()
    if attempt is None:
        return f"subscription {remote.reference} names no subscribe attempt of ours: nothing to do"
    if attempt.status == SubscribeAttemptStatus.STARTED:
        # The attempt's request is between the charge and our write: its outcome links or compensates this one.
        raise ProviderRecordNotReady(f"subscription {remote.reference}: subscribe attempt {attempt.pk} not done yet")
    if attempt.status == SubscribeAttemptStatus.COMPENSATED and not remote.ended:
        # The provider finished a create after we compensated (an unclear failure, e.g. a timeout while it was still
        # working): nothing of ours follows it, so it is undone as well.
        SubscribeAttempt.objects.filter(pk=attempt.pk, status=SubscribeAttemptStatus.COMPENSATED).update(
            status=SubscribeAttemptStatus.COMPENSATING, finished_at=None, updated_at=timezone.now()
        )
        job_enqueue(
            kind=JobKind.SUBSCRIBE_ATTEMPT_COMPENSATE,
            key=f"subscribe_attempt_compensate:{attempt.pk}:{remote.reference}",
            payload={"attempt_id": attempt.pk},
        )
        return f"subscription {remote.reference} of compensated subscribe attempt {attempt.pk}: compensating it too"
    return f"subscription {remote.reference} of subscribe attempt {attempt.pk} ({attempt.status})"


# --- invoices and payments ----------------------------------------------------------------------------------------


def invoice_remote_apply(*, remote: RemoteInvoice) -> str:
    """Make our invoice follow the provider's copy as it is now (caller's transaction; customer, then invoice locked).

    paid -> the card payment is recorded (once per payment reference) and the subscription refreshed; void and
    uncollectible follow when ours can still change; open stores the hosted URL and mails each failed payment attempt
    once. A renewal invoice of a provider subscription of ours gets our renewal invoice (renewing it if our run did
    not yet) and is linked to it.
    """
    local = Invoice.objects.filter(stripe_invoice_id=remote.reference).first()
    if local is None:
        local = _renewal_invoice_link(remote)
        if local is None:
            return f"invoice {remote.reference} is not ours: nothing to do"
    Customer.objects.select_for_update().get(pk=local.customer_id)
    locked = invoice_lock(invoice_id=local.pk)
    status = remote.status
    if status == "paid":
        if locked.status == InvoiceStatus.PAID or remote.amount_paid == 0:
            return f"invoice {locked}: already paid"
        reference = remote.payment_reference or remote.reference
        return card_payment_record(invoice=locked, amount=remote.amount_paid, reference=reference)
    if status == "void":
        if locked.status in INVOICE_PAYABLE_STATUSES and locked.amount_paid == 0:
            invoice_void(invoice=locked, actor=None)
            return f"invoice {locked} voided"
        return f"invoice {locked} is {locked.status}: Stripe's void not applied"
    if status == "uncollectible":
        if locked.status == InvoiceStatus.OPEN:
            invoice_mark_uncollectible(invoice=locked, actor=None)
            return f"invoice {locked} marked uncollectible"
        return f"invoice {locked}: already {locked.status}"
    if status == "open" and locked.status in (InvoiceStatus.PAID, InvoiceStatus.VOID):
        # Ours was settled another way (bank transfer, void): the provider must not collect it too. Voided there by
        # a job once this commits: never while the customer and invoice rows are locked.
        job_enqueue(
            kind=JobKind.INVOICE_MIRROR_VOID,
            key=f"invoice_mirror_void:{locked.pk}:{remote.reference}",
            payload={"invoice_id": locked.pk, "reference": remote.reference},
        )
        return f"invoice {locked} is {locked.status}: Stripe's copy to be voided"
    done: list[str] = []
    if remote.hosted_url and locked.stripe_hosted_invoice_url != remote.hosted_url:
        Invoice.objects.filter(pk=locked.pk).update(stripe_hosted_invoice_url=remote.hosted_url)
        done.append("hosted invoice page stored")
    if status == "open" and remote.attempt_count > 0:
        done.extend(_failed_attempt_mail(locked, remote))
    if done:
        return f"invoice {locked}: " + ", ".join(done)
    return f"invoice {locked}: {locked.status}, Stripe {status}"


def _failed_attempt_mail(invoice: Invoice, remote: RemoteInvoice) -> list[str]:
    """An open provider invoice with payment attempts had its last one fail (a declined renewal or hosted-page
    payment): the customer is mailed once per attempt, however often the invoice is read (redelivered events, the
    resync). Its payment intent names no invoice of ours, so payment_remote_apply never mails the same decline."""
    if invoice.status not in INVOICE_PAYABLE_STATUSES or invoice.amount_remaining <= 0:
        return []
    payment_failed_email_queue(
        invoice=invoice,
        attempt_reference=f"{remote.reference}:{remote.attempt_count}",
        amount=invoice.amount_remaining,
        reason=remote.failure_message,
    )
    return [f"payment attempt {remote.attempt_count} failed, customer mailed"]


def _renewal_invoice_link(remote: RemoteInvoice) -> Invoice | None:
    """Our invoice for the period a provider subscription invoice bills (issued now if our renewal has not run)."""
    if not remote.subscription_reference:
        return None
    subscription = Subscription.objects.filter(stripe_subscription_id=remote.subscription_reference).first()
    if subscription is None:
        return None
    period_start = remote.period_start
    if period_start is None:
        return None
    link = SubscriptionInvoice.objects.filter(subscription=subscription, period_start=period_start).first()
    if link is None and period_start >= subscription.current_period_end:
        subscription_renew(subscription=subscription, as_of=period_start)
        link = SubscriptionInvoice.objects.filter(subscription=subscription, period_start=period_start).first()
    if link is None:
        return None
    Invoice.objects.filter(pk=link.invoice_id, stripe_invoice_id="").update(
        stripe_invoice_id=remote.reference, stripe_hosted_invoice_url=remote.hosted_url
    )
    return Invoice.objects.get(pk=link.invoice_id)


def payment_remote_apply(*, remote: RemotePayment) -> str:
    """A provider payment as it is now: succeeded -> the card payment on our invoice; failed -> a failed payment in
    the history. Payments without our invoice in their metadata (Stripe's own for subscription invoices) are left
    to the invoice events."""
    invoice = Invoice.objects.filter(pk=remote.invoice_id).first() if remote.invoice_id is not None else None
    if invoice is None:
        return f"payment intent {remote.reference} pays no invoice of ours: nothing to do"
    Customer.objects.select_for_update().get(pk=invoice.customer_id)
    locked = invoice_lock(invoice_id=invoice.pk)
    if remote.succeeded:
        return card_payment_record(invoice=locked, amount=remote.amount_received, reference=remote.reference)
    if remote.failed:
        reference = remote.failure_reference
        if not reference or Payment.objects.filter(method=PaymentMethod.CARD, provider_reference=reference).exists():
            return f"payment intent {remote.reference}: failure already recorded"
        failed = Payment.objects.create(
            invoice=locked,
            customer_id=locked.customer_id,
            amount=remote.amount,
            currency=locked.currency,
            method=PaymentMethod.CARD,
            status=PaymentStatus.FAILED,
            provider_reference=reference,
            failed_at=timezone.now(),
            failure_reason=(remote.failure_message or remote.failure_code or "declined")[:500],
        )
        payment_failed_email_queue(
            invoice=locked, attempt_reference=reference, amount=failed.amount, reason=failed.failure_reason
        )
        return f"invoice {locked}: card payment failed ({remote.failure_code or 'declined'})"
    return f"payment intent {remote.reference} is {remote.status}: nothing to do"


def refund_remote_apply(*, remote: RemoteRefund) -> str:
    """Each refund the provider made of a charge, as it is now (caller's transaction; the services lock customer,
    invoice, payment, refund). Ours (its metadata names our Refund, or we know its reference) succeeds or fails with
    it; one made elsewhere (Stripe's dashboard) becomes a credit note of ours whose whole total is that succeeded card
    refund, once per reference. The payment's refunded amount and status follow our refunds (billing.services.refunds);
    the invoice keeps its status. Returns what happened, for the event record and reports."""
    said, _ = _remote_refunds_apply(remote)
    return f"charge {remote.reference}: " + "; ".join(said or ["no refunds"])


def _remote_refunds_apply(remote: RemoteRefund) -> tuple[list[str], bool]:
    """What each refund of the charge did, and whether any changed our records."""
    payment = (
        Payment.objects.filter(method=PaymentMethod.CARD, provider_reference__in=remote.payment_references)
        .exclude(status=PaymentStatus.FAILED)
        .first()
    )
    said: list[str] = []
    changed = False
    for item in remote.refunds:
        ours = _our_refund(item)
        text, done = _our_refund_follow(ours, item) if ours else _foreign_refund_record(payment, item, remote)
        said.append(text)
        changed = changed or done
    return said, changed


def _our_refund(item: RemoteRefundItem) -> Refund | None:
    """The card refund of ours the provider's refund is: named by its metadata, or by its reference."""
    if item.claimed_refund_id.isdigit():
        claimed = Refund.objects.filter(pk=int(item.claimed_refund_id), method=RefundMethod.CARD).first()
        if claimed is not None:
            return claimed
    return Refund.objects.filter(method=RefundMethod.CARD, provider_reference=item.reference).first()


def _our_refund_follow(refund: Refund, item: RemoteRefundItem) -> tuple[str, bool]:
    """Our refund follows the provider's: pending -> succeeded or failed (failed: its money onto the balance)."""
    status = refund.status
    if item.status == "succeeded" and status == RefundStatus.PENDING:
        refund_succeed(refund=refund, reference=item.reference)
        return f"refund {refund.pk} succeeded ({item.reference})", True
    if item.status == "failed" and status == RefundStatus.PENDING:
        reason = item.failure_reason or "failed at the provider"
        refund_fail(refund=refund, reason=reason, reference=item.reference)
        return f"refund {refund.pk} failed ({reason}): credited to the balance", True
    if item.status != "pending" and item.status != status:
        # A failed one of ours was already credited to the balance, yet the provider returned the money (or one
        # it confirmed failed since): the customer got it twice or not at all. Staff settle it by hand.
        logger.error(
            "Refund %s is %s here but %s at the provider (%s).", refund.pk, status, item.status, item.reference
        )
        said = f"refund {refund.pk} is {status} here but {item.status} at the provider ({item.reference})"
        return f"{said}: staff to settle", False
    return f"refund {refund.pk}: {status}", False


def _foreign_refund_record(payment: Payment | None, item: RemoteRefundItem, remote: RemoteRefund) -> tuple[str, bool]:
    """A refund made at the provider, not asked for by us: a credit note once it succeeded (once per reference)."""
    if payment is None:
        return f"{item.reference} refunds no payment of ours: nothing to do", False
    if item.status != "succeeded":
        return f"{item.reference} made in {remote.provider_label} is {item.status}: recorded once it succeeds", False
    note = credit_note_issue_for_provider_refund(payment=payment, amount=item.amount, reference=item.reference)
    if note is None:
        return f"{item.reference} made in {remote.provider_label}: already recorded (or nothing left to credit)", False
    return (
        f"{item.reference} made in {remote.provider_label}: credit note {note.number} ({note.total} {note.currency})",
        True,
    )


def remote_object_apply(*, remote: RemoteObject) -> str:
    """Apply whatever a provider event was about (billing.webhooks); what changed, for the event record."""
    if isinstance(remote, RemoteInvoice):
        return invoice_remote_apply(remote=remote)
    if isinstance(remote, RemoteSubscription):
        return subscription_remote_apply(remote=remote)
    if isinstance(remote, RemotePayment):
        return payment_remote_apply(remote=remote)
    return refund_remote_apply(remote=remote)


# --- resync -------------------------------------------------------------------------------------------------------


@dataclass
class ResyncReport:
    """What `provider_resync` pulled and what it changed on our side."""

    pulled: dict[str, int] = field(default_factory=dict)
    changes: list[ProviderChange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def provider_resync(
    *, on_step: Callable[[str, int], None] | None = None, on_progress: Callable[[], None] | None = None
) -> ResyncReport:
    """The repair for missed webhooks: the provider syncs the plans and pulls everything back (Stripe: through
    dj-stripe), then our subscriptions, invoices and refunds follow what it holds; subscriptions that a failed
    subscribe left at the provider (their metadata names no row of ours) are canceled (those of a subscribe attempt
    are left to its compensation, `subscribe_attempts_reconcile`). Each object is reconciled in its own
    transaction, so one failure does not undo the rest; no row is locked while the provider is called. Reports what
    changed."""
    provider = payment_provider()
    pull = provider.resync_pull(on_step=on_step, on_progress=on_progress)
    report = ResyncReport(pulled=pull.pulled, changes=list(pull.changes), failures=list(pull.failures))
    if on_step:
        on_step("reconcile", len(pull.subscriptions) + len(pull.invoices) + len(pull.refunds))
    # Refunds last: the payments they refund are recorded by the invoices' reconciliation first.
    items: list[tuple[str, RemoteSubscription | RemoteInvoice | RemoteRefund]] = [
        *(("subscription", remote) for remote in pull.subscriptions),
        *(("invoice", remote) for remote in pull.invoices),
        *(("charge", remote) for remote in pull.refunds),
    ]
    for kind, remote in items:
        try:
            with transaction.atomic():
                if isinstance(remote, RemoteSubscription):
                    result = _subscription_reconcile(provider, remote)
                elif isinstance(remote, RemoteInvoice):
                    result = _invoice_reconcile(remote)
                else:
                    said, changed = _remote_refunds_apply(remote)
                    result = "; ".join(said) if changed else ""
            if result:
                report.changes.append(ProviderChange(kind, result, remote.reference))
        except (ApplicationError, ProviderRecordNotReady, ProviderError) as error:
            report.failures.append(f"{kind} {remote.reference}: {getattr(error, 'message', error)}")
        if on_progress:
            on_progress()
    return report


def _subscription_reconcile(provider: PaymentProvider, remote: RemoteSubscription) -> str:
    local = Subscription.objects.filter(stripe_subscription_id=remote.reference).first()
    if local is None:
        claimed = remote.claimed_subscription_id
        settled = timezone.now() - timedelta(minutes=ABANDONED_AFTER_MINUTES)
        created = remote.created_at or datetime.fromtimestamp(0, tz=UTC)
        # One made by a subscribe attempt is the attempt's to compensate (with its refund): `_attempt_subscription`.
        if claimed and not remote.claimed_attempt_id and not remote.ended and created < settled:
            # Ours never recorded it (a subscribe rolled back after creating it, and the clean-up failed too).
            # Young ones are left alone: their subscribe may still be committing.
            provider.subscription_abandoned_cancel(reference=remote.reference)
            return f"canceled in Stripe: left by a failed subscribe (ours {claimed} does not use it)"
        return ""
    before = (local.status, local.cancel_at_period_end, local.current_period_end)
    subscription_remote_apply(remote=remote)
    local.refresh_from_db()
    after = (local.status, local.cancel_at_period_end, local.current_period_end)
    return (
        ""
        if before == after
        else f"ours {local.pk}: {before[0]} -> {after[0]}"
        + (", cancels at period end" if after[1] and not before[1] else "")
    )


def _invoice_reconcile(remote: RemoteInvoice) -> str:
    local = Invoice.objects.filter(stripe_invoice_id=remote.reference).first()
    if local is None and not remote.from_subscription:
        return ""
    before = (local.status, local.amount_paid, local.stripe_hosted_invoice_url) if local else None
    invoice_remote_apply(remote=remote)
    local = local or Invoice.objects.filter(stripe_invoice_id=remote.reference).first()
    if local is None:
        return ""
    local.refresh_from_db()
    after = (local.status, local.amount_paid, local.stripe_hosted_invoice_url)
    if before == after:
        return ""
    return f"ours {local}: {before[0] if before else 'unlinked'} -> {after[0]}"
