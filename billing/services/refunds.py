"""Refunds: the money a credit note gives back (to the card through the payment provider, by an outgoing bank
transfer, or onto the credit balance), and the card refund's life: pending -> succeeded | failed.

A failed card refund is replaced by a balance refund of the same amount (and a ledger entry), so what the credit
note gave back stays given back and the invoice's `amount_refunded` never moves backwards. Lock order everywhere:
customer, invoice, payments, refund.
"""

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.enums import BalanceEntryKind, JobKind, PaymentMethod, PaymentStatus, RefundMethod, RefundStatus
from billing.models import CreditNote, Customer, Payment, Refund
from billing.providers import payment_provider
from billing.providers.base import RemoteRefund, RemoteRefundItem
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue

from .balance import balance_entry_write

logger = logging.getLogger(__name__)

TEXT_MAX_LENGTH = 500


def _payment_refunded_add(payment: Payment, amount: int, *, moment: datetime) -> None:
    """A locked payment's refunds (pending or succeeded) grow by `amount` (or shrink: a negative one)."""
    payment.amount_refunded += amount
    if payment.amount_refunded == payment.amount:
        payment.status, payment.refunded_at = PaymentStatus.REFUNDED, moment
    elif payment.status == PaymentStatus.REFUNDED:
        payment.status, payment.refunded_at = PaymentStatus.SUCCEEDED, None
    payment.save(update_fields=["amount_refunded", "status", "refunded_at", "updated_at"])


def refunds_to_payments(
    *,
    credit_note: CreditNote,
    parts: list[tuple[Payment, int]],
    bank_reference: str,
    actor: Any,
    moment: datetime,
) -> list[Refund]:
    """The refunds of a credit note over its invoice's locked payments: back to the card (pending, asked of the
    provider by a job once this commits) or by the bank transfer staff made (succeeded, its reference; a second
    payment refunded by the same transfer gets the reference with " (2)" and so on, references being unique)."""
    refunds: list[Refund] = []
    bank_refunds = 0
    for payment, amount in parts:
        common = {
            "credit_note": credit_note,
            "invoice_id": credit_note.invoice_id,
            "customer_id": credit_note.customer_id,
            "payment": payment,
            "amount": amount,
            "currency": credit_note.currency,
            "created_by": actor,
        }
        if payment.method == PaymentMethod.CARD:
            refund = Refund.objects.create(**common, method=RefundMethod.CARD, status=RefundStatus.PENDING)
            job_enqueue(
                kind=JobKind.REFUND_PROVIDER_CREATE, key=f"refund:{refund.pk}", payload={"refund_id": refund.pk}
            )
        else:
            bank_refunds += 1
            reference = bank_reference if bank_refunds == 1 else f"{bank_reference} ({bank_refunds})"
            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        **common,
                        method=RefundMethod.BANK_TRANSFER,
                        status=RefundStatus.SUCCEEDED,
                        succeeded_at=moment,
                        provider_reference=reference,
                    )
            except IntegrityError as error:
                raise ApplicationError(
                    "duplicate_refund_reference",
                    f"A bank transfer refund with reference {reference!r} is already recorded.",
                    fields={"bank_reference": ["Already recorded."]},
                    status_code=409,
                ) from error
        _payment_refunded_add(payment, amount, moment=moment)
        refunds.append(refund)
    return refunds


def refund_to_balance(
    *, credit_note: CreditNote, customer: Customer, amount: int, actor: Any, moment: datetime
) -> Refund:
    """A credit note's money given back onto the (locked) customer's credit balance: a refund and its entry."""
    refund = Refund.objects.create(
        credit_note=credit_note,
        invoice_id=credit_note.invoice_id,
        customer=customer,
        amount=amount,
        currency=credit_note.currency,
        method=RefundMethod.BALANCE,
        status=RefundStatus.SUCCEEDED,
        succeeded_at=moment,
        created_by=actor,
    )
    balance_entry_write(
        customer=customer,
        amount=amount,
        kind=BalanceEntryKind.CREDIT_NOTE,
        currency=credit_note.currency,
        reason=f"Credit note {credit_note.number}",
        invoice=credit_note.invoice,
        credit_note=credit_note,
        refund=refund,
        actor=actor,
    )
    return refund


def refund_made_at_provider(
    *, credit_note: CreditNote, payment: Payment, amount: int, reference: str, moment: datetime
) -> Refund:
    """A card refund the provider already made (not asked by us): succeeded at once with the provider's reference."""
    refund = Refund.objects.create(
        credit_note=credit_note,
        invoice_id=credit_note.invoice_id,
        customer_id=credit_note.customer_id,
        payment=payment,
        amount=amount,
        currency=credit_note.currency,
        method=RefundMethod.CARD,
        status=RefundStatus.SUCCEEDED,
        succeeded_at=moment,
        provider_reference=reference,
    )
    _payment_refunded_add(payment, amount, moment=moment)
    return refund


def _refund_lock(refund_id: int) -> tuple[Customer, Payment | None, Refund]:
    """Customer, payment and refund rows of a refund, locked in the order every money service takes them."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("_refund_lock must run inside a transaction.")
    customer_id, payment_id = Refund.objects.values_list("customer_id", "payment_id").get(pk=refund_id)
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    payment = None if payment_id is None else Payment.objects.select_for_update().get(pk=payment_id)
    return customer, payment, Refund.objects.select_for_update().get(pk=refund_id)


@transaction.atomic
def refund_succeed(*, refund: Refund, reference: str = "", now: datetime | None = None) -> Refund:
    """pending -> succeeded (the provider confirmed it); a succeeded one is returned as it is. A failed one cannot
    succeed any more (409 `refund_not_pending`): its money is on the credit balance already."""
    _, _, locked = _refund_lock(refund.pk)
    if locked.status == RefundStatus.SUCCEEDED:
        return locked
    if locked.status != RefundStatus.PENDING:
        raise ApplicationError("refund_not_pending", f"Refund {locked.pk} is {locked.status}.", status_code=409)
    locked.status = RefundStatus.SUCCEEDED
    locked.succeeded_at = now or timezone.now()
    locked.provider_reference = reference.strip() or locked.provider_reference
    locked.save(update_fields=["status", "succeeded_at", "provider_reference", "updated_at"])
    return locked


@transaction.atomic
def refund_fail(*, refund: Refund, reason: str, now: datetime | None = None, reference: str = "") -> Refund:
    """pending -> failed: the money goes onto the customer's credit balance instead (a balance refund replacing
    this one, and its ledger entry), so the invoice's refunded amount stands; the payment may be refunded again.
    A failed one is returned as it is; a succeeded one cannot fail (409 `refund_not_pending`)."""
    customer, payment, locked = _refund_lock(refund.pk)
    if locked.status == RefundStatus.FAILED:
        return locked
    if locked.status != RefundStatus.PENDING:
        raise ApplicationError("refund_not_pending", f"Refund {locked.pk} is {locked.status}.", status_code=409)
    moment = now or timezone.now()
    locked.status = RefundStatus.FAILED
    locked.failed_at = moment
    locked.failure_reason = (reason.strip() or "The provider did not refund it.")[:TEXT_MAX_LENGTH]
    locked.provider_reference = reference.strip() or locked.provider_reference
    locked.save(update_fields=["status", "failed_at", "failure_reason", "provider_reference", "updated_at"])
    if payment is not None:
        _payment_refunded_add(payment, -locked.amount, moment=moment)
    replacement = Refund.objects.create(
        credit_note_id=locked.credit_note_id,
        invoice_id=locked.invoice_id,
        customer=customer,
        amount=locked.amount,
        currency=locked.currency,
        method=RefundMethod.BALANCE,
        status=RefundStatus.SUCCEEDED,
        succeeded_at=moment,
        replaces=locked,
        note=f"Card refund {locked.pk} failed: {locked.failure_reason}"[:TEXT_MAX_LENGTH],
    )
    balance_entry_write(
        customer=customer,
        amount=locked.amount,
        kind=BalanceEntryKind.REFUND_FAILED,
        currency=locked.currency,
        reason=f"Card refund {locked.pk} failed: {locked.failure_reason}",
        invoice=locked.invoice,
        credit_note=locked.credit_note,
        refund=replacement,
    )
    return locked


@transaction.atomic
def refund_match_provider_refunds(
    *, refund: Refund, remote: RemoteRefund, refused_reason: str, now: datetime | None = None
) -> Refund:
    """The provider refused a pending card refund because the payment's refunds already take what it asks (staff
    refunded in the provider's dashboard, its event not here yet). That money is returned already, so the refund
    never fails onto the balance (twice): it becomes the succeeded refund the provider made that no refund of ours
    claims, of at least its amount (the closest one). Without such a refund it stays pending, its reason saying
    staff must look, and an error is logged. Only a pending refund changes."""
    _, _, locked = _refund_lock(refund.pk)
    if locked.status != RefundStatus.PENDING:
        return locked
    match = _unclaimed_provider_refund(locked, remote)
    if match is None:
        locked.failure_reason = (
            f"{refused_reason or 'The provider refused it'}: the payment is already refunded there and no refund "
            "made there matches this one. Staff must check the payment at the provider; not credited to the balance."
        )[:TEXT_MAX_LENGTH]
        locked.save(update_fields=["failure_reason", "updated_at"])
        logger.error(
            "Card refund %s (%s %s) was refused as already refunded (%s) and matches no refund made at the provider: "
            "left pending for staff.",
            locked.pk,
            locked.amount,
            locked.currency,
            remote.reference,
        )
        return locked
    locked.status = RefundStatus.SUCCEEDED
    locked.succeeded_at = now or timezone.now()
    locked.provider_reference = match.reference
    locked.note = f"Made at the provider as {match.reference} ({refused_reason or 'ours refused'})"[:TEXT_MAX_LENGTH]
    locked.save(update_fields=["status", "succeeded_at", "provider_reference", "note", "updated_at"])
    if match.amount > locked.amount:
        # The customer got more back than this refund records: no credit note of ours says so (its reference is
        # taken by this refund). Staff issue what is missing.
        logger.error(
            "Card refund %s (%s) is matched to %s, which returned %s: %s not recorded here.",
            locked.pk,
            locked.amount,
            match.reference,
            match.amount,
            match.amount - locked.amount,
        )
    return locked


def _unclaimed_provider_refund(refund: Refund, remote: RemoteRefund) -> RemoteRefundItem | None:
    """The provider's succeeded refund this one is: one claiming it by metadata, else the smallest of at least its
    amount that no refund of ours claims or carries the reference of."""
    succeeded = [item for item in remote.refunds if item.status == "succeeded"]
    for item in succeeded:
        if item.claimed_refund_id == str(refund.pk):
            return item
    claimed = {item.claimed_refund_id for item in succeeded if item.claimed_refund_id.isdigit()}
    claimed_ours = {
        str(pk) for pk in Refund.objects.filter(pk__in=[int(c) for c in claimed]).values_list("pk", flat=True)
    }
    known = set(
        Refund.objects.filter(
            method=RefundMethod.CARD, provider_reference__in=[item.reference for item in succeeded]
        ).values_list("provider_reference", flat=True)
    )
    candidates = [
        item
        for item in succeeded
        if item.amount >= refund.amount and item.reference not in known and item.claimed_refund_id not in claimed_ours
    ]
    return min(candidates, key=lambda item: item.amount, default=None)


@transaction.atomic
def _refund_reference_store(*, refund_id: int, reference: str) -> Refund:
    """The provider took a card refund and will say later how it ended: keep its reference (lock, re-check)."""
    _, _, locked = _refund_lock(refund_id)
    if locked.status == RefundStatus.PENDING and reference and not locked.provider_reference:
        locked.provider_reference = reference
        locked.save(update_fields=["provider_reference", "updated_at"])
    return locked


def refund_provider_create(*, refund_id: int) -> str:
    """The REFUND_PROVIDER_CREATE job: ask the payment provider for a pending card refund, then record its answer.

    No row is locked while the provider is called (it is idempotent per refund: the job may run again); the answer
    is applied afterwards with the rows locked and re-checked. A provider that cannot refund cards
    (`refund_not_supported`) fails the refund, so its money goes to the credit balance.
    """
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.method != RefundMethod.CARD or refund.status != RefundStatus.PENDING:
        return f"refund {refund.pk} is {refund.method} {refund.status}: nothing to ask"
    if refund.provider_reference:
        return f"refund {refund.pk} is pending at the provider as {refund.provider_reference}"
    try:
        outcome = payment_provider().refund_create(refund=refund)
    except ApplicationError as error:
        if error.code != "refund_not_supported":
            raise
        failed = refund_fail(refund=refund, reason=error.message)
        return f"refund {failed.pk} failed ({error.code}); its amount went to the credit balance"
    if outcome.already_refunded is not None:
        matched = refund_match_provider_refunds(
            refund=refund, remote=outcome.already_refunded, refused_reason=outcome.failure_reason
        )
        if matched.status == RefundStatus.SUCCEEDED:
            return f"refund {matched.pk} refused as already refunded: matched to {matched.provider_reference}"
        return f"refund {matched.pk} refused as already refunded, matching none: left pending for staff"
    if outcome.status == "succeeded":
        refund_succeed(refund=refund, reference=outcome.reference)
    elif outcome.status == "failed":
        refund_fail(refund=refund, reason=outcome.failure_reason, reference=outcome.reference)
        logger.warning("Card refund %s failed at the provider: %s", refund.pk, outcome.failure_reason)
    else:
        _refund_reference_store(refund_id=refund.pk, reference=outcome.reference)
    return f"refund {refund.pk} {outcome.status} ({outcome.reference or '-'})"
