"""What every billing email shows: the seller, amounts (₩1,234,567) and Asia/Seoul dates in the email's language."""

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone, translation

from billing.enums import Language
from billing.money import money_format


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
    return money_format(amount=amount, currency=currency)


def base_context() -> dict[str, Any]:
    """The seller (settings.BILLING_SELLER) for the layout's header and footer, in the email's language."""
    return {"seller": dict(settings.BILLING_SELLER), "language": email_language()}
