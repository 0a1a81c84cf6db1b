"""billing's background jobs: what a worker carries out after a change committed (billing_site.jobs runs them).

Every handler is idempotent (it re-reads, re-checks and acts only when still needed), so a redelivered or swept-up
job is harmless. A handler that raises is retried with backoff, then shown failed in the admin.
"""

from datetime import date

from djstripe import models as djstripe_models

from billing.enums import JobKind
from billing.models import CreditNote, Invoice
from billing.models.stripe import StripeWebhookEvent
from billing.models.subscriptions import Subscription
from billing.providers import payment_provider
from billing.services.coupons import coupon_provider_mirror
from billing.services.credit_note_pdf import credit_note_pdf_failure_record, credit_note_pdf_render
from billing.services.pdf import invoice_pdf_failure_record, invoice_pdf_render
from billing.services.refunds import refund_provider_create
from billing.services.subscriptions import subscribe_attempt_compensate, subscription_renew
from billing.services.webhook_events import webhook_event_process
from billing_site.jobs.registry import job_handler


@job_handler(JobKind.INVOICE_PDF_RENDER, max_attempts=10, lease_seconds=300)
def invoice_pdf_render_job(*, invoice_id: int) -> str:
    """Render the invoice's pending PDF revision (a newer revision or a ready PDF makes this a no-op)."""
    try:
        rendered = invoice_pdf_render(invoice=Invoice(pk=invoice_id))
    except Exception as error:
        invoice_pdf_failure_record(invoice_id=invoice_id, error=error)  # staff see why it is still pending
        raise
    return f"pdf {rendered.pdf_status} (revision {rendered.pdf_rendered_revision})"


@job_handler(JobKind.CREDIT_NOTE_PDF_RENDER, max_attempts=10, lease_seconds=300)
def credit_note_pdf_render_job(*, credit_note_id: int) -> str:
    """Render the credit note's pending PDF revision (a ready PDF makes this a no-op)."""
    try:
        rendered = credit_note_pdf_render(credit_note=CreditNote(pk=credit_note_id))
    except Exception as error:
        credit_note_pdf_failure_record(credit_note_id=credit_note_id, error=error)
        raise
    return f"pdf {rendered.pdf_status} (revision {rendered.pdf_rendered_revision})"


@job_handler(JobKind.COUPON_MIRROR, max_attempts=10, lease_seconds=300)
def coupon_mirror_job(*, coupon_id: int) -> str:
    """The payment provider's copy of a coupon (Stripe: a Stripe coupon); idempotent at the provider."""
    return coupon_provider_mirror(coupon_id=coupon_id)


@job_handler(JobKind.INVOICE_MIRROR, max_attempts=10, lease_seconds=900)
def invoice_mirror_job(*, invoice_id: int) -> str:
    """The payment provider's copy of an issued invoice (Stripe: its hosted page); idempotent at the provider."""
    mirrored = payment_provider().invoice_mirror(invoice=Invoice.objects.get(pk=invoice_id))
    return f"mirrored as {mirrored.stripe_invoice_id or '-'}"


@job_handler(JobKind.WEBHOOK_EVENT_PROCESS, max_attempts=3, lease_seconds=300)
def webhook_event_process_job(*, event_id: int, delivery_id: int | None = None) -> str:
    """Apply a recorded provider event once; a failure stays on the event, which has its own retry schedule."""
    delivery = djstripe_models.WebhookEventTrigger.objects.filter(pk=delivery_id).first() if delivery_id else None
    outcome = webhook_event_process(event=StripeWebhookEvent.objects.get(pk=event_id), delivery=delivery)
    return f"{outcome.status}{' (duplicate)' if outcome.duplicate else ''}: {outcome.result or outcome.error}"


@job_handler(JobKind.SUBSCRIPTION_RENEW, max_attempts=8, lease_seconds=300)
def subscription_renew_job(*, subscription_id: int, as_of: str) -> str:
    """One subscription's renewal run for a Seoul day (the renewals fan-out); safe to repeat that day."""
    outcome = subscription_renew(
        subscription=Subscription.objects.get(pk=subscription_id), as_of=date.fromisoformat(as_of)
    )
    done = ", ".join(outcome.actions) or "nothing due"
    return f"{done}: {outcome.held}" if outcome.held else done


@job_handler(JobKind.SUBSCRIPTION_PROVIDER_CANCEL, max_attempts=10, lease_seconds=900)
def subscription_provider_follow_job(*, subscription_id: int) -> str:
    """The provider's copy of a subscription made to match ours as it is now (ended, cancel at period end or not,
    paused, seats, plan); a no-op where it already does. (The kind keeps its first name: jobs already queued.)"""
    subscription = Subscription.objects.get(pk=subscription_id)
    done = payment_provider().subscription_follow(subscription=subscription)
    return f"{subscription.stripe_subscription_id or '-'}: {done}"


@job_handler(JobKind.SUBSCRIPTION_PROVIDER_LINK, max_attempts=10, lease_seconds=900)
def subscription_provider_link_job(*, subscription_id: int) -> str:
    """The provider's subscription made by a subscribe attempt names our subscription once it exists."""
    subscription = Subscription.objects.get(pk=subscription_id)
    payment_provider().subscription_link(subscription=subscription)
    return f"{subscription.stripe_subscription_id or '-'} linked"


@job_handler(JobKind.SUBSCRIBE_ATTEMPT_COMPENSATE, max_attempts=8, lease_seconds=900)
def subscribe_attempt_compensate_job(*, attempt_id: int) -> str:
    """Undo the provider's side of a subscribe attempt our records will not follow (billing.provider_reconcile
    retries it after the last attempt too)."""
    return subscribe_attempt_compensate(attempt_id=attempt_id)


@job_handler(JobKind.INVOICE_MIRROR_VOID, max_attempts=10, lease_seconds=900)
def invoice_mirror_void_job(*, invoice_id: int, reference: str) -> str:
    """Void the provider's copy of an invoice ours settled another way (it must not collect it too)."""
    payment_provider().invoice_mirror_void(invoice=Invoice.objects.get(pk=invoice_id), reference=reference)
    return f"{reference} voided"


@job_handler(JobKind.DUNNING_PROVIDER_RETRY, max_attempts=5, lease_seconds=900)
def dunning_provider_retry_job(*, invoice_id: int) -> str:
    """A dunning step's second charge of the card on file; a decline is its outcome (the provider's events bring
    the result back to the invoice), and a paid or void invoice makes it a no-op."""
    return payment_provider().invoice_payment_retry(invoice=Invoice.objects.get(pk=invoice_id))


@job_handler(JobKind.REFUND_PROVIDER_CREATE, max_attempts=10, lease_seconds=900)
def refund_provider_create_job(*, refund_id: int) -> str:
    """Give a pending card refund's money back through the provider (idempotent there: a rerun finds the refund
    the first run made). A provider that cannot refund, or refuses for good, fails it onto the credit balance;
    an unreachable one raises (503 `stripe_unavailable`) and the job is retried with backoff."""
    return refund_provider_create(refund_id=refund_id)
