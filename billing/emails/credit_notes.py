"""The "credit note issued" email (수정 청구서 발행 안내): the amounts credited, how they were settled, the PDF."""

from typing import Any

from billing.enums import INVOICE_PAYABLE_STATUSES, CreditNoteReason, EmailKind, Language
from billing.models import CreditNote
from billing.services.credit_note_pdf import LABELS, credit_note_pdf_filename, credit_note_pdf_render
from billing_site.mail.models import Email
from billing_site.mail.registry import EmailSkip, RenderedEmail, email_renderer
from billing_site.mail.rendering import templates_render

from .common import base_context, date_display, money_display, pdf_attachment_or_link

SUBJECT = {
    "ko": "[{seller}] 수정 청구서 {number} 발행 안내 - 청구서 {invoice_number}",
    "en": "[{seller}] Credit note {number} for invoice {invoice_number}",
}


@email_renderer(EmailKind.CREDIT_NOTE_ISSUED)
def credit_note_issued(email: Email) -> RenderedEmail:
    credit_note = CreditNote.objects.select_related("invoice").filter(pk=email.object_id).first()
    if credit_note is None:
        raise EmailSkip(f"credit note {email.object_id} no longer exists")
    invoice = credit_note.invoice
    context: dict[str, Any] = base_context()
    language = context["language"]
    seller = context["seller"]
    seller_name = seller["name"] if language == Language.KOREAN else seller.get("name_en") or seller["name"]

    def money(amount: int) -> str:
        return money_display(amount, credit_note.currency)

    attachments, pdf_url, pdf_url_expires = pdf_attachment_or_link(
        document=credit_note,
        filename=credit_note_pdf_filename(credit_note=credit_note),
        render=lambda pending: credit_note_pdf_render(credit_note=pending),
    )
    labels = LABELS.get(language, LABELS[Language.KOREAN])
    context.update(
        seller_name=seller_name,
        buyer_name=invoice.buyer_name,
        number=credit_note.number,
        issue_date=date_display(credit_note.issue_date),
        invoice_number=invoice.number,
        subtotal=money(credit_note.subtotal),
        tax=money(credit_note.tax),
        total=money(credit_note.total),
        reason=str(CreditNoteReason(credit_note.reason).label),  # in the email's language (billing_site.mail)
        memo=credit_note.memo,
        settlement=[
            (labels[key], money(amount))
            for key, amount in (
                ("pre_payment", credit_note.pre_payment_amount),
                ("refund", credit_note.refund_amount),
                ("balance", credit_note.balance_amount),
            )
            if amount > 0
        ],
        # What the invoice still asks now, when it still asks something.
        amount_due=money(invoice.amount_remaining)
        if invoice.status in INVOICE_PAYABLE_STATUSES and invoice.amount_remaining > 0
        else "",
        pdf_url=pdf_url,
        pdf_url_expires=pdf_url_expires,
    )
    subject = SUBJECT.get(language, SUBJECT["ko"]).format(
        seller=seller_name, number=credit_note.number, invoice_number=invoice.number
    )
    return templates_render(
        template_base="billing/emails/credit_note_issued", subject=subject, context=context, attachments=attachments
    )
