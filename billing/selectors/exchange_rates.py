"""Reads of the monthly exchange rates (issue 17) and the one conversion of report amounts to KRW.

Only reports convert (the dashboard, MRR): an amount of a currency in a month is worth amount x that month's rate
in won, computed exactly in Decimal and rounded once, half up, to whole won at the very end (of a figure or of a
total over currencies, never per part of a total). A currency and month without a rate is never guessed (no
neighbouring month, no latest rate): it is reported as missing and left out of the KRW total.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext

from billing.models import ExchangeRate
from billing.money import decimal_from_minor_units

REPORTING_CURRENCY = "KRW"
# Enough digits for the largest amount (10^15 minor units) times the largest rate (10^12, 6 places): exact.
_PRECISION = 60

Rates = Mapping[tuple[date, str], Decimal]


def month_of(day: date) -> date:
    """The first day of the month of `day`: the key rates are stored under."""
    return day.replace(day=1)


def rate_for(*, month: date, currency: str) -> Decimal | None:
    """KRW per one unit of `currency` in the month of `month` (any day of it): 1 for KRW itself, None when no
    rate was entered for that month."""
    if currency == REPORTING_CURRENCY:
        return Decimal(1)
    return (
        ExchangeRate.objects.filter(month=month_of(month), currency=currency)
        .values_list("krw_per_unit", flat=True)
        .first()
    )


def rates_between(*, first: date, last: date) -> dict[tuple[date, str], Decimal]:
    """Every rate of the months from `first` to `last` (both included), by (month, currency): one query."""
    rows = ExchangeRate.objects.filter(month__gte=month_of(first), month__lte=month_of(last)).values_list(
        "month", "currency", "krw_per_unit"
    )
    return {(month, currency): rate for month, currency, rate in rows}


def rates_by_currency(*, months: Iterable[date]) -> dict[str, dict[date, Decimal]]:
    """The rates of `months` per currency (currencies without any rate in them are absent): one query."""
    wanted = sorted({month_of(month) for month in months})
    by_currency: dict[str, dict[date, Decimal]] = {}
    if not wanted:
        return by_currency
    for (month, currency), rate in sorted(rates_between(first=wanted[0], last=wanted[-1]).items()):
        if month in wanted:
            by_currency.setdefault(currency, {})[month] = rate
    return by_currency


def krw_exact(*, amount: int, currency: str, rate: Decimal) -> Decimal:
    """`amount` minor units of `currency` in won, exactly (no rounding: the caller rounds once, at the end)."""
    with localcontext() as context:
        context.prec = _PRECISION
        context.traps[Inexact] = True  # a lost digit would be a rounding before the end
        return decimal_from_minor_units(amount=amount, currency=currency) * rate


def krw_round(value: Decimal) -> int:
    """Whole won, half up (0.5 away from zero): the one rounding of a report figure."""
    with localcontext() as context:
        context.prec = _PRECISION
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Conversion:
    """An amount of one currency in one month and its rate (None: no rate entered for that month)."""

    month: date
    currency: str
    amount: int  # minor units of `currency`
    rate: Decimal | None

    @property
    def exact_krw(self) -> Decimal | None:
        if self.rate is None:
            return None
        return krw_exact(amount=self.amount, currency=self.currency, rate=self.rate)

    @property
    def krw(self) -> int | None:
        """This amount alone in whole won; None without a rate."""
        exact = self.exact_krw
        return None if exact is None else krw_round(exact)


@dataclass(frozen=True)
class KrwTotal:
    """Amounts of several currencies in one month, totalled in won with the rates of that month."""

    month: date
    parts: tuple[Conversion, ...]

    @property
    def krw(self) -> int:
        """The sum of the exact values of the parts that have a rate, rounded once."""
        exact = [part.exact_krw for part in self.parts]
        with localcontext() as context:
            context.prec = _PRECISION
            return krw_round(sum((value for value in exact if value is not None), Decimal(0)))

    @property
    def missing(self) -> tuple[Conversion, ...]:
        """The parts without a rate (left out of `krw`); an amount of zero needs none and is not listed."""
        return tuple(part for part in self.parts if part.rate is None and part.amount)

    @property
    def converted(self) -> tuple[Conversion, ...]:
        """The parts of other currencies than KRW that were converted: the rates the total used."""
        return tuple(part for part in self.parts if part.rate is not None and part.currency != REPORTING_CURRENCY)


def krw_total(*, month: date, amounts: Mapping[str, int], rates: Rates) -> KrwTotal:
    """`amounts` (minor units by currency) of `month` with that month's `rates` (from rates_between)."""
    first = month_of(month)
    parts = tuple(
        Conversion(
            month=first,
            currency=currency,
            amount=amount,
            rate=Decimal(1) if currency == REPORTING_CURRENCY else rates.get((first, currency)),
        )
        for currency, amount in sorted(amounts.items(), key=lambda item: (item[0] != REPORTING_CURRENCY, item[0]))
    )
    return KrwTotal(month=first, parts=parts)
