"""Emails about invoices and payments: invoice issued (with its PDF), receipt, payment failed, overdue reminder."""

from typing import Any

from billing.enums import INVOICE_PAYABLE_STATUSES, EmailKind, InvoiceStatus, Language, PaymentStatus
from billing.models import Invoice, Payment
from billing.providers import payment_provider
from billing.services.pdf import invoice_pdf_filename, invoice_pdf_render
from billing_site.mail.models import Email, EmailStatus
from billing_site.mail.registry import Attachment, EmailSkip, RenderedEmail, email_renderer
from billing_site.mail.rendering import templates_render

from .common import base_context, date_display, email_language, money_display, pdf_attachment_or_link

SUBJECTS = {
    EmailKind.INVOICE_ISSUED: {
        "ko": "[{seller}] 청구서 {number} 발행 안내",
        "en": "[{seller}] Invoice {number} issued",
    },
    EmailKind.PAYMENT_RECEIVED: {
        "ko": "[{seller}] 결제 영수증 - 청구서 {number}",
        "en": "[{seller}] Payment receipt for invoice {number}",
    },
    EmailKind.PAYMENT_FAILED: {
        "ko": "[{seller}] 결제 실패 안내 - 청구서 {number}",
        "en": "[{seller}] Payment failed for invoice {number}",
    },
    EmailKind.INVOICE_OVERDUE: {
        "ko": "[{seller}] 납부기한 경과 안내 - 청구서 {number}",
        "en": "[{seller}] Invoice {number} is overdue",
    },
}
# Sends of an "invoice issued" email that wait for the provider's hosted page; the last one shows the bank details.
HOSTED_PAGE_WAIT_ATTEMPTS = 3
PAYMENT_METHODS = {
    "ko": {"card": "카드", "bank_transfer": "계좌이체", "other": "기타"},
    "en": {"card": "Card", "bank_transfer": "Bank transfer", "other": "Other"},
}


def _seller_name(seller: dict[str, Any], language: str) -> str:
    return str(seller["name"] if language == Language.KOREAN else seller.get("name_en") or seller["name"])


def _subject(kind: str, invoice: Invoice, context: dict[str, Any]) -> str:
    language = context["language"]
    template = SUBJECTS[kind].get(language, SUBJECTS[kind]["ko"])
    return template.format(seller=_seller_name(context["seller"], language), number=invoice.number)


class HostedPagePending(Exception):
    """The provider's copy of the invoice, whose card payment page the email links, is still being made: the send
    fails and billing_site.mail retries it with backoff."""


def _hosted_page_wait(email: Email, invoice: Invoice) -> None:
    """Wait (raise) for the hosted page of a payable invoice whose provider copy is scheduled, so the email does not
    offer the bank transfer where the card link follows in seconds; after a few sends the bank details go out.

    Only a real send (the email claimed: `sending`) waits; anything else rendering it renders it as it is now."""
    if invoice.stripe_hosted_invoice_url or email.status != EmailStatus.SENDING:
        return
    if email.attempts >= HOSTED_PAGE_WAIT_ATTEMPTS:
        return
    if invoice.status not in INVOICE_PAYABLE_STATUSES or invoice.amount_remaining <= 0:
        return
    if payment_provider().invoice_mirror_pending(invoice=invoice):
        raise HostedPagePending(f"invoice {invoice.pk}: the payment page is still being made")


def _invoice_get(email: Email) -> Invoice:
    invoice = Invoice.objects.filter(pk=email.object_id).first()
    if invoice is None:
        raise EmailSkip(f"invoice {email.object_id} no longer exists")
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise EmailSkip(f"invoice {invoice.pk} is {invoice.status}")
    return invoice


def _payable_invoice_get(email: Email) -> Invoice:
    """The invoice of a "please pay" email, which is skipped once nothing is left to pay."""
    invoice = _invoice_get(email)
    if invoice.status not in INVOICE_PAYABLE_STATUSES or invoice.amount_remaining <= 0:
        raise EmailSkip(f"invoice {invoice.pk} is {invoice.status}: nothing left to pay")
    return invoice


def _invoice_context(invoice: Invoice) -> dict[str, Any]:
    """What every invoice email shows: amounts, dates and how to pay (the Stripe page, or a bank transfer with the
    invoice number as the transfer reference)."""
    context = base_context()
    language = context["language"]
    seller = context["seller"]
    return {
        **context,
        "seller_name": _seller_name(seller, language),
        "invoice": invoice,
        "number": invoice.number,
        "buyer_name": invoice.buyer_name,
        "total": money_display(invoice.total, invoice.currency),
        "amount_due": money_display(invoice.amount_remaining, invoice.currency),
        "nothing_due": invoice.amount_remaining <= 0,
        "issue_date": date_display(invoice.issue_date),
        "due_date": date_display(invoice.due_date),
        "hosted_url": invoice.stripe_hosted_invoice_url,
        "bank_name": seller["bank_name"]
        if language == Language.KOREAN
        else seller.get("bank_name_en") or seller["bank_name"],
        "bank_account": seller["bank_account"],
        "bank_account_holder": seller["bank_account_holder"],
        "transfer_reference": invoice.number,
    }


def _pdf(invoice: Invoice) -> tuple[tuple[Attachment, ...], str, str]:
    return pdf_attachment_or_link(
        document=invoice,
        filename=invoice_pdf_filename(invoice=invoice),
        render=lambda pending: invoice_pdf_render(invoice=pending),
    )


@email_renderer(EmailKind.INVOICE_ISSUED)
def invoice_issued(email: Email) -> RenderedEmail:
    invoice = _invoice_get(email)
    _hosted_page_wait(email, invoice)
    attachments, pdf_url, pdf_url_expires = _pdf(invoice)
    context = {**_invoice_context(invoice), "pdf_url": pdf_url, "pdf_url_expires": pdf_url_expires}
    return templates_render(
        template_base="billing/emails/invoice_issued",
        subject=_subject(EmailKind.INVOICE_ISSUED, invoice, context),
        context=context,
        attachments=attachments,
    )


@email_renderer(EmailKind.PAYMENT_RECEIVED)
def payment_received(email: Email) -> RenderedEmail:
    payment = Payment.objects.select_related("invoice").filter(pk=email.object_id).first()
    if payment is None:
        raise EmailSkip(f"payment {email.object_id} no longer exists")
    if payment.status != PaymentStatus.SUCCEEDED:
        raise EmailSkip(f"payment {payment.pk} is {payment.status}")
    invoice = payment.invoice
    context = _invoice_context(invoice)
    paid_at = payment.received_at or payment.succeeded_at or payment.created_at
    context.update(
        payment=payment,
        payment_amount=money_display(payment.amount, payment.currency),
        payment_method=PAYMENT_METHODS[email_language()].get(payment.method, payment.method),
        payment_date=date_display(paid_at),
        invoice_paid=invoice.status == InvoiceStatus.PAID,
    )
    return templates_render(
        template_base="billing/emails/payment_received",
        subject=_subject(EmailKind.PAYMENT_RECEIVED, invoice, context),
        context=context,
    )


@email_renderer(EmailKind.PAYMENT_FAILED)
def payment_failed(email: Email) -> RenderedEmail:
    invoice = _payable_invoice_get(email)
    facts = email.context or {}
    context = _invoice_context(invoice)
    context.update(
        attempted_amount=money_display(int(facts.get("amount") or invoice.amount_remaining), invoice.currency),
        reason=str(facts.get("reason") or ""),
    )
    return templates_render(
        template_base="billing/emails/payment_failed",
        subject=_subject(EmailKind.PAYMENT_FAILED, invoice, context),
        context=context,
    )


@email_renderer(EmailKind.INVOICE_OVERDUE)
def invoice_overdue(email: Email) -> RenderedEmail:
    invoice = _payable_invoice_get(email)
    context = _invoice_context(invoice)
    context["days_overdue"] = int((email.context or {}).get("step") or email.occurrence or 0)
    return templates_render(
        template_base="billing/emails/invoice_overdue",
        subject=_subject(EmailKind.INVOICE_OVERDUE, invoice, context),
        context=context,
    )
