"""Writes of the monthly exchange rates reports convert with (issue 17): one rate set by staff, or a CSV file of
rates imported all or nothing.

A rate is KRW per one major unit of a currency for a calendar month (ExchangeRate). Invoices, payments and
balances never read rates, so entering or correcting one changes reports only. The admin (add, change, import),
`manage.py billing_exchange_rates_import` and any later caller go through these functions, which check the
actor's permissions: `billing.add_exchangerate` to create a rate, `billing.change_exchangerate` to change one.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.db import IntegrityError, transaction

from billing.models import ExchangeRate
from billing.money import MINOR_DIGITS
from billing.selectors.exchange_rates import REPORTING_CURRENCY
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_allowed, permission_require

from .exchange_rate_csv import (
    FORMULA_STARTS,
    MAX_IMPORT_BYTES,
    ImportProblem,
    ParsedCsv,
    exchange_rates_csv_parse,
    import_problems_error,
)

ADD = "billing.add_exchangerate"
CHANGE = "billing.change_exchangerate"
# The column's bounds (DecimalField(max_digits=18, decimal_places=6)).
RATE_PLACES = 6
RATE_INTEGER_DIGITS = 12
SOURCE_MAX_LENGTH = 100


def rate_currencies() -> list[str]:
    """The currencies a rate can be entered for: those we bill in, KRW aside (what reports convert to)."""
    return sorted(code for code in MINOR_DIGITS if code != REPORTING_CURRENCY)


def month_problem(month: Any) -> str | None:
    if not isinstance(month, date) or isinstance(month, datetime):
        return "Must be a date: the first day of the month."
    if month.day != 1:
        return f"A rate is for a whole month: give its first day ({month:%Y-%m}-01), not {month.isoformat()}."
    return None


def currency_problem(currency: str) -> str | None:
    if currency == REPORTING_CURRENCY:
        return "KRW is what reports convert to: it has no rate."
    if currency not in MINOR_DIGITS:
        return f"{currency!r} is not a currency we bill in; use one of {', '.join(rate_currencies())}."
    return None


def rate_problem(rate: Any) -> str | None:
    if isinstance(rate, bool) or not isinstance(rate, Decimal):
        return "Must be a decimal number (never a float)."
    if not rate.is_finite():
        return "Must be a finite number."
    if rate <= 0:
        return "Must be greater than zero."
    if rate >= Decimal(10) ** RATE_INTEGER_DIGITS:
        return f"At most {RATE_INTEGER_DIGITS} digits before the decimal point."
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):  # refused, not rounded: stored as entered
        return f"At most {RATE_PLACES} decimal places."
    return None


def text_problem(text: str, *, max_length: int) -> str | None:
    """A free text (the source) that is safe to show and to export: short, printable, not a formula."""
    if len(text) > max_length:
        return f"At most {max_length} characters."
    if text.startswith(FORMULA_STARTS):
        return "Must not start with =, +, -, @ or a tab: a spreadsheet would run it as a formula."
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in text):
        return "Must not contain control or invisible formatting characters."
    return None


@dataclass(frozen=True)
class RateInput:
    """A checked rate, ready to be written."""

    month: date
    currency: str
    krw_per_unit: Decimal
    source: str


def exchange_rate_clean(*, month: Any, currency: Any, krw_per_unit: Any, source: Any = "") -> RateInput:
    """The rate checked (nothing read or written): 400 `invalid_exchange_rate` naming each wrong field."""
    code = str(currency or "").strip().upper()
    text = str(source or "").strip()
    problems = {
        "month": month_problem(month),
        "currency": currency_problem(code),
        "krw_per_unit": rate_problem(krw_per_unit),
        "source": text_problem(text, max_length=SOURCE_MAX_LENGTH),
    }
    wrong = {name: [problem] for name, problem in problems.items() if problem is not None}
    if wrong:
        raise ApplicationError(
            "invalid_exchange_rate",
            "The exchange rate is not valid: " + "; ".join(f"{name}: {p[0]}" for name, p in wrong.items()),
            fields=wrong,
        )
    return RateInput(month=month, currency=code, krw_per_unit=krw_per_unit, source=text)


def _lock(rate: RateInput) -> ExchangeRate | None:
    return ExchangeRate.objects.select_for_update().filter(month=rate.month, currency=rate.currency).first()


def _rate_write(rate: RateInput, *, actor: Any) -> tuple[ExchangeRate, str]:
    """Create or change the month's rate of the currency: (the rate, "created" / "updated" / "unchanged")."""
    existing = _lock(rate)
    if existing is None:
        permission_require(actor=actor, permission=ADD)
        try:
            with transaction.atomic():  # a savepoint: another request may create the same month and currency now
                created = ExchangeRate.objects.create(
                    month=rate.month,
                    currency=rate.currency,
                    krw_per_unit=rate.krw_per_unit,
                    source=rate.source,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
            return created, "created"
        except IntegrityError:
            existing = _lock(rate)
            if existing is None:
                raise
    permission_require(actor=actor, permission=CHANGE)
    if existing.krw_per_unit == rate.krw_per_unit and existing.source == rate.source:
        return existing, "unchanged"
    existing.krw_per_unit = rate.krw_per_unit
    existing.source = rate.source
    existing.save(update_fields=["krw_per_unit", "source", "updated_at"])
    return existing, "updated"


def _may_write(actor: Any) -> None:
    """Refuse at once an actor who may neither create nor change a rate (before anything is read)."""
    if not (permission_allowed(actor=actor, permission=ADD) or permission_allowed(actor=actor, permission=CHANGE)):
        permission_require(actor=actor, permission=ADD)


@transaction.atomic
def exchange_rate_set(
    *, month: date, currency: str, krw_per_unit: Decimal, source: str = "", actor: Any
) -> ExchangeRate:
    """Set the rate of `currency` for `month` (its first day): created, or the existing one changed (the other
    permission). Reports of that month convert with it from now on; no invoice changes."""
    _may_write(actor)
    rate = exchange_rate_clean(month=month, currency=currency, krw_per_unit=krw_per_unit, source=source)
    return _rate_write(rate, actor=actor)[0]


@dataclass(frozen=True)
class ExchangeRateImport:
    """What an import did: rates created, changed, and already as the file says."""

    created: int
    updated: int
    unchanged: int

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged


def _read_bounded(file: IO[bytes] | bytes) -> bytes:
    """At most MAX_IMPORT_BYTES of the file; a larger one is refused (413 `import_too_large`), one whose size is
    known (an upload) without reading it."""
    declared = len(file) if isinstance(file, bytes) else getattr(file, "size", None)
    too_large = isinstance(declared, int) and declared > MAX_IMPORT_BYTES
    raw = b""
    if not too_large:
        raw = file[: MAX_IMPORT_BYTES + 1] if isinstance(file, bytes) else file.read(MAX_IMPORT_BYTES + 1)
        too_large = len(raw) > MAX_IMPORT_BYTES
    if too_large:
        message = f"The file is larger than {MAX_IMPORT_BYTES // 1024} KiB; split it (nothing was imported)."
        raise ApplicationError("import_too_large", message, status_code=413, fields={"file": [message]})
    return raw


def _problems_of(parsed: ParsedCsv) -> list[ImportProblem]:
    """Each row's values checked as `exchange_rate_set` checks them (a cell that could not be read is reported
    once, already); a second row of the same month and currency is a problem, whatever its rate."""
    problems: list[ImportProblem] = []
    seen: dict[tuple[date, str], int] = {}
    for row in parsed.rows:
        try:
            exchange_rate_clean(
                month=row.month, currency=row.currency, krw_per_unit=row.krw_per_unit, source=row.source
            )
        except ApplicationError as error:
            problems += [
                ImportProblem(row.line, name, messages[0])
                for name, messages in error.fields.items()
                if not parsed.reported(row.line, name)
            ]
        currency = row.currency.strip().upper()
        if row.month is None or month_problem(row.month) or currency_problem(currency):
            continue
        first = seen.setdefault((row.month, currency), row.line)
        if first != row.line:
            problems.append(ImportProblem(row.line, "", f"{currency} {row.month:%Y-%m} is on line {first} already."))
    return problems


def exchange_rates_import_csv(*, file: IO[bytes] | bytes, actor: Any) -> ExchangeRateImport:
    """Import a CSV of rates (columns month, currency, krw_per_unit and optionally source; UTF-8) all or nothing.

    Every row is checked before anything is written; any problem refuses the whole file (400 `import_invalid`,
    one message per problem with its line in `fields["file"]`). A larger file than MAX_IMPORT_BYTES is 413
    `import_too_large`. Rates already entered are changed (that needs the change permission too).
    """
    permission_require(actor=actor, permission=ADD)
    parsed = exchange_rates_csv_parse(_read_bounded(file))
    problems = sorted([*parsed.problems, *_problems_of(parsed)], key=lambda problem: problem.line)
    if problems:
        raise import_problems_error(problems)
    rates = sorted(
        (
            exchange_rate_clean(
                month=row.month, currency=row.currency, krw_per_unit=row.krw_per_unit, source=row.source
            )
            for row in parsed.rows
        ),
        key=lambda rate: (rate.month, rate.currency),  # one lock order for every import: no deadlock between two
    )
    outcomes = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for rate in rates:
            outcomes[_rate_write(rate, actor=actor)[1]] += 1
    return ExchangeRateImport(**outcomes)
