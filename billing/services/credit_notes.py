"""Credit notes (수정 청구서): corrections of issued invoices, full or partial, by line or by amount, with VAT taken
back in proportion, and where their money goes (off what the invoice asks, back to the customer, or the balance).

An issued invoice never changes; a credit note is its own numbered document (YYYYMMDD-CNNNN) and never changes
either. The arithmetic is billing.services.credit_note_amounts; the refunds billing.services.refunds. Lock order:
customer, invoice, payments, the day's number counter (taken last).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.enums import (
    INVOICE_PAYABLE_STATUSES,
    CreditNoteReason,
    CreditSettlement,
    InvoiceLineKind,
    InvoiceStatus,
    JobKind,
    PaymentMethod,
    PaymentStatus,
    RefundMethod,
)
from billing.models import CreditNote, CreditNoteLine, Customer, Invoice, InvoiceLine, Payment, Refund
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.money import amount_validate
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue
from billing_site.permissions import permission_require

from .credit_note_amounts import CreditedSoFar, CreditSplit, credit_split, refunds_over_payments, spread
from .invoice_emails import credit_note_issued_email_queue
from .invoices import invoice_lock, invoice_paid_set, invoice_pdf_outdated
from .numbering import billing_today, credit_note_number_allocate
from .refunds import refund_made_at_provider, refund_to_balance, refunds_to_payments
from .subscription_states import subscription_invoice_paid_after_commit
from .subscriptions.proration import replaced_period_link

logger = logging.getLogger(__name__)

MEMO_MAX_LENGTH = 500
REFERENCE_MAX_LENGTH = 200  # leaves room for the " (2)" of a transfer that refunds several payments
CREDITABLE_STATUSES = frozenset({InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE, InvoiceStatus.PAID})


@dataclass(frozen=True)
class CreditLineInput:
    """The supply amount (공급가액) to take back from one line of the invoice, > 0."""

    invoice_line_id: int
    amount: int


def _one_line(value: object, *, field: str, max_length: int, code: str) -> str:
    text = value.strip() if isinstance(value, str) else None
    if text is None or len(text) > max_length or any(character in text for character in "\r\n\x00"):
        raise ApplicationError(
            code, f"{field} is one line of at most {max_length} characters.", fields={field: ["One line."]}
        )
    return text


def _request_check(
    *, reason: str, memo: str, settlement: str, lines: Sequence[CreditLineInput] | None, amount: int | None
) -> str:
    if reason not in CreditNoteReason.values:
        raise ApplicationError(
            "invalid_reason",
            f"reason is one of {', '.join(CreditNoteReason.values)}.",
            fields={"reason": [f"One of {', '.join(CreditNoteReason.values)}."]},
        )
    if settlement not in CreditSettlement.values:
        raise ApplicationError(
            "validation_error",
            f"settlement is one of {', '.join(CreditSettlement.values)}.",
            fields={"settlement": [f"One of {', '.join(CreditSettlement.values)}."]},
        )
    if lines is not None and amount is not None:
        raise ApplicationError(
            "validation_error",
            "Credit either lines or an amount, not both.",
            fields={"lines": ["Not with amount."], "amount": ["Not with lines."]},
        )
    if lines is not None and not lines:
        raise ApplicationError("validation_error", "lines is empty.", fields={"lines": ["At least one line."]})
    if amount is not None:
        amount_validate(amount, field="amount")
    return _one_line(memo, field="memo", max_length=MEMO_MAX_LENGTH, code="invalid_memo")


def _lines_left(locked: Invoice) -> list[tuple[InvoiceLine, int]]:
    """The invoice's creditable lines (positive charges: items and metered usage) and the supply amount each has left
    to credit."""
    charges = (InvoiceLineKind.ITEM, InvoiceLineKind.USAGE)
    lines = list(locked.lines.filter(kind__in=charges, amount__gt=0).order_by("position", "id"))
    credited = dict(
        CreditNoteLine.objects.filter(invoice_line__in=lines)
        .values("invoice_line")
        .annotate(credited=Sum("amount"))
        .values_list("invoice_line", "credited")
    )
    return [(line, line.amount - (credited.get(line.pk) or 0)) for line in lines]


def _so_far(locked: Invoice) -> CreditedSoFar:
    tax_credited = locked.credit_notes.aggregate(tax=Sum("tax"))["tax"] or 0
    return CreditedSoFar(
        invoice_tax=locked.tax, invoice_total=locked.total, credited=locked.amount_credited, tax_credited=tax_credited
    )


def _exceeds(what: str, left: int, currency: str, field: str) -> ApplicationError:
    return ApplicationError(
        "amount_exceeds_creditable",
        f"{what}: {left} {currency} is left to credit.",
        fields={field: [f"At most {left}."]},
        status_code=409,
    )


def _lines_resolve(
    locked: Invoice, requested: Sequence[CreditLineInput], so_far: CreditedSoFar
) -> tuple[int, list[tuple[InvoiceLine, int]]]:
    """The note's total and its lines, from the supply amounts asked per invoice line."""
    left = {line.pk: (line, rest) for line, rest in _lines_left(locked)}
    chosen: list[tuple[InvoiceLine, int]] = []
    for index, item in enumerate(requested):
        field = f"lines[{index}]"
        entry = left.get(item.invoice_line_id) if isinstance(item.invoice_line_id, int) else None
        if entry is None or any(line.pk == item.invoice_line_id for line, _ in chosen):
            raise ApplicationError(
                "invalid_line",
                f"Line {item.invoice_line_id!r} is not a creditable line of invoice {locked} (or is named twice).",
                fields={f"{field}.invoice_line_id": ["Not a creditable line of this invoice."]},
            )
        amount_validate(item.amount, field=f"{field}.amount")
        line, rest = entry
        if item.amount > rest:
            raise _exceeds(f"Line {line.pk}", rest, locked.currency, f"{field}.amount")
        chosen.append((line, item.amount))
    supply = sum(amount for _, amount in chosen)
    total = so_far.total_for_supply(supply)
    if total is None:
        raise _exceeds(f"Invoice {locked}", so_far.supply_creditable, locked.currency, "lines")
    return total, chosen


def _lines_spread(locked: Invoice, subtotal: int) -> list[tuple[InvoiceLine, int]]:
    """An amount's supply spread over the lines in proportion to what each has left to credit."""
    left = [(line, rest) for line, rest in _lines_left(locked) if rest > 0]
    if subtotal > sum(rest for _, rest in left):  # pragma: no cover - the lines always hold the subtotal
        raise RuntimeError(f"Invoice {locked}'s lines have less left to credit than its supply amount.")
    parts = spread(subtotal, [rest for _, rest in left])
    return [(line, part) for (line, _), part in zip(left, parts, strict=True) if part > 0]


def _note_write(
    *,
    locked: Invoice,
    customer: Customer,
    total: int,
    tax: int,
    lines: list[tuple[InvoiceLine, int]],
    split: CreditSplit,
    settlement: str,
    reason: str,
    memo: str,
    actor: Any,
    moment: datetime,
) -> CreditNote:
    """Number and store the note (the day's counter taken last of the locks), then its lines, and move the
    invoice's amounts: credited, still asked, given back. A payable invoice that asks nothing more is settled."""
    day = billing_today(now=moment)
    note = CreditNote.objects.create(
        invoice=locked,
        customer=customer,
        number=credit_note_number_allocate(day=day),
        currency=locked.currency,
        reason=reason,
        memo=memo,
        language=locked.language,
        subtotal=total - tax,
        tax=tax,
        total=total,
        pre_payment_amount=split.pre_payment,
        refund_amount=split.given_back if settlement == CreditSettlement.REFUND else 0,
        balance_amount=split.given_back if settlement == CreditSettlement.BALANCE else 0,
        issue_date=day,
        issued_at=moment,
        created_by=actor,
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=note, invoice_line=line, position=position, description=line.description, amount=part
        )
        for position, (line, part) in enumerate(lines)
    )
    job_enqueue(
        kind=JobKind.CREDIT_NOTE_PDF_RENDER, key=f"credit_note_pdf:{note.pk}:1", payload={"credit_note_id": note.pk}
    )
    credit_note_issued_email_queue(credit_note=note)  # a row and its job: rendered (with the PDF) after commit
    locked.amount_credited += total
    locked.amount_remaining -= split.pre_payment
    locked.amount_refunded += split.given_back
    if locked.status in INVOICE_PAYABLE_STATUSES and locked.amount_remaining == 0:
        # Settled, not voided: its number stays accounted for. A subscription it bills may become active again.
        invoice_paid_set(locked, moment)
        subscription_invoice_paid_after_commit(invoice_id=locked.pk)
    invoice_pdf_outdated(locked)
    locked.save()
    return note


def _payments_lock(locked: Invoice) -> list[Payment]:
    """The invoice's succeeded payments that have money left to refund, newest first, locked."""
    payments = Payment.objects.select_for_update().filter(invoice=locked, status=PaymentStatus.SUCCEEDED)
    return [
        payment for payment in payments.order_by("-succeeded_at", "-id") if payment.amount_refunded < payment.amount
    ]


def _refund_parts(payments: list[Payment], amount: int, invoice: Invoice) -> list[tuple[Payment, int]]:
    by_id = {payment.pk: payment for payment in payments}
    try:
        parts = refunds_over_payments(amount, [(p.pk, p.amount - p.amount_refunded) for p in payments])
    except ValueError as error:
        raise ApplicationError(
            "amount_exceeds_refundable",
            f"Invoice {invoice}'s payments have less than {amount} {invoice.currency} left to refund.",
            status_code=409,
        ) from error
    return [(by_id[payment_id], part) for payment_id, part in parts]


def _foreign_currency_refuse(
    locked: Invoice, customer: Customer, *, settlement: str, parts: list[tuple[Payment, int]]
) -> None:
    """409 `currency_mismatch`: the credit balance is in the customer's currency only, so money given back on an
    invoice in another currency may neither go to it nor fall back to it (a failed card refund does)."""
    if locked.currency == customer.currency:
        return
    if settlement == CreditSettlement.BALANCE or any(payment.method == PaymentMethod.CARD for payment, _ in parts):
        raise ApplicationError(
            "currency_mismatch",
            f"Invoice {locked} is in {locked.currency} and the customer's credit balance in {customer.currency}: "
            f"give the money back by bank transfer, not to the balance or a card (a failed card refund goes to the "
            "balance).",
            status_code=409,
        )


def _period_credited_refuse(locked: Invoice) -> None:
    """409 `invoice_period_credited`: a plan change already credited the unused time of the period this invoice
    paid, so giving its money back would credit it twice. That invoice is the one the change credited
    (`replaced_period_link`: the invoice of the period it left, or after a resume of the period paused), not merely
    the latest: a usage-only renewal with nothing used issues none, and the period left then has no invoice. A
    subscription priced 0 (usage only) had nothing credited (proration credits its price)."""
    link = (
        SubscriptionInvoice.objects.filter(invoice=locked)
        .exclude(reason=SubscriptionInvoiceReason.UPDATE)
        .select_related("subscription")
        .first()
    )
    if link is None or link.subscription.price_amount <= 0:
        return
    if not Subscription.objects.filter(replaces=link.subscription).exists():
        return
    credited = replaced_period_link(link.subscription)
    if credited is not None and credited.pk == link.pk:
        raise ApplicationError(
            "invoice_period_credited",
            f"The unused time of invoice {locked} was credited at the plan change; correct the new invoice instead.",
            status_code=409,
        )


@transaction.atomic
def credit_note_issue(
    *,
    invoice: Invoice,
    reason: str,
    actor: Any,
    lines: Sequence[CreditLineInput] | None = None,
    amount: int | None = None,
    memo: str = "",
    settlement: str = CreditSettlement.REFUND,
    bank_reference: str = "",
    now: datetime | None = None,
) -> CreditNote:
    """Credit an issued invoice (billing.add_creditnote; money given back also needs billing.add_refund).

    `lines`: the supply amounts to take back per invoice line; `amount`: a total, VAT included, spread over the
    lines; neither: everything not credited yet. VAT in proportion (credit_note_amounts). What the invoice still
    asks is lowered first; the rest goes back by `settlement`: `refund` over its payments, newest first (card:
    pending, asked of the provider after commit; bank transfer: done, `bank_reference` required), or `balance`.
    `actor` None is the system.
    """
    permission_require(actor=actor, permission="billing.add_creditnote")
    memo = _request_check(reason=reason, memo=memo, settlement=settlement, lines=lines, amount=amount)
    reference = _one_line(
        bank_reference, field="bank_reference", max_length=REFERENCE_MAX_LENGTH, code="validation_error"
    )
    moment = now or timezone.now()
    customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
    locked = invoice_lock(invoice_id=invoice.pk)
    if locked.status not in CREDITABLE_STATUSES:
        raise ApplicationError(
            "invoice_not_creditable",
            f"Invoice {locked} is {locked.status}; only an issued invoice that is not void can be credited.",
            status_code=409,
        )
    so_far = _so_far(locked)
    if so_far.creditable <= 0:
        raise ApplicationError("nothing_to_credit", f"Invoice {locked} is credited in full.", status_code=409)
    if lines is not None:
        total, note_lines = _lines_resolve(locked, lines, so_far)
        tax = so_far.note_tax(total)
    else:
        total = so_far.creditable if amount is None else amount
        if total > so_far.creditable:
            raise _exceeds(f"Invoice {locked}", so_far.creditable, locked.currency, "amount")
        tax = so_far.note_tax(total)
        note_lines = _lines_spread(locked, total - tax)
    split = credit_split(
        total=total, amount_remaining=locked.amount_remaining, payable=locked.status in INVOICE_PAYABLE_STATUSES
    )
    parts: list[tuple[Payment, int]] = []
    if split.given_back:
        permission_require(actor=actor, permission="billing.add_refund")
        _period_credited_refuse(locked)
        if settlement == CreditSettlement.REFUND:
            parts = _refund_parts(_payments_lock(locked), split.given_back, locked)
            if not reference and any(payment.method != PaymentMethod.CARD for payment, _ in parts):
                raise ApplicationError(
                    "bank_reference_required",
                    "Part of this refund goes back by bank transfer: give the transfer's reference.",
                    fields={"bank_reference": ["Required for a bank transfer refund."]},
                )
        _foreign_currency_refuse(locked, customer, settlement=settlement, parts=parts)
    note = _note_write(
        locked=locked,
        customer=customer,
        total=total,
        tax=tax,
        lines=note_lines,
        split=split,
        settlement=settlement,
        reason=reason,
        memo=memo,
        actor=actor,
        moment=moment,
    )
    if split.given_back and settlement == CreditSettlement.BALANCE:
        refund_to_balance(credit_note=note, customer=customer, amount=split.given_back, actor=actor, moment=moment)
    elif parts:
        refunds_to_payments(credit_note=note, parts=parts, bank_reference=reference, actor=actor, moment=moment)
    return note


@transaction.atomic
def credit_note_issue_for_provider_refund(
    *, payment: Payment, amount: int, reference: str, now: datetime | None = None
) -> CreditNote | None:
    """A card refund made at the provider that we did not ask for (the Stripe dashboard): a credit note whose whole
    total is a succeeded card refund with the provider's `reference`, once per reference (None: already recorded,
    or nothing left to credit). The amount is capped at what the payment (and its invoice) have left to refund."""
    moment = now or timezone.now()
    customer = Customer.objects.select_for_update().get(pk=payment.customer_id)
    locked = invoice_lock(invoice_id=payment.invoice_id)
    locked_payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if Refund.objects.filter(method=RefundMethod.CARD, provider_reference=reference).exists():
        return None
    so_far = _so_far(locked)
    capped = min(
        amount,
        locked_payment.amount - locked_payment.amount_refunded,
        locked.amount_paid - locked.amount_refunded,
        so_far.creditable,
    )
    if locked.status not in CREDITABLE_STATUSES or capped <= 0:
        logger.error(
            "Refund %s of %s for invoice %s: nothing left to credit; recorded nothing.", reference, amount, locked
        )
        return None
    if capped < amount:
        logger.error("Refund %s of %s for invoice %s: only %s was left to refund.", reference, amount, locked, capped)
    tax = so_far.note_tax(capped)
    note = _note_write(
        locked=locked,
        customer=customer,
        total=capped,
        tax=tax,
        lines=_lines_spread(locked, capped - tax),
        split=CreditSplit(pre_payment=0, given_back=capped),
        settlement=CreditSettlement.REFUND,
        reason=CreditNoteReason.OTHER,
        memo=f"Refunded in Stripe ({reference})"[:MEMO_MAX_LENGTH],
        actor=None,
        moment=moment,
    )
    refund_made_at_provider(credit_note=note, payment=locked_payment, amount=capped, reference=reference, moment=moment)
    return note
