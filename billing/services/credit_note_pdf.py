"""Credit note PDFs (수정 청구서): rendered and stored like invoice PDFs (billing.services.pdf), after commit.

A credit note is issued with its PDF pending (revision 1); the CREDIT_NOTE_PDF_RENDER job, a download or
`manage.py billing_render_pdfs` renders it. The PDF prints the original invoice's parties and amounts.
"""

from typing import Any

from django.template.loader import select_template
from django.utils import translation

from billing.enums import CreditNoteReason, InvoicePdfStatus, Language
from billing.models import CreditNote
from billing.money import money_format

from .pdf import (
    pdf_date_display,
    pdf_document_render,
    pdf_document_signed_url,
    pdf_failure_record,
    pdf_from_html,
    pdf_language,
    pdf_parties_context,
)

ATTACHED_TYPE = "billing.creditnote"

# The words of the credit note itself; the parties' labels come from the invoice templates it extends.
LABELS: dict[str, dict[str, str]] = {
    Language.KOREAN: {
        "title": "수정 청구서",
        "heading_en": "CREDIT NOTE",
        "number": "수정 청구번호",
        "issue_date": "발행일",
        "original": "원 청구서",
        "original_number": "청구번호",
        "original_issue_date": "발행일",
        "subtotal": "공급가액",
        "tax": "세액",
        "total": "합계",
        "credited_lines": "수정 내역",
        "item": "품목",
        "amount": "공급가액",
        "credited_subtotal": "수정 공급가액",
        "credited_tax": "수정 세액",
        "credited_total": "수정 합계",
        "reason": "사유",
        "memo": "메모",
        "settlement": "정산 방법",
        "pre_payment": "청구 금액에서 차감",
        "refund": "환불",
        "balance": "크레딧 잔액으로 적립",
        "footer": "본 수정 청구서는 세금계산서가 아닙니다. 수정 세금계산서는 전자세금계산서로 별도 발행됩니다.",
    },
    Language.ENGLISH: {
        "title": "Credit note",
        "heading_en": "",
        "number": "Credit note number",
        "issue_date": "Issue date",
        "original": "Original invoice",
        "original_number": "Invoice number",
        "original_issue_date": "Issue date",
        "subtotal": "Subtotal (공급가액)",
        "tax": "VAT (세액)",
        "total": "Total (합계)",
        "credited_lines": "Credited lines",
        "item": "Description",
        "amount": "Amount",
        "credited_subtotal": "Subtotal credited",
        "credited_tax": "VAT credited",
        "credited_total": "Total credited",
        "reason": "Reason",
        "memo": "Memo",
        "settlement": "Settled by",
        "pre_payment": "Taken off the amount due",
        "refund": "Refunded",
        "balance": "Added to your credit balance",
        "footer": "This credit note is not a Korean tax invoice (세금계산서); the amended electronic tax invoice is "
        "issued separately.",
    },
}


def credit_note_pdf_context(*, credit_note: CreditNote) -> dict[str, Any]:
    """Everything the credit note templates print, already formatted, in the note's language."""
    language = pdf_language(credit_note.language)
    invoice = credit_note.invoice
    currency = credit_note.currency

    def money(amount: int) -> str:
        return money_format(amount=amount, currency=currency, language=language)

    with translation.override(language):
        reason = str(CreditNoteReason(credit_note.reason).label)
    settlement = [
        (LABELS[language][key], money(amount))
        for key, amount in (
            ("pre_payment", credit_note.pre_payment_amount),
            ("refund", credit_note.refund_amount),
            ("balance", credit_note.balance_amount),
        )
        if amount > 0
    ]
    return {
        **pdf_parties_context(invoice=invoice, language=language),
        "labels": LABELS[language],
        "credit_note": credit_note,
        "number": credit_note.number,
        "issue_date": pdf_date_display(credit_note.issue_date, language),
        "original_number": invoice.number or "",
        "original_issue_date": pdf_date_display(invoice.issue_date, language),
        "original_subtotal": money(invoice.subtotal),
        "original_tax": money(invoice.tax),
        "original_total": money(invoice.total),
        "lines": [{"description": line.description, "amount": money(line.amount)} for line in credit_note.lines.all()],
        "subtotal": money(credit_note.subtotal),
        "tax": money(credit_note.tax),
        "total": money(credit_note.total),
        "reason": reason,
        "memo": credit_note.memo,
        "settlement": settlement,
        "currency": currency,
        "stamp": "",
    }


def credit_note_pdf_html(*, credit_note: CreditNote) -> str:
    """The credit note as HTML: templates/billing/credit_note_pdf/<language>.html, else the Korean one."""
    context = credit_note_pdf_context(credit_note=credit_note)
    template = select_template(
        [f"billing/credit_note_pdf/{context['language']}.html", f"billing/credit_note_pdf/{Language.KOREAN}.html"]
    )
    return template.render(context)


def credit_note_pdf_bytes(*, credit_note: CreditNote) -> bytes:
    return pdf_from_html(credit_note_pdf_html(credit_note=credit_note))


def credit_note_pdf_filename(*, credit_note: CreditNote) -> str:
    return f"credit-note-{credit_note.number}.pdf"


def credit_note_pdf_render(*, credit_note: CreditNote) -> CreditNote:
    """Render and store the PDF of the note's pending revision (idempotent, like invoice_pdf_render); raises
    storage's ApplicationError `storage_unavailable` when the bucket does not answer (the PDF stays pending)."""
    return pdf_document_render(
        document=credit_note,
        content=lambda current: credit_note_pdf_bytes(credit_note=current),
        filename=lambda current: credit_note_pdf_filename(credit_note=current),
        attached_type=ATTACHED_TYPE,
    )


def credit_note_pdf_failure_record(*, credit_note_id: int, error: Exception) -> None:
    pdf_failure_record(model=CreditNote, document_id=credit_note_id, error=error)


def credit_note_pdf_signed_url(*, credit_note: CreditNote, render_if_pending: bool = False) -> tuple[str, Any] | None:
    """(signed URL, expiry) of the note's current PDF, or None while it is pending; `render_if_pending` renders a
    pending one now (as invoice_pdf_signed_url does)."""
    return pdf_document_signed_url(
        document=credit_note,
        render=(lambda current: credit_note_pdf_render(credit_note=current)) if render_if_pending else None,
        failure_record=lambda document_id, error: credit_note_pdf_failure_record(
            credit_note_id=document_id, error=error
        ),
    )


def credit_notes_pdf_pending_ids() -> list[int]:
    """The credit notes whose current PDF revision is not stored yet (the render command's work)."""
    return list(
        CreditNote.objects.filter(pdf_status=InvoicePdfStatus.PENDING).order_by("pk").values_list("pk", flat=True)
    )
