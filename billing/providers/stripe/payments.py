"""Card payments through Stripe: the PaymentIntent a checkout answers with, and payments and refunds read back."""

from typing import Any

import stripe
from django.conf import settings

from billing.models import Invoice
from billing.providers.base import CardPayment, RemotePayment, RemoteRefund

from .client import META_INVOICE, stripe_amount, stripe_errors, stripe_idempotency_key, stripe_options, stripe_reference
from .customers import customer_stripe_ensure


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


def remote_refund(charge: Any) -> RemoteRefund:
    """A refunded charge as billing reads it: which payment of ours (by payment intent or invoice) and how much."""
    references = (stripe_reference(charge.get("payment_intent")), charge.get("invoice"))
    return RemoteRefund(
        reference=charge.id,
        payment_references=tuple(reference for reference in references if isinstance(reference, str) and reference),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        refunded_in_full=bool(charge.get("refunded")),
        provider_label="Stripe",
    )
