"""Our issued invoices in Stripe: the copy payable on Stripe's hosted page, and Stripe's invoices read back.

The copy follows our write: it is made after the issuing transaction commits, and `manage.py billing_sync_stripe
--invoice <number>` (or the resync) repairs it when Stripe was unreachable.
"""

import logging
from typing import Any

import stripe

from billing.enums import INVOICE_PAYABLE_STATUSES, JobKind, Language
from billing.models import Invoice
from billing.providers.base import RemoteInvoice
from billing.tax import vat_rate_percent
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_enqueue

from .client import (
    META_INVOICE,
    META_VAT,
    VAT_LINE_TEXT,
    payment_intent_id,
    stripe_amount,
    stripe_cleanup,
    stripe_errors,
    stripe_idempotency_key,
    stripe_options,
    stripe_reference,
    stripe_retrieve,
    stripe_timestamp_date,
)
from .customers import customer_stripe_ensure, default_payment_method

logger = logging.getLogger(__name__)


def invoice_stripe_create(*, invoice: Invoice) -> Invoice:
    """The Stripe copy of one of our issued invoices, to pay on Stripe's hosted page: a `send_invoice` invoice with
    our lines and VAT (named with its rate) as items, finalized; its id and hosted URL are stored on ours. Idempotent
    (same keys again)."""
    fresh = Invoice.objects.select_related("customer").get(pk=invoice.pk)
    if fresh.stripe_invoice_id or fresh.status not in INVOICE_PAYABLE_STATUSES:
        return fresh
    stripe_customer = customer_stripe_ensure(customer=fresh.customer)
    currency = fresh.currency.lower()
    with stripe_errors(action=f"create the Stripe invoice of {fresh}"):
        draft = stripe.Invoice.create(
            customer=stripe_customer.id,
            currency=currency,
            collection_method="send_invoice",
            days_until_due=max(fresh.days_until_due, 1),
            auto_advance=False,
            pending_invoice_items_behavior="exclude",
            description=f"{fresh.number} {fresh.description}".strip()[:500],
            # The VAT ours was issued with; Stripe's copy carries our exact VAT as an item, never its own rounding.
            metadata={
                META_INVOICE: str(fresh.pk),
                "billing_invoice_number": fresh.number or "",
                "billing_tax_treatment": fresh.tax_treatment,
                META_VAT: str(fresh.vat_rate_basis_points),
            },
            **stripe_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, "create")),
        )
        items = [
            (f"line-{line.pk}", line.amount, line.description)
            for line in fresh.lines.order_by("position", "id")
            if line.amount
        ]
        if fresh.tax:
            vat_text = VAT_LINE_TEXT.get(fresh.language, VAT_LINE_TEXT[Language.KOREAN])
            items.append(("vat", fresh.tax, f"{vat_text} {vat_rate_percent(fresh.vat_rate_basis_points)}%"))
        for name, amount, description in items:
            stripe.InvoiceItem.create(
                customer=stripe_customer.id,
                invoice=draft.id,
                amount=stripe_amount(amount=amount, currency=fresh.currency),
                currency=currency,
                description=description[:500],
                metadata={META_INVOICE: str(fresh.pk)},
                **stripe_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, name)),
            )
        finalized: Any = stripe.Invoice.finalize_invoice(
            draft.id,
            auto_advance=False,
            **stripe_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, "finalize")),
        )
    if finalized.get("total") != fresh.total:
        logger.error(
            "Stripe invoice %s totals %s, ours %s totals %s", finalized.id, finalized.get("total"), fresh, fresh.total
        )
        stripe_cleanup(invoice_id=finalized.id)
        raise ApplicationError(
            "stripe_amount_mismatch", f"Stripe's copy of {fresh} has another total.", status_code=502
        )
    Invoice.objects.filter(pk=fresh.pk, stripe_invoice_id="").update(
        stripe_invoice_id=finalized.id, stripe_hosted_invoice_url=finalized.get("hosted_invoice_url") or ""
    )
    fresh.refresh_from_db()
    return fresh


def _mirror_job_key(invoice: Invoice) -> str:
    return f"invoice_mirror:{invoice.pk}"


def invoice_stripe_schedule(*, invoice: Invoice) -> None:
    """Create the Stripe copy of `invoice` after the transaction that issued it commits: a job (billing.jobs) that a
    worker retries with backoff while Stripe fails; until then the invoice has no `stripe_url`."""
    job_enqueue(kind=JobKind.INVOICE_MIRROR, key=_mirror_job_key(invoice), payload={"invoice_id": invoice.pk})


def invoice_stripe_pending(*, invoice: Invoice) -> bool:
    """The Stripe copy of `invoice` is scheduled and not made yet (its job waits, runs or retries): its hosted page
    is coming. False for an invoice nobody mirrors (a renewal of Stripe's own, a checkout paid by PaymentIntent)."""
    if invoice.stripe_hosted_invoice_url:
        return False
    return Job.objects.filter(key=_mirror_job_key(invoice), status__in=(JobStatus.PENDING, JobStatus.RUNNING)).exists()


def invoice_stripe_void(*, invoice: Invoice, stripe_invoice_id: str) -> None:
    """Void Stripe's copy of an invoice of ours that was settled another way (bank transfer, void)."""
    with stripe_errors(action=f"void the Stripe copy of {invoice}"):
        stripe.Invoice.void_invoice(stripe_invoice_id, **stripe_options())


def remote_invoice(stripe_invoice: Any) -> RemoteInvoice:
    """A Stripe invoice as billing reads it: status, what was paid and by which payment, the period it bills."""
    parent = stripe_invoice.get("parent") or {}
    subscription_id = stripe_invoice.get("subscription") or (
        (parent.get("subscription_details") or {}).get("subscription")
    )
    lines = (stripe_invoice.get("lines") or {}).get("data") or []
    starts = [(line.get("period") or {}).get("start") for line in lines if line.get("type") == "subscription"]
    return RemoteInvoice(
        reference=stripe_invoice.id,
        status=stripe_invoice.get("status") or "",
        amount_paid=int(stripe_invoice.get("amount_paid") or 0),
        payment_reference=payment_intent_id(stripe_invoice),
        hosted_url=stripe_invoice.get("hosted_invoice_url") or "",
        subscription_reference=str(subscription_id or ""),
        from_subscription=bool(stripe_invoice.get("subscription") or stripe_invoice.get("parent")),
        period_start=stripe_timestamp_date(starts[0] if starts else stripe_invoice.get("period_start")),
        attempt_count=int(stripe_invoice.get("attempt_count") or 0),
        failure_message=_last_payment_error(stripe_invoice),
    )


def _last_payment_error(stripe_invoice: Any) -> str:
    """Why the last payment attempt failed, when the invoice carries its payment intent expanded (older API versions,
    an expanded read); "" otherwise: not worth another call to Stripe."""
    intents = [stripe_invoice.get("payment_intent")] + [
        (payment.get("payment") or {}).get("payment_intent")
        for payment in (stripe_invoice.get("payments") or {}).get("data", [])
    ]
    for intent in intents:
        if intent and not isinstance(intent, str):
            message = (intent.get("last_payment_error") or {}).get("message")
            if message:
                return str(message)
    return ""


def invoice_stripe_read(*, invoice: Invoice) -> RemoteInvoice | None:
    """Stripe's current state of our invoice's copy (None when Stripe has no such invoice)."""
    with stripe_errors(action=f"read the Stripe invoice of {invoice}"):
        current = stripe_retrieve(stripe.Invoice, invoice.stripe_invoice_id)
    return None if current is None else remote_invoice(current)


def invoice_stripe_pay_retry(*, invoice: Invoice) -> str:
    """Charge the customer's default card again for the Stripe copy of an unpaid invoice of ours (a dunning step).

    A decline is an outcome (said in the answer), not an error: Stripe's invoice events bring it, or the payment,
    back to our invoice (billing.services.provider_sync). Idempotent: an invoice paid, void or no longer open is left
    alone, and the request's key names the attempt Stripe counted before it, so a lost answer repeated is one charge.
    Stripe unreachable raises 503 (the job retries).
    """
    fresh = Invoice.objects.select_related("customer").get(pk=invoice.pk)
    if fresh.status not in INVOICE_PAYABLE_STATUSES or fresh.amount_remaining <= 0:
        return f"{fresh} is {fresh.status}: nothing to charge"
    if not fresh.stripe_invoice_id:
        return f"{fresh} has no Stripe copy: no card to charge"
    with stripe_errors(action=f"charge the card again for {fresh}"):
        current: Any = stripe_retrieve(stripe.Invoice, fresh.stripe_invoice_id)
        if current is None or current.get("status") != "open":
            status = "missing" if current is None else current.get("status")
            return f"{fresh}: Stripe's copy {fresh.stripe_invoice_id} is {status}, not charged"
        stripe_customer_id = stripe_reference(current.get("customer"))
        method = default_payment_method(stripe_customer_id) if stripe_customer_id else None
        if not method:
            return f"{fresh}: no card on file"
        attempt = int(current.get("attempt_count") or 0)
        key = stripe_idempotency_key("invoice", fresh.pk, f"retry-{attempt}")
        try:
            paid: Any = stripe.Invoice.pay(
                fresh.stripe_invoice_id, payment_method=method, **stripe_options(idempotency_key=key)
            )
        except stripe.CardError as error:
            return f"{fresh}: not paid, card declined ({error.code or 'card_declined'})"
    if paid.get("status") != "paid":
        return f"{fresh}: not paid, Stripe's copy is {paid.get('status')}"
    return f"{fresh}: Stripe paid ({paid.get('amount_paid') or 0} paid)"
