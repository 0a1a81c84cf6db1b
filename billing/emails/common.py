"""What every billing email shows: the seller, amounts (₩1,234,567) and Asia/Seoul dates in the email's language."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone, translation

from billing.enums import InvoicePdfStatus, Language
from billing.models import CreditNote, Invoice
from billing.money import money_format
from billing_site.mail.registry import Attachment, rendering_preview
from storage.selectors import file_read_bytes
from storage.services import file_signed_url

Document = TypeVar("Document", Invoice, CreditNote)


def email_language() -> str:
    """The language the email is being rendered in (billing_site.mail activates the email's)."""
    language = (translation.get_language() or Language.KOREAN)[:2]
    return language if language in Language.values else Language.KOREAN


def date_display(value: date | datetime | None) -> str:
    """2025년 1월 31일 / 31 Jan 2025; a datetime is shown as its Asia/Seoul day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    if email_language() == Language.KOREAN:
        return f"{value.year}년 {value.month}월 {value.day}일"
    return value.strftime("%d %b %Y")


def money_display(amount: int, currency: str) -> str:
    """An amount in the email's locale: ₩99,000 · $79.00 in English, US$79.00 in Korean."""
    return money_format(amount=amount, currency=currency, language=email_language())


def base_context() -> dict[str, Any]:
    """The seller (settings.BILLING_SELLER) for the layout's header and footer, in the email's language."""
    return {"seller": dict(settings.BILLING_SELLER), "language": email_language()}


def pdf_attachment_or_link(
    *, document: Document, filename: str, render: Callable[[Document], Document]
) -> tuple[tuple[Attachment, ...], str, str]:
    """A document's stored PDF attached (the same bytes), or, over MAIL_ATTACHMENT_MAX_BYTES, a signed link and its
    expiry; a pending PDF is rendered first by `render` (storage down: it raises, and the email is retried later).

    A preview (the admin's) names the attachment only: it renders, reads and signs nothing."""
    if rendering_preview():
        return (Attachment(filename, b"", "application/pdf"),), "", ""
    if document.pdf_status == InvoicePdfStatus.PENDING:
        document = render(document)
    stored = document.pdf_file
    if document.pdf_status != InvoicePdfStatus.READY or stored is None:
        raise RuntimeError(f"{document._meta.verbose_name_raw} {document.pk} has no PDF yet")
    content = file_read_bytes(file=stored, max_bytes=settings.MAIL_ATTACHMENT_MAX_BYTES)
    if content is not None:
        return (Attachment(filename, content, "application/pdf"),), "", ""
    url, expires_at = file_signed_url(file=stored, expires_in=timedelta(hours=settings.MAIL_LINK_EXPIRES_HOURS))
    return (), url, date_display(expires_at)
