"""Money arithmetic: integer minor units plus an ISO 4217 currency; VAT, rounding and display in one place.

No float ever touches an amount. A KRW amount is whole won (0 minor digits); a USD amount is cents.
"""

from decimal import ROUND_DOWN, Decimal

from babel.numbers import format_currency
from django.conf import settings

from billing.enums import TaxTreatment
from billing_site.errors import ApplicationError

# ISO 4217 minor digits of the currencies we bill in. Adding one is a line here (and a symbol below).
MINOR_DIGITS: dict[str, int] = {
    "KRW": 0,
    "JPY": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CNY": 2,
}
SYMBOLS: dict[str, str] = {"KRW": "₩", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "CNY": "CN¥"}
# The babel (CLDR) locale a document language formats amounts in.
LANGUAGE_LOCALES: dict[str, str] = {"ko": "ko_KR", "en": "en_US"}

# 10^15 minor units: a quadrillion won. Far beyond any invoice, far below BIGINT once VAT is added.
MAX_AMOUNT = 10**15
BASIS_POINTS = 10_000


def currency_normalize(currency: str | None) -> str:
    """The upper-case code of a supported currency; the default currency when none is given."""
    code = (currency or settings.BILLING_DEFAULT_CURRENCY).strip().upper()
    if code not in MINOR_DIGITS:
        raise ApplicationError(
            "unsupported_currency",
            f"Currency {code!r} is not supported; use one of {', '.join(sorted(MINOR_DIGITS))}.",
            fields={"currency": [f"Unsupported currency {code!r}."]},
        )
    return code


def currency_minor_digits(currency: str) -> int:
    return MINOR_DIGITS[currency_normalize(currency)]


def amount_validate(amount: object, *, field: str = "amount", allow_zero: bool = False) -> int:
    """An amount in minor units: an int (never a float or bool), positive (or zero if allowed), at most MAX_AMOUNT."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ApplicationError(
            "invalid_amount",
            f"{field} must be an integer number of minor units.",
            fields={field: ["Must be an integer in minor units (won for KRW, cents for USD)."]},
        )
    if amount < 0 or (amount == 0 and not allow_zero):
        minimum = "zero or more" if allow_zero else "greater than zero"
        raise ApplicationError("invalid_amount", f"{field} must be {minimum}.", fields={field: [f"Must be {minimum}."]})
    if amount > MAX_AMOUNT:
        raise ApplicationError(
            "invalid_amount", f"{field} is too large.", fields={field: [f"Must be at most {MAX_AMOUNT}."]}
        )
    return amount


def vat_rate_basis_points(*, tax_treatment: str = TaxTreatment.TAXABLE) -> int:
    """The VAT rate of a tax treatment in basis points: the configured rate (1000 = 10%) if taxable, else 0.

    Zero-rated (영세율) and exempt (면세) supplies both carry no VAT; they differ on the tax return, not here.
    """
    if tax_treatment not in TaxTreatment.values:
        raise ValueError(f"Unknown tax treatment {tax_treatment!r}.")
    if tax_treatment != TaxTreatment.TAXABLE:
        return 0
    return int(settings.BILLING_VAT_RATE_BASIS_POINTS)


def vat_amount(
    *, supply_amount: int, tax_treatment: str = TaxTreatment.TAXABLE, rate_basis_points: int | None = None
) -> int:
    """VAT on a supply amount under a tax treatment, fractions of the minor unit truncated (toward zero, also for
    credits). The one place the server computes VAT: invoices, orders and subscriptions all come here."""
    treatment_rate = vat_rate_basis_points(tax_treatment=tax_treatment)
    if tax_treatment != TaxTreatment.TAXABLE:
        return 0  # an explicit rate never taxes a zero-rated or exempt supply
    rate = treatment_rate if rate_basis_points is None else rate_basis_points
    product = abs(supply_amount) * rate
    tax = product // BASIS_POINTS
    return -tax if supply_amount < 0 else tax


def line_amount(*, quantity: int, unit_amount: int) -> int:
    """A line's amount: quantity x unit amount, exact in minor units (no rounding needed for whole quantities)."""
    return quantity * unit_amount


def minor_units_from_decimal(*, amount: Decimal, currency: str) -> int:
    """The one rounding helper: a Decimal in major units to minor units, truncated (pro rata credits etc.)."""
    if not isinstance(amount, Decimal):
        raise TypeError("minor_units_from_decimal takes a Decimal, never a float.")
    digits = currency_minor_digits(currency)
    scaled = (amount * (Decimal(10) ** digits)).quantize(Decimal(1), rounding=ROUND_DOWN)
    return int(scaled)


def decimal_from_minor_units(*, amount: int, currency: str) -> Decimal:
    """Minor units as a Decimal in major units (12345 USD cents -> Decimal('123.45'))."""
    digits = currency_minor_digits(currency)
    return Decimal(amount).scaleb(-digits) if digits else Decimal(amount)


def money_locale(language: str) -> str:
    """The babel locale of a document language: "ko" or "en", also as a regional tag ("en-us", "ko_KR")."""
    locale = LANGUAGE_LOCALES.get(language.strip().lower()[:2])
    if locale is None:
        raise ValueError(f"No money format for language {language!r}; use one of {', '.join(LANGUAGE_LOCALES)}.")
    return locale


def money_format(*, amount: int, currency: str, symbol: bool = True, language: str | None = None) -> str:
    """Display form with thousands separators.

    Without a language, the one locale-neutral form: ₩1,234,567 · $1,234.56 · -₩1,000. With a language (PDFs,
    emails, the admin), the CLDR form of its locale through babel: English ₩99,000 · $79.00 · €72.00 · ¥8,900;
    Korean the same except US$79.00 and JP¥8,900 (CLDR's Korean symbols). `symbol=False`: the number alone.
    """
    code = currency_normalize(currency)
    digits = MINOR_DIGITS[code]
    if language is not None:
        # Exact in major units, and babel keeps the currency's CLDR digits, which equal MINOR_DIGITS (tested), so
        # nothing is rounded. "#,##0" is the locale's grouping without the currency sign.
        value = decimal_from_minor_units(amount=amount, currency=code)
        pattern = None if symbol else "#,##0"
        return format_currency(value, code, format=pattern, locale=money_locale(language), currency_digits=True)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**digits) if digits else (abs(amount), 0)
    text = f"{major:,}" + (f".{minor:0{digits}d}" if digits else "")
    prefix = SYMBOLS.get(code, f"{code} ") if symbol else ""
    return f"{sign}{prefix}{text}"
