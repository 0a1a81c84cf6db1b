"""System checks of the billing app: a Hangul font for invoice PDFs, a sane VAT rate and rate schedule, a valid
seller number, a dunning schedule that can run."""

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from billing.enums import CustomerInvoicePolicy
from billing.models.subscriptions import DunningAction
from billing.tax import vat_rate_changes_parse
from billing.validators import business_registration_number_normalize

FONT_HINT = (
    "Install the Nanum fonts (scripts/install-system-deps.sh, or `apt-get install fonts-nanum`) or point "
    "BILLING_PDF_FONT_PATH / BILLING_PDF_FONT_BOLD_PATH at a TrueType font with Hangul. Without one every "
    "Korean character and ₩ on an invoice PDF would print as a black box."
)
REQUIRED_GLYPHS = "한글₩"
DUNNING_FINAL_ACTIONS = (DunningAction.CANCEL.value, DunningAction.UNCOLLECTIBLE.value)


@lru_cache(maxsize=8)
def _font_problem(path: str, modified: float) -> str | None:
    """Why the font cannot print Korean invoices, or None; cached per file version (parsing takes ~0.1 s)."""
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        font = TTFont("billing-check", path)
    except (TTFError, OSError, ValueError) as error:
        return f"is not a usable TrueType font ({error})"
    missing = [char for char in REQUIRED_GLYPHS if ord(char) not in font.face.charToGlyph]
    if missing:
        return f"has no glyph for {' '.join(missing)}"
    return None


@register("billing")
def check_pdf_fonts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for setting_name in ("BILLING_PDF_FONT_PATH", "BILLING_PDF_FONT_BOLD_PATH"):
        value = getattr(settings, setting_name, "")
        if not value and setting_name == "BILLING_PDF_FONT_BOLD_PATH":
            continue  # bold falls back to the regular face
        path = Path(value) if value else None
        if path is None or not path.is_file():
            messages.append(Error(f"{setting_name} = {value!r}: no such font file.", hint=FONT_HINT, id="billing.E001"))
            continue
        problem = _font_problem(str(path), path.stat().st_mtime)
        if problem:
            messages.append(Error(f"{setting_name} = {value!r} {problem}.", hint=FONT_HINT, id="billing.E002"))
    return messages


@register("billing")
def check_billing_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    rate = getattr(settings, "BILLING_VAT_RATE_BASIS_POINTS", None)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 10_000:
        messages.append(
            Error(
                f"BILLING_VAT_RATE_BASIS_POINTS = {rate!r}: must be an integer number of basis points from 0 to 10000.",
                hint="1000 is 10% (Korean VAT). Never a float: money is integer arithmetic here.",
                id="billing.E003",
            )
        )
    try:
        vat_rate_changes_parse(getattr(settings, "BILLING_VAT_RATE_CHANGES", ""))
    except ValueError as error:
        messages.append(
            Error(
                str(error),
                hint="Comma-separated YYYY-MM-DD=basis points, e.g. 2027-07-01=1200: the rate from that Seoul day on.",
                id="billing.E008",
            )
        )
    policy = getattr(settings, "BILLING_CUSTOMER_INVOICES", None)
    if policy not in CustomerInvoicePolicy.values:
        messages.append(
            Error(
                f"BILLING_CUSTOMER_INVOICES = {policy!r}: must be one of {', '.join(CustomerInvoicePolicy.values)}.",
                hint="'any' lets customers invoice any amount (the seed); 'orders_only' only their own orders.",
                id="billing.E004",
            )
        )
    messages += _dunning_problems()
    seller_number = settings.BILLING_SELLER.get("business_registration_number", "")
    try:
        business_registration_number_normalize(seller_number)
    except ValueError as error:
        messages.append(
            Warning(
                f"BILLING_SELLER_BUSINESS_NUMBER = {seller_number!r}: {error}",
                hint="Invoices print this number; set the company's real 사업자등록번호.",
                id="billing.W001",
            )
        )
    return messages


def _is_day_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _dunning_problems() -> list[CheckMessage]:
    """BILLING_DUNNING_*: increasing reminder days, a final day after them, a final action billing knows."""
    messages: list[CheckMessage] = []
    action = getattr(settings, "BILLING_DUNNING_FINAL_ACTION", None)
    if action not in DUNNING_FINAL_ACTIONS:
        messages.append(
            Error(
                f"BILLING_DUNNING_FINAL_ACTION = {action!r}: must be one of {', '.join(DUNNING_FINAL_ACTIONS)}.",
                hint="'cancel' ends the subscription (reason unpaid); 'uncollectible' writes the invoice off.",
                id="billing.E005",
            )
        )
    schedule = getattr(settings, "BILLING_DUNNING_SCHEDULE", None)
    final_days = getattr(settings, "BILLING_DUNNING_FINAL_DAYS", None)
    days = list(schedule) if isinstance(schedule, (list, tuple)) else None
    if days is None or not all(_is_day_count(day) for day in days) or days != sorted(set(days)):
        messages.append(
            Error(
                f"BILLING_DUNNING_SCHEDULE = {schedule!r}: must be increasing whole days after the due date (>= 1).",
                hint="For example 1,3,7: reminders one, three and seven days after the due date.",
                id="billing.E006",
            )
        )
    elif not _is_day_count(final_days) or (days and final_days <= days[-1]):
        messages.append(
            Error(
                f"BILLING_DUNNING_FINAL_DAYS = {final_days!r}: must be a whole number of days after the last "
                f"reminder ({days[-1] if days else 0}).",
                hint="The final action comes after every reminder (default 14 days after the due date).",
                id="billing.E007",
            )
        )
    return messages
