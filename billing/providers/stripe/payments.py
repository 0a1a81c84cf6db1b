"""Card payments through Stripe: the PaymentIntent a checkout answers with, refunds of our credit notes, and
payments and refunds (ours and those made in Stripe's dashboard) read back."""

import logging
from typing import Any

import stripe
from django.conf import settings

from billing.models import Invoice, Refund
from billing.providers.base import (
    CardPayment,
    RefundOutcome,
    RefundStatusName,
    RemotePayment,
    RemoteRefund,
    RemoteRefundItem,
)

from .client import (
    META_INVOICE,
    payment_intent_id,
    stripe_amount,
    stripe_errors,
    stripe_idempotency_key,
    stripe_options,
    stripe_reference,
    stripe_retrieve,
)
from .customers import customer_stripe_ensure

logger = logging.getLogger(__name__)

# On a Stripe refund we asked for: the Refund of ours it returns the money of.
META_REFUND = "billing_refund_id"
# Stripe's refund statuses -> ours. requires_action (some non-card methods) waits like pending; canceled never
# returned the money.
REFUND_STATUS_FROM_STRIPE: dict[str, RefundStatusName] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


def invoice_payment_intent_create(*, invoice: Invoice) -> CardPayment:
    """A PaymentIntent for what the invoice still asks, tied to it by metadata; the same again for a retry."""
    stripe_customer = customer_stripe_ensure(customer=invoice.customer)
    amount = stripe_amount(amount=invoice.amount_remaining, currency=invoice.currency)
    params = {
        "amount": amount,
        "currency": invoice.currency.lower(),
        "customer": stripe_customer.id,
        "payment_method_types": ["card"],
        "metadata": {META_INVOICE: str(invoice.pk), "billing_invoice_number": invoice.number or ""},
    }
    with stripe_errors(action="start the card payment"):
        intent: Any = stripe.PaymentIntent.create(
            **params,
            **stripe_options(idempotency_key=stripe_idempotency_key("invoice", invoice.pk, "payment-intent", params)),
        )
    return CardPayment(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        amount=amount,
        currency=invoice.currency,
        status=intent.get("status") or "",
        publishable_key=getattr(settings, "STRIPE_PUBLISHABLE_KEY", ""),
    )


def remote_payment(payment_intent: Any) -> RemotePayment:
    """A PaymentIntent as billing reads it: the invoice of ours its metadata names, and how it ended."""
    invoice_id = (payment_intent.get("metadata") or {}).get(META_INVOICE)
    status = payment_intent.get("status") or ""
    error = payment_intent.get("last_payment_error") or {}
    return RemotePayment(
        reference=payment_intent.id,
        invoice_id=int(invoice_id) if invoice_id and str(invoice_id).isdigit() else None,
        status=status,
        succeeded=status == "succeeded",
        amount=int(payment_intent.get("amount") or 0),
        amount_received=int(payment_intent.get("amount_received") or payment_intent.get("amount") or 0),
        failed=status in ("requires_payment_method", "canceled") and bool(error),
        failure_reference=stripe_reference(payment_intent.get("latest_charge")),
        failure_code=error.get("code") or "",
        failure_message=error.get("message") or "",
    )


def remote_refund(charge: Any, refunds: list[Any] | None = None) -> RemoteRefund:
    """A refunded charge as billing reads it: which payment of ours (by payment intent, charge or invoice), how
    much, and each of its refunds (listed from Stripe unless given: a charge carries them only when expanded)."""
    references = (stripe_reference(charge.get("payment_intent")), charge.id, charge.get("invoice"))
    if refunds is None:
        listing: Any = stripe.Refund.list(charge=charge.id, limit=100, **stripe_options())
        refunds = list(listing.auto_paging_iter())
    return RemoteRefund(
        reference=charge.id,
        payment_references=tuple(reference for reference in references if isinstance(reference, str) and reference),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        refunded_in_full=bool(charge.get("refunded")),
        provider_label="Stripe",
        refunds=tuple(_refund_item(refund) for refund in sorted(refunds, key=lambda r: (r.get("created") or 0, r.id))),
    )


def remote_refund_of(stripe_refund: Any) -> RemoteRefund:
    """A refund's change (charge.refund.updated: it failed or went through later) read as its whole charge."""
    charge: Any = stripe_retrieve(stripe.Charge, stripe_reference(stripe_refund.get("charge")))
    if charge is None:
        return RemoteRefund(
            reference=stripe_reference(stripe_refund.get("charge")),
            payment_references=tuple(filter(None, (stripe_reference(stripe_refund.get("payment_intent")),))),
            amount_refunded=0,
            refunded_in_full=False,
            provider_label="Stripe",
            refunds=(_refund_item(stripe_refund),),
        )
    return remote_refund(charge)


def _refund_target(reference: str) -> dict[str, Any]:
    """What Stripe refunds for a card payment of ours: its PaymentIntent (or charge). Payments of a Stripe invoice
    whose PaymentIntent was not known when recorded keep the invoice's id: its payment is read from the invoice."""
    if reference.startswith("pi_"):
        return {"payment_intent": reference}
    if reference.startswith("ch_"):
        return {"charge": reference}
    if reference.startswith("in_"):
        stripe_invoice: Any = stripe_retrieve(stripe.Invoice, reference)
        if stripe_invoice is not None:
            intent = payment_intent_id(stripe_invoice)
            if intent:
                return {"payment_intent": intent}
            charge = stripe_reference(stripe_invoice.get("charge"))
            if charge:
                return {"charge": charge}
    return {}


def _refund_outcome(stripe_refund: Any) -> RefundOutcome:
    status = REFUND_STATUS_FROM_STRIPE.get(stripe_refund.get("status") or "", "pending")
    reason = stripe_refund.get("failure_reason") or ("canceled" if stripe_refund.get("status") == "canceled" else "")
    return RefundOutcome(reference=stripe_refund.id, status=status, failure_reason=str(reason or ""))


def refund_stripe_create(*, refund: Refund) -> RefundOutcome:
    """Refund a card payment of ours in Stripe for one Refund of ours, once: a retried job finds the refund its
    first run made (the idempotency key within Stripe's 24 hours, its metadata after). Stripe refusing for good (a
    charge already refunded, an amount above what is left, a disputed charge...) is a failed outcome; Stripe
    unreachable raises 503 `stripe_unavailable` (its key refused too), so the job tries again."""
    payment = refund.payment
    target = _refund_target(payment.provider_reference) if payment is not None else {}
    if payment is None or not target:
        reference = payment.provider_reference if payment is not None else ""
        return RefundOutcome(reference="", status="failed", failure_reason=f"no Stripe payment to refund {reference!r}")
    with stripe_errors(action="refund the card payment"):
        try:
            return _refund_find_or_create(refund, target)
        except (stripe.InvalidRequestError, stripe.CardError, stripe.IdempotencyError) as error:
            logger.warning("Stripe refused refund %s of payment %s: %s", refund.pk, payment.pk, error)
            message = error.user_message or str(error)
            reason = f"Stripe refused: {message}"[:500]
            if isinstance(error, stripe.InvalidRequestError):
                covered = _charge_refunds_covering(refund, target, code=str(error.code or ""))
                if covered is not None:
                    # Money already returned (a refund made in the dashboard whose event has not arrived yet):
                    # failing onto the balance would give it back twice. The service matches it instead.
                    return RefundOutcome(
                        reference="", status="pending", failure_reason=reason, already_refunded=covered
                    )
            # Permanent: asking again gets the same answer. The refund fails and its money goes onto the balance.
            return RefundOutcome(reference="", status="failed", failure_reason=reason)


# Stripe's codes for a refund refused because the charge's refunds already take what it asks.
ALREADY_REFUNDED_CODES = frozenset({"charge_already_refunded", "amount_too_large"})


def _charge_refunds_covering(refund: Refund, target: dict[str, Any], *, code: str) -> RemoteRefund | None:
    """The refunded charge with all its refunds when Stripe refused `refund` because they already take (part of)
    what it asks: its code says so, or the charge's refunded amount leaves less than the refund. None otherwise."""
    charge_id = target.get("charge") or ""
    if not charge_id:
        intent: Any = stripe_retrieve(stripe.PaymentIntent, target.get("payment_intent") or "")
        charge_id = stripe_reference(intent.get("latest_charge")) if intent is not None else ""
    charge: Any = stripe_retrieve(stripe.Charge, charge_id)
    if charge is None:
        return None
    asked = stripe_amount(amount=refund.amount, currency=refund.currency)
    refunded = int(charge.get("amount_refunded") or 0)
    if code not in ALREADY_REFUNDED_CODES and (refunded == 0 or refunded + asked <= int(charge.get("amount") or 0)):
        return None
    return remote_refund(charge)


def _refund_find_or_create(refund: Refund, target: dict[str, Any]) -> RefundOutcome:
    listing: Any = stripe.Refund.list(**target, limit=100, **stripe_options())
    for existing in listing.auto_paging_iter():
        if (existing.get("metadata") or {}).get(META_REFUND) == str(refund.pk):
            return _refund_outcome(existing)
    params: dict[str, Any] = {
        **target,
        "amount": stripe_amount(amount=refund.amount, currency=refund.currency),
        "metadata": {META_REFUND: str(refund.pk), META_INVOICE: str(refund.invoice_id)},
    }
    created: Any = stripe.Refund.create(
        **params, **stripe_options(idempotency_key=stripe_idempotency_key("refund", refund.pk, "create"))
    )
    return _refund_outcome(created)


def _refund_item(stripe_refund: Any) -> RemoteRefundItem:
    outcome = _refund_outcome(stripe_refund)
    return RemoteRefundItem(
        reference=outcome.reference,
        amount=int(stripe_refund.get("amount") or 0),
        status=outcome.status,
        claimed_refund_id=str((stripe_refund.get("metadata") or {}).get(META_REFUND) or ""),
        failure_reason=outcome.failure_reason,
    )
