"""Reads of a customer's payment history: invoices, payments, credit notes and refunds in one list, newest first,
paged by the database."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, F, QuerySet, Value

from billing.enums import InvoicePdfStatus, InvoiceStatus, PaymentStatus, RefundStatus
from billing.models import CreditNote, Customer, Invoice, Payment, Refund

HISTORY_TYPES = ("invoice", "payment", "credit_note", "refund")
# A credit note has no status of its own: it is issued (and never changes).
CREDIT_NOTE_STATUS = "issued"
HISTORY_STATUSES = tuple(
    sorted(
        {*InvoiceStatus.values, *PaymentStatus.values, *RefundStatus.values, CREDIT_NOTE_STATUS} - {InvoiceStatus.DRAFT}
    )
)


@dataclass(frozen=True)
class HistoryEntry:
    type: str
    id: int
    date: datetime
    amount: int
    currency: str
    status: str
    invoice_id: int
    stripe_url: str
    pdf_ready: bool


_HISTORY_COLUMNS = ("kind", "id", "date", "amount", "currency", "status", "invoice_ref", "stripe_url", "pdf_state")


def payment_history(
    *,
    customer: Customer | None,
    status: str | None = None,
    entry_type: str | None = None,
    limit: int,
    offset: int,
) -> tuple[int, list[HistoryEntry]]:
    """One page of the customer's invoices, payments, credit notes and refunds together, newest first, and the
    total count.

    Built by the database: one UNION ALL of the four tables, ordered and sliced there (an index on
    (customer, date desc, id desc) per table), so a page costs the same at 10 or 10 million rows.
    The count is a second query, skipped when the first page already shows everything.
    """
    if customer is None:
        return 0, []
    invoices = (
        Invoice.objects.filter(customer=customer, finalized_at__isnull=False)
        .annotate(
            kind=Value("invoice", output_field=CharField()),
            date=F("finalized_at"),
            amount=F("total"),
            invoice_ref=F("id"),
            stripe_url=F("stripe_hosted_invoice_url"),
            pdf_state=F("pdf_status"),
        )
        .order_by()
    )
    payments = (
        Payment.objects.filter(customer=customer)
        .annotate(
            kind=Value("payment", output_field=CharField()),
            date=F("created_at"),
            invoice_ref=F("invoice_id"),
            stripe_url=Value("", output_field=CharField()),
            pdf_state=Value(InvoicePdfStatus.NONE.value, output_field=CharField()),
        )
        .order_by()
    )
    credit_notes = (
        CreditNote.objects.filter(customer=customer)
        .annotate(
            kind=Value("credit_note", output_field=CharField()),
            date=F("issued_at"),
            amount=F("total"),
            status=Value(CREDIT_NOTE_STATUS, output_field=CharField()),
            invoice_ref=F("invoice_id"),
            stripe_url=Value("", output_field=CharField()),
            pdf_state=F("pdf_status"),
        )
        .order_by()
    )
    refunds = (
        Refund.objects.filter(customer=customer)
        .annotate(
            kind=Value("refund", output_field=CharField()),
            date=F("created_at"),
            invoice_ref=F("invoice_id"),
            stripe_url=Value("", output_field=CharField()),
            pdf_state=Value(InvoicePdfStatus.NONE.value, output_field=CharField()),
        )
        .order_by()
    )
    if status:
        invoices = invoices.filter(status=status)
        payments = payments.filter(status=status)
        refunds = refunds.filter(status=status)
        if status != CREDIT_NOTE_STATUS:
            credit_notes = credit_notes.none()
    sources: dict[str, QuerySet[Any, Any]] = {
        "invoice": invoices,
        "payment": payments,
        "credit_note": credit_notes,
        "refund": refunds,
    }
    parts = [
        queryset.values_list(*_HISTORY_COLUMNS) for kind, queryset in sources.items() if entry_type in (None, kind)
    ]
    combined = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:], all=True)
    rows = list(combined.order_by("-date", "-kind", "-id")[offset : offset + limit])
    # A first page that is not full already shows everything: no count query needed.
    total = len(rows) if offset == 0 and len(rows) < limit else combined.count()
    entries = [
        HistoryEntry(
            type=kind,
            id=pk,
            date=date,
            amount=amount,
            currency=currency,
            status=row_status,
            invoice_id=invoice_ref,
            stripe_url=stripe_url or "",
            pdf_ready=pdf_state == InvoicePdfStatus.READY,
        )
        for kind, pk, date, amount, currency, row_status, invoice_ref, stripe_url, pdf_state in rows
    ]
    return total, entries
