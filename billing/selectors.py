"""Reads of the billing app: a customer's invoices, orders and payment history, scoped to that customer."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, F, Prefetch, QuerySet, Value

from billing.enums import InvoicePdfStatus, InvoiceStatus, PaymentStatus
from billing.models import Customer, Invoice, InvoiceLine, Order, Payment
from billing_site.errors import ApplicationError

HISTORY_TYPES = ("invoice", "payment")
HISTORY_STATUSES = tuple(sorted({*InvoiceStatus.values, *PaymentStatus.values} - {InvoiceStatus.DRAFT}))


def _not_found() -> ApplicationError:
    return ApplicationError("not_found", "Not found.", status_code=404)


def customer_for_user(*, user: Any) -> Customer | None:
    """The user's billing profile if one exists (reads never create it)."""
    if user is None or not user.is_authenticated:
        return None
    return Customer.objects.filter(user=user).first()


def customer_get(*, customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise _not_found()
    return customer


def invoice_list(*, customer: Customer | None, status: str | None = None) -> QuerySet[Invoice]:
    """The customer's issued invoices, newest first (drafts are internal and never listed)."""
    if customer is None:
        return Invoice.objects.none()
    invoices = Invoice.objects.filter(customer=customer, finalized_at__isnull=False)
    if status:
        invoices = invoices.filter(status=status)
    return invoices.order_by("-finalized_at", "-id").prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id"))
    )


def invoice_get(*, customer: Customer | None, invoice_id: int) -> Invoice:
    """One issued invoice of the customer; another customer's (or a draft) is 404, never 403."""
    invoice = invoice_list(customer=customer).filter(pk=invoice_id).first()
    if invoice is None:
        raise _not_found()
    return invoice


def invoice_get_for_staff(*, invoice_id: int) -> Invoice:
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None:
        raise _not_found()
    return invoice


def order_list(*, customer: Customer | None, status: str | None = None) -> QuerySet[Order]:
    if customer is None:
        return Order.objects.none()
    orders = Order.objects.filter(customer=customer)
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "-id").prefetch_related("items")


def order_get(*, customer: Customer | None, order_id: int) -> Order:
    order = order_list(customer=customer).filter(pk=order_id).first()
    if order is None:
        raise _not_found()
    return order


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
    """One page of the customer's invoices and payments together, newest first, and the total count.

    Built by the database: one UNION ALL of both tables, ordered and sliced there (an index on
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
    if status:
        invoices = invoices.filter(status=status)
        payments = payments.filter(status=status)
    parts = []
    if entry_type in (None, "invoice"):
        parts.append(invoices.values_list(*_HISTORY_COLUMNS))
    if entry_type in (None, "payment"):
        parts.append(payments.values_list(*_HISTORY_COLUMNS))
    combined = parts[0] if len(parts) == 1 else parts[0].union(parts[1], all=True)
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


def invoices_pdf_pending() -> QuerySet[Invoice]:
    """Issued invoices whose PDF of the current revision is not stored yet (billing_render_pdfs)."""
    return Invoice.objects.filter(pdf_status=InvoicePdfStatus.PENDING).order_by("id")


def order_get_for_staff(*, order_id: int) -> Order:
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        raise _not_found()
    return order
