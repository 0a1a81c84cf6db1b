"""Payment writes: money received against an invoice (bank transfers recorded by staff; card payments the payment
provider collected, recorded once per provider reference)."""

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.enums import INVOICE_PAYABLE_STATUSES, PaymentMethod, PaymentStatus
from billing.models import Invoice, Payment
from billing.money import amount_validate, currency_normalize
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from .invoice_emails import payment_received_email_queue
from .invoices import invoice_amount_apply, invoice_lock
from .subscription_states import subscription_invoice_paid_after_commit

logger = logging.getLogger(__name__)


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: int,
    method: str,
    currency: str | None = None,
    provider_reference: str = "",
    note: str = "",
    recorded_by: Any = None,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> Payment:
    """A succeeded payment against a payable invoice; paying the remainder makes the invoice paid (`now`: when it
    succeeded, the clock by default; a simulation passes its day).

    The invoice row is locked and re-checked, so two concurrent payments of the full amount pay it once:
    the second finds it paid and is refused.
    """
    if method not in PaymentMethod.values:
        raise ApplicationError(
            "invalid_payment_method", f"Unknown payment method {method!r}.", fields={"method": ["Unknown."]}
        )
    amount_validate(amount, field="amount")
    locked = invoice_lock(invoice_id=invoice.pk)
    if currency is not None and currency_normalize(currency) != locked.currency:
        raise ApplicationError(
            "currency_mismatch",
            f"Invoice {locked} is in {locked.currency}.",
            fields={"currency": [f"Must be {locked.currency}."]},
        )
    if locked.status not in INVOICE_PAYABLE_STATUSES:
        raise ApplicationError(
            "invoice_not_payable", f"Invoice {locked} is {locked.status}; it cannot take payments.", status_code=409
        )
    if amount > locked.amount_remaining:
        raise ApplicationError(
            "amount_exceeds_remaining",
            f"Invoice {locked} has {locked.amount_remaining} {locked.currency} left to pay.",
            fields={"amount": [f"At most {locked.amount_remaining}."]},
            status_code=409,
        )
    reference = provider_reference.strip()
    now = now or timezone.now()
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                invoice=locked,
                customer_id=locked.customer_id,
                amount=amount,
                currency=locked.currency,
                method=method,
                status=PaymentStatus.SUCCEEDED,
                provider_reference=reference,
                note=note.strip()[:500],
                recorded_by=recorded_by,
                received_at=received_at,
                succeeded_at=now,
            )
    except IntegrityError as error:
        raise ApplicationError(
            "duplicate_payment_reference",
            f"A {method} payment with reference {reference!r} is already recorded.",
            fields={"reference": ["Already recorded."]},
            status_code=409,
        ) from error
    if amount == locked.amount_remaining:
        # This payment settles the invoice: a subscription it bills may become active again (after commit).
        subscription_invoice_paid_after_commit(invoice_id=locked.pk)
    invoice_amount_apply(locked=locked, amount=amount, now=now)
    payment_received_email_queue(payment=payment)
    return payment


def payment_record_bank_transfer(
    *,
    invoice: Invoice,
    amount: int,
    actor: Any,
    reference: str = "",
    note: str = "",
    currency: str | None = None,
    received_at: datetime | None = None,
) -> Payment:
    """Staff record money that arrived by bank transfer (계좌이체) against an invoice (billing.add_payment).

    Always a person: the payment names who recorded it, so the system (`actor` None) cannot record one.
    """
    if actor is None:
        raise ApplicationError("permission_denied", "A staff user must record bank transfers.", status_code=403)
    permission_require(actor=actor, permission="billing.add_payment")
    return payment_record(
        invoice=invoice,
        amount=amount,
        method=PaymentMethod.BANK_TRANSFER,
        currency=currency,
        provider_reference=reference,
        note=note,
        recorded_by=actor,
        received_at=received_at,
    )


def card_payment_record(*, invoice: Invoice, amount: int, reference: str) -> str:
    """Record money the provider collected by card against our invoice, once per reference; returns what happened.

    More than the invoice still asks is capped at what it asks (logged); an invoice that can no longer take payments
    records nothing and says a refund is needed."""
    if Payment.objects.filter(method=PaymentMethod.CARD, provider_reference=reference).exists():
        return f"payment {reference} already recorded"
    fresh = Invoice.objects.get(pk=invoice.pk)
    if fresh.status not in INVOICE_PAYABLE_STATUSES:
        logger.error("Stripe collected %s for invoice %s, which is %s: refund it.", amount, fresh, fresh.status)
        return f"invoice {fresh} is {fresh.status}; {amount} collected by Stripe needs a refund"
    if amount > fresh.amount_remaining:
        logger.error("Stripe collected %s for invoice %s, which asks %s.", amount, fresh, fresh.amount_remaining)
        amount = fresh.amount_remaining
    payment_record(invoice=fresh, amount=amount, method=PaymentMethod.CARD, provider_reference=reference)
    return f"invoice {fresh} paid by card ({amount} {fresh.currency})"
