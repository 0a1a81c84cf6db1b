"""VAT by date and treatment: the rate schedule (the rate in effect on each Seoul day), an invoice's rate, and the
legal basis printed on a 0 % VAT document.

The rate before any change is BILLING_VAT_RATE_BASIS_POINTS; BILLING_VAT_RATE_CHANGES lists the days a new rate
takes effect ("2027-07-01=1200,2028-01-01=1100": from that Seoul day on). An invoice takes the rate of its issue
day and keeps it (Invoice.vat_rate_basis_points), so a change applies only to invoices issued from its day on.
"""

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from billing.enums import Language, TaxTreatment
from billing.money import BASIS_POINTS, vat_amount
from billing.periods import billing_date

# What a 0 % VAT invoice prints when the customer has no basis of its own (Customer.tax_basis): zero-rated export of
# services (영세율) and exempt supplies (면세), per document language.
DEFAULT_TAX_BASIS: dict[str, dict[str, str]] = {
    TaxTreatment.ZERO_RATED: {
        Language.KOREAN: "부가가치세법 제24조 제1항 제3호, 같은 법 시행령 제33조 제2항",
        Language.ENGLISH: "Value-Added Tax Act, Article 24(1)3, and its Enforcement Decree, Article 33(2)",
    },
    TaxTreatment.EXEMPT: {
        Language.KOREAN: "부가가치세법 제26조",
        Language.ENGLISH: "Value-Added Tax Act, Article 26",
    },
}

RateChanges = tuple[tuple[date, int], ...]


def _basis_points(value: object, *, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a number of basis points.")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise ValueError(f"{what}: {value!r} is not a whole number of basis points.")
        value = int(text)
    if not isinstance(value, int) or not 0 <= value <= BASIS_POINTS:
        raise ValueError(f"{what}: {value!r} must be an integer number of basis points from 0 to {BASIS_POINTS}.")
    return value


def _day(value: object, *, what: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{what}: a day is expected, not a moment ({value!r}).")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as error:
        raise ValueError(f"{what}: {value!r} is not a day (YYYY-MM-DD).") from error


def vat_rate_changes_parse(value: object) -> RateChanges:
    """The schedule of a BILLING_VAT_RATE_CHANGES value, sorted by day: a text "YYYY-MM-DD=basis points,..." (the
    environment's form), or a mapping of days to basis points. Empty: no change. ValueError names what is wrong."""
    if value is None or value == "":
        return ()
    pairs: list[tuple[object, object]]
    if isinstance(value, str):
        pairs = []
        for index, item in enumerate(part.strip() for part in value.split(",")):
            day_text, equals, rate_text = item.partition("=")
            if not equals:
                raise ValueError(
                    f"BILLING_VAT_RATE_CHANGES item {index + 1} ({item!r}) is not YYYY-MM-DD=basis points."
                )
            pairs.append((day_text, rate_text))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ValueError(f"BILLING_VAT_RATE_CHANGES = {value!r}: a text YYYY-MM-DD=basis points,... is expected.")
    changes: dict[date, int] = {}
    for day_value, rate_value in pairs:
        what = f"BILLING_VAT_RATE_CHANGES {day_value}"
        day = _day(day_value, what=what)
        if day in changes:
            raise ValueError(f"{what}: the day is listed twice.")
        changes[day] = _basis_points(rate_value, what=what)
    return tuple(sorted(changes.items()))


@lru_cache(maxsize=8)
def _changes_cached(text: str) -> RateChanges:
    return vat_rate_changes_parse(text)


def vat_rate_changes() -> RateChanges:
    """The configured schedule (parsed once per value; `manage.py check` refuses a malformed one, billing.E008)."""
    value = getattr(settings, "BILLING_VAT_RATE_CHANGES", "")
    if isinstance(value, str):
        return _changes_cached(value)
    return vat_rate_changes_parse(value)


def vat_rate_on(*, day: date) -> int:
    """The VAT rate in basis points (1000 = 10 %) in effect on a Seoul calendar day: the last change on or before
    it, else BILLING_VAT_RATE_BASIS_POINTS."""
    rate = int(settings.BILLING_VAT_RATE_BASIS_POINTS)
    for changed_on, changed_rate in vat_rate_changes():
        if changed_on > day:
            break
        rate = changed_rate
    return rate


def vat_rate_for(*, tax_treatment: str, day: date) -> int:
    """The rate an invoice of this treatment issued on `day` carries: the scheduled rate if taxable, else 0."""
    if tax_treatment not in TaxTreatment.values:
        raise ValueError(f"Unknown tax treatment {tax_treatment!r}.")
    return vat_rate_on(day=day) if tax_treatment == TaxTreatment.TAXABLE else 0


def vat_rate_now(*, tax_treatment: str, now: datetime | None = None) -> int:
    """The rate of this treatment today in Seoul (or on the Seoul day of `now`)."""
    return vat_rate_for(tax_treatment=tax_treatment, day=billing_date(now or timezone.now()))


def vat_on(*, supply_amount: int, tax_treatment: str, day: date) -> int:
    """VAT of a supply amount under a treatment at the rate of `day` (money.vat_amount's truncation)."""
    return vat_amount(
        supply_amount=supply_amount,
        tax_treatment=tax_treatment,
        rate_basis_points=vat_rate_for(tax_treatment=tax_treatment, day=day),
    )


def tax_basis_text(*, treatment: str, basis: str, language: str) -> str:
    """The legal basis a document of this treatment prints: the customer's own `basis` when given, else the
    treatment's default in `language` (Korean when unknown); empty for a taxable supply (its VAT needs none)."""
    if treatment not in TaxTreatment.values:
        raise ValueError(f"Unknown tax treatment {treatment!r}.")
    if treatment == TaxTreatment.TAXABLE:
        return ""
    own = (basis or "").strip()
    if own:
        return own
    defaults = DEFAULT_TAX_BASIS[treatment]
    return defaults.get(language, defaults[Language.KOREAN])


def vat_rate_percent(basis_points: int) -> str:
    """1000 -> "10", 1050 -> "10.5", 0 -> "0": a rate as printed, in Decimal (no float)."""
    return format(Decimal(basis_points).scaleb(-2).normalize(), "f")
