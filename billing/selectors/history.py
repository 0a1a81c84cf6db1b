"""Reads of a customer's payment history: invoices, payments, credit notes and refunds in one list, newest first,
paged by the database."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
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
    The count is a second query, skipped when the first page already shows everything. A credit note's status is
    always "issued", so a filter on any other status leaves credit notes out.
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
    sources: dict[str, QuerySet[Any, Any]] = {
        "invoice": invoices,
        "payment": payments,
        "credit_note": credit_notes,
        "refund": refunds,
    }
    parts = [
        queryset.values_list(*_HISTORY_COLUMNS)
        for kind, queryset in sources.items()
        if entry_type in (None, kind) and not (kind == "credit_note" and status and status != CREDIT_NOTE_STATUS)
    ]
    if not parts:
        return 0, []
    rows = _history_page(parts, limit=limit, offset=offset)
    # A first page that is not full already shows everything: no count query needed.
    total = len(rows) if offset == 0 and len(rows) < limit else _history_count(parts)
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


def _history_page(parts: list[QuerySet[Any, Any]], *, limit: int, offset: int) -> list[tuple[Any, ...]]:
    """The rows of one page, newest first.

    Where the database allows it (PostgreSQL), each table gives at most offset + limit rows from its own
    (customer, date desc, id desc) index before the union is sorted, so a page reads a few hundred index entries
    and the planner sees a plan too small to start parallel workers for (their start-up alone cost ~7 ms a page
    once the union had four tables). Within one table the kind is constant, so (date, id) is the outer order.
    """
    if len(parts) == 1:
        return list(parts[0].order_by("-date", "-id")[offset : offset + limit])
    if connection.features.supports_slicing_ordering_in_compound:
        parts = [part.order_by("-date", "-id")[: offset + limit] for part in parts]
    combined = parts[0].union(*parts[1:], all=True)
    return list(combined.order_by("-date", "-kind", "-id")[offset : offset + limit])


def _history_count(parts: list[QuerySet[Any, Any]]) -> int:
    """All the rows of the history, in one query: the sum of one COUNT per table.

    Counted table by table (scalar subqueries, each planned alone) rather than over the union: a count over the
    union of four tables looks big enough to the planner to start parallel workers, which costs more than the count.
    """
    selects: list[str] = []
    params: list[Any] = []
    for part in parts:
        sql, part_params = part.order_by().query.sql_with_params()
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS part)")  # noqa: S608 - the ORM's SQL, with placeholders
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + " + ".join(selects), params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0
