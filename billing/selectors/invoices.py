"""Reads of invoices: a customer's issued invoices, any invoice for staff, and those waiting for their PDF."""

from django.db.models import Prefetch, QuerySet

from billing.enums import InvoicePdfStatus
from billing.models import Customer, Invoice, InvoiceLine

from .common import not_found


def invoice_list(*, customer: Customer | None) -> QuerySet[Invoice]:
    """The customer's issued invoices, newest first (drafts are internal and never listed)."""
    if customer is None:
        return Invoice.objects.none()
    invoices = Invoice.objects.filter(customer=customer, finalized_at__isnull=False)
    return invoices.order_by("-finalized_at", "-id").prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id"))
    )


def invoice_get(*, customer: Customer | None, invoice_id: int) -> Invoice:
    """One issued invoice of the customer; another customer's (or a draft) is 404, never 403."""
    invoice = invoice_list(customer=customer).filter(pk=invoice_id).first()
    if invoice is None:
        raise not_found()
    return invoice


def invoice_get_for_staff(*, invoice_id: int) -> Invoice:
    """Any invoice by id, drafts included (the caller has checked billing.view_invoice)."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None:
        raise not_found()
    return invoice


def invoices_pdf_pending() -> QuerySet[Invoice]:
    """Issued invoices whose PDF of the current revision is not stored yet (billing_render_pdfs)."""
    return Invoice.objects.filter(pdf_status=InvoicePdfStatus.PENDING).order_by("id")
