"""Invoice PDFs (and what credit note PDFs share with them): Django templates rendered by xhtml2pdf with a Hangul
font, stored through the storage app.

Rendering happens after the transaction that changed the invoice commits. If storage is down the invoice
stands and its PDF stays `pending`; `manage.py billing_render_pdfs` (or the next download) renders it.
"""

import io
import logging
import os
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.template.loader import select_template
from xhtml2pdf import context as pisa_context
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from billing.enums import ChargeModel, InvoicePdfStatus, InvoiceStatus, Language, TaxTreatment
from billing.models import BillableMetric, CreditNote, Invoice
from billing.money import money_format
from billing.tax import tax_basis_text, vat_rate_percent
from billing.validators import business_registration_number_format
from storage.services import file_delete, file_store

logger = logging.getLogger(__name__)

ATTACHED_TYPE = "billing.invoice"
# A billing document with a stored PDF: the same pdf_* fields, `customer` and `lines`.
PdfDocument = TypeVar("PdfDocument", Invoice, CreditNote)


class PdfRenderError(RuntimeError):
    """xhtml2pdf could not turn the invoice HTML into a PDF."""


def pdf_font_paths() -> tuple[Path, Path]:
    """The regular and bold Hangul fonts (bold falls back to regular when not configured)."""
    regular = Path(settings.BILLING_PDF_FONT_PATH)
    bold = Path(settings.BILLING_PDF_FONT_BOLD_PATH or settings.BILLING_PDF_FONT_PATH)
    return regular, bold


@lru_cache(maxsize=8)
def _resource_policy(font_dirs: tuple[Path, ...]) -> ResourceAccessPolicy:
    # The rendered HTML may carry customer text, so it reads nothing but the font folders and never the network.
    # Without the font folder here xhtml2pdf silently drops the font and every Hangul glyph becomes a box.
    return ResourceAccessPolicy.server(base_dir=None, extra_roots=font_dirs, allow_remote=False)


def pdf_resource_policy() -> ResourceAccessPolicy:
    """What an invoice render may read: the configured font folders, nothing else, no network."""
    regular, bold = pdf_font_paths()
    return _resource_policy(tuple(sorted({regular.parent.resolve(), bold.parent.resolve()})))


_pisa_file_digest = pisa_context._file_digest


@lru_cache(maxsize=32)
def _font_file_digest(name: str, size: int, modified_ns: int) -> str | None:
    return _pisa_file_digest(name)


def _font_file_digest_cached(name: str | None) -> str | None:
    """xhtml2pdf's digest of a @font-face file, computed once per file version (path, size, modification time).

    xhtml2pdf hashes every @font-face file on every render (to tell two fonts of one family name apart): MD5 of
    the two 4.6 MB Hangul files was a quarter of a render's CPU time (65 -> 49 ms, the two interleaved in one process).
    """
    if name is None:
        return None
    try:
        status = os.stat(name)
    except OSError:
        return None
    return _font_file_digest(name, status.st_size, status.st_mtime_ns)


pisa_context._file_digest = _font_file_digest_cached


def pdf_from_html(html: str) -> bytes:
    """Render HTML (that names the Hangul font with @font-face) to PDF bytes."""
    output = io.BytesIO()
    result = pisa.CreatePDF(
        html, dest=output, encoding="utf-8", resource_policy=pdf_resource_policy(), raise_exception=False
    )
    if result.err:
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s) rendering an invoice.")
    return output.getvalue()


def pdf_date_display(value: date | None, language: str) -> str:
    """2025년 1월 31일 / 31 Jan 2025."""
    if value is None:
        return ""
    if language == Language.KOREAN:
        return f"{value.year}년 {value.month}월 {value.day}일"
    return value.strftime("%d %b %Y")


def invoice_tax_treatment(*, invoice: Invoice) -> str:
    """The tax treatment the document states: the one the invoice was issued with (Invoice.tax_treatment), whatever
    the customer's is now; the database refuses one that contradicts its VAT (billing_invoice_untaxed_no_vat)."""
    return str(invoice.tax_treatment)


def invoice_tax_context(*, invoice: Invoice, language: str) -> dict[str, str]:
    """How a document prints its VAT: the treatment, the rate it was issued with (printed "10"), and for a 0 % VAT
    the legal basis (the invoice's; an invoice issued before it kept one prints the treatment's default)."""
    treatment = invoice_tax_treatment(invoice=invoice)
    basis = invoice.tax_basis or tax_basis_text(treatment=treatment, basis="", language=language)
    return {
        "tax_treatment": treatment,
        "tax_rate_percent": vat_rate_percent(invoice.vat_rate_basis_points),
        "tax_basis": "" if treatment == TaxTreatment.TAXABLE else basis,
    }


def pdf_parties_context(*, invoice: Invoice, language: str) -> dict[str, Any]:
    """What every billing document prints about its two parties and the fonts: the seller (settings) and the buyer
    as the invoice was issued, with the invoice's tax treatment. A credit note prints its invoice's."""
    regular, bold = pdf_font_paths()
    seller = dict(settings.BILLING_SELLER)
    korean = language == Language.KOREAN
    return {
        "invoice": invoice,
        "language": language,
        "font_regular": regular.as_posix(),
        "font_bold": bold.as_posix(),
        "seller": seller,
        "seller_name": seller["name"] if korean else seller.get("name_en") or seller["name"],
        "seller_address": seller["address"] if korean else seller.get("address_en") or seller["address"],
        "seller_bank_name": seller["bank_name"] if korean else seller.get("bank_name_en") or seller["bank_name"],
        "buyer_business_number": business_registration_number_format(invoice.buyer_business_number),
        **invoice_tax_context(invoice=invoice, language=language),
    }


def pdf_language(value: str) -> str:
    return value if value in Language.values else Language.KOREAN


def usage_line_display(
    *, usage: dict[str, Any] | None, metric: BillableMetric | None, language: str, money: Callable[[int], str]
) -> dict[str, Any] | None:
    """What a `usage` line prints under its description (InvoiceLine.usage, as usage_pricing's ChargeResult stored
    it): the metric, the quantity, what the plan included, what was billed, and how each tier (or the packages)
    priced it. None for any other line."""
    if not usage or metric is None:
        return None
    unit = metric.display_unit(language)

    def quantity(value: int) -> str:
        # Korean units follow the number (1,234건); English ones are words (1,234 calls).
        return f"{value:,}{unit}" if language == Language.KOREAN else f"{value:,} {unit}"

    package_size = int(usage.get("package_size") or 1)
    slices = []
    for piece in usage.get("slices") or []:
        first, last = int(piece["first"]), piece.get("last")
        slices.append(
            {
                "range": f"{first:,} ~ {int(last):,}" if last is not None else f"{first:,} ~",
                "quantity": f"{int(piece['quantity']):,}",
                "packages": f"{-(-int(piece['quantity']) // package_size):,}",
                "unit_amount": money(int(piece["unit_amount"])),
                "flat_amount": money(int(piece["flat_amount"])) if piece.get("flat_amount") else "",
                "amount": money(int(piece["amount"])),
            }
        )
    return {
        "metric": metric.display_name(language),
        "quantity": quantity(int(usage["quantity"])),
        "included": quantity(int(usage["included"])),
        "billable": quantity(int(usage["billable"])),
        "package": usage.get("charge_model") == ChargeModel.PACKAGE,
        "package_size": quantity(package_size),
        "slices": slices,
    }


def invoice_pdf_context(*, invoice: Invoice) -> dict[str, Any]:
    """Everything the invoice templates print, already formatted (₩1,234,567; 2025년 1월 31일)."""
    language = pdf_language(invoice.language)
    currency = invoice.currency

    def money(amount: int) -> str:
        return money_format(amount=amount, currency=currency, language=language)

    invoice_lines = list(invoice.lines.all())
    metric_ids = {line.metric_id for line in invoice_lines if line.metric_id is not None}
    metrics = BillableMetric.objects.in_bulk(metric_ids) if metric_ids else {}
    lines = [
        {
            "description": line.description,
            "period": (
                f"{pdf_date_display(line.period_start, language)} ~ {pdf_date_display(line.period_end, language)}"
                if line.period_start
                else ""
            ),
            "quantity": f"{line.quantity:,}",
            "unit_amount": money(line.unit_amount),
            "amount": money(line.amount),
            "usage": usage_line_display(
                usage=line.usage, metric=metrics.get(line.metric_id or 0), language=language, money=money
            ),
        }
        for line in invoice_lines
    ]
    # Credit notes are read only when there are some: most invoices have none, and this is one query less.
    credit_note_numbers = (
        list(invoice.credit_notes.order_by("issued_at", "id").values_list("number", flat=True))
        if invoice.amount_credited > 0
        else []
    )
    # An uncollectible invoice gets no stamp: for the customer it is still due (the write-off is internal).
    stamp: dict[str, str] = {InvoiceStatus.PAID: "PAID", InvoiceStatus.VOID: "VOID"}
    return {
        **pdf_parties_context(invoice=invoice, language=language),
        "number": invoice.number or "",
        "issue_date": pdf_date_display(invoice.issue_date, language),
        "due_date": pdf_date_display(invoice.due_date, language),
        "paid_date": pdf_date_display(invoice.paid_at.date() if invoice.paid_at else None, language),
        "lines": lines,
        "subtotal": money(invoice.subtotal),
        "tax": money(invoice.tax),
        "total": money(invoice.total),
        "amount_paid": money(invoice.amount_paid),
        "amount_remaining": money(invoice.amount_remaining),
        "amount_credited": money(invoice.amount_credited),
        "amount_refunded": money(invoice.amount_refunded),
        "credit_note_numbers": ", ".join(credit_note_numbers),
        "has_payments": invoice.amount_paid > 0,
        "has_credits": invoice.amount_credited > 0,
        "has_refunds": invoice.amount_refunded > 0,
        "currency": currency,
        "stamp": stamp.get(invoice.status, ""),
        "payable": invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
    }


def invoice_pdf_html(*, invoice: Invoice) -> str:
    """The invoice as HTML: templates/billing/invoice_pdf/<language>.html, falling back to the Korean one."""
    context = invoice_pdf_context(invoice=invoice)
    template = select_template(
        [f"billing/invoice_pdf/{context['language']}.html", f"billing/invoice_pdf/{Language.KOREAN}.html"]
    )
    return template.render(context)


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    return pdf_from_html(invoice_pdf_html(invoice=invoice))


def invoice_pdf_filename(*, invoice: Invoice) -> str:
    return f"invoice-{invoice.number or invoice.pk}.pdf"


def invoice_pdf_render(*, invoice: Invoice) -> Invoice:
    """Render and store the PDF of the invoice's current revision, if it is pending; then point the invoice at it.

    Idempotent: a ready invoice is left alone, and a render overtaken by a newer change (or by a concurrent
    render of the same revision) discards its file. Raises storage's ApplicationError `storage_unavailable`
    when the bucket does not answer; the invoice then stays pending.
    """
    return pdf_document_render(
        document=invoice,
        content=lambda current: invoice_pdf_bytes(invoice=current),
        filename=lambda current: invoice_pdf_filename(invoice=current),
        attached_type=ATTACHED_TYPE,
    )


def pdf_document_render(
    *,
    document: PdfDocument,
    content: Callable[[PdfDocument], bytes],
    filename: Callable[[PdfDocument], str],
    attached_type: str,
) -> PdfDocument:
    """Render and store a document's (invoice's, credit note's) pending PDF revision as the customer's protected
    file, then point the document at it under its row lock; see invoice_pdf_render."""
    model = type(document)
    current = model.objects.select_related("customer__user").prefetch_related("lines").get(pk=document.pk)
    if current.pdf_status != InvoicePdfStatus.PENDING:
        return current
    revision = current.pdf_revision
    stored = file_store(
        owner=current.customer.user,
        content=content(current),
        original_name=filename(current),
        category="document",
        attached_type=attached_type,
        attached_id=str(current.pk),
        protected=True,
    )
    try:
        with transaction.atomic():
            locked = model.objects.select_for_update().get(pk=current.pk)
            if locked.pdf_revision != revision or locked.pdf_rendered_revision >= revision:
                transaction.on_commit(lambda: _file_discard(stored), robust=True)
                return locked
            superseded = locked.pdf_file
            locked.pdf_file = stored
            locked.pdf_rendered_revision = revision
            locked.pdf_status = InvoicePdfStatus.READY
            locked.pdf_error = ""
            locked.save(update_fields=["pdf_file", "pdf_rendered_revision", "pdf_status", "pdf_error", "updated_at"])
            if superseded is not None:
                transaction.on_commit(lambda: _file_discard(superseded), robust=True)
    except Exception:
        _file_discard(stored)
        raise
    return locked


def _file_discard(stored: Any) -> None:
    try:
        file_delete(file=stored, by_customer=False)
    except Exception:  # a leftover object is harmless; the storage purge finds it
        logger.warning("could not delete superseded PDF %s", stored.pk, exc_info=True)


def invoice_pdf_failure_record(*, invoice_id: int, error: Exception) -> None:
    pdf_failure_record(model=Invoice, document_id=invoice_id, error=error)


def pdf_failure_record(*, model: type[Invoice] | type[CreditNote], document_id: int, error: Exception) -> None:
    """Keep why a document's PDF stays pending on the document (staff see it); never raises."""
    name = model._meta.verbose_name_raw
    logger.warning("%s %s PDF stays pending: %s: %s", name, document_id, type(error).__name__, error)
    reason = f"{type(error).__name__}: {getattr(error, 'message', None) or error}"[:500]
    try:
        model.objects.filter(pk=document_id, pdf_status=InvoicePdfStatus.PENDING).update(pdf_error=reason)
    except Exception:
        logger.exception("could not record the PDF failure of %s %s", name, document_id)


def invoice_pdf_signed_url(*, invoice: Invoice, render_if_pending: bool = False) -> tuple[str, Any] | None:
    """(signed URL, expiry) of the invoice's current PDF, or None while it is pending.

    With `render_if_pending` a pending PDF is rendered now (a download heals what storage downtime left behind).
    """
    return pdf_document_signed_url(
        document=invoice,
        render=(lambda current: invoice_pdf_render(invoice=current)) if render_if_pending else None,
        failure_record=lambda document_id, error: invoice_pdf_failure_record(invoice_id=document_id, error=error),
    )


def pdf_document_signed_url(
    *,
    document: PdfDocument,
    render: Callable[[PdfDocument], PdfDocument] | None,
    failure_record: Callable[[int, Exception], None],
) -> tuple[str, Any] | None:
    """(signed URL, expiry) of a document's ready PDF, or None; a pending one is first rendered by `render`."""
    from datetime import timedelta

    from storage.services import file_signed_url

    current = document
    if render is not None and current.pdf_status == InvoicePdfStatus.PENDING:
        try:
            current = render(current)
        except Exception as error:
            failure_record(current.pk, error)
            raise
    if current.pdf_status != InvoicePdfStatus.READY or current.pdf_file_id is None:
        return None
    stored = current.pdf_file
    if stored is None:
        return None
    return file_signed_url(file=stored, expires_in=timedelta(seconds=settings.BILLING_PDF_URL_EXPIRES_SECONDS))
