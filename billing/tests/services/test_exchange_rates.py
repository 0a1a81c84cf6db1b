"""Exchange rates (issue 17): setting one (checks, permissions), reading one, and the conversion of report amounts
to KRW: exact Decimal arithmetic, rounded once, half up, to whole won."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from billing.models import ExchangeRate
from billing.selectors.exchange_rates import (
    Conversion,
    krw_exact,
    krw_round,
    krw_total,
    rate_for,
    rates_between,
    rates_by_currency,
)
from billing.services.exchange_rates import exchange_rate_set
from billing_site.errors import ApplicationError

from ..factories import StaffUserFactory

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)


def staff_with(*codenames: str) -> Any:
    """A staff member holding exactly these billing permissions (no group)."""
    user = StaffUserFactory.create()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))
    return user


def test_set_creates_then_changes_the_month_rate(billing_staff_user: Any) -> None:
    created = exchange_rate_set(
        month=JUNE, currency="usd", krw_per_unit=Decimal("1380.25"), source=" 한국은행 ", actor=billing_staff_user
    )
    assert (created.month, created.currency, created.krw_per_unit, created.source) == (
        JUNE,
        "USD",
        Decimal("1380.25"),
        "한국은행",
    )
    assert created.created_by == billing_staff_user

    changed = exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1391.5"), actor=None)

    assert changed.pk == created.pk and ExchangeRate.objects.count() == 1
    stored = ExchangeRate.objects.get()
    assert (stored.krw_per_unit, stored.source, stored.created_by) == (Decimal("1391.5"), "", billing_staff_user)


@pytest.mark.parametrize(
    ("field", "values", "expected"),
    [
        ("month", {"month": date(2026, 6, 15)}, "first day (2026-06-01)"),
        ("month", {"month": datetime(2026, 6, 1, 0, 0)}, "Must be a date"),
        ("month", {"month": "2026-06-01"}, "Must be a date"),
        ("currency", {"currency": "KRW"}, "KRW is what reports convert to"),
        ("currency", {"currency": "XYZ"}, "not a currency we bill in"),
        ("currency", {"currency": ""}, "not a currency we bill in"),
        ("krw_per_unit", {"krw_per_unit": Decimal(0)}, "greater than zero"),
        ("krw_per_unit", {"krw_per_unit": Decimal("-1380.25")}, "greater than zero"),
        ("krw_per_unit", {"krw_per_unit": 1380.25}, "never a float"),
        ("krw_per_unit", {"krw_per_unit": 1380}, "never a float"),
        ("krw_per_unit", {"krw_per_unit": Decimal("NaN")}, "finite"),
        ("krw_per_unit", {"krw_per_unit": Decimal("Infinity")}, "finite"),
        ("krw_per_unit", {"krw_per_unit": Decimal("1380.1234567")}, "At most 6 decimal places"),
        ("krw_per_unit", {"krw_per_unit": Decimal("1000000000000")}, "At most 12 digits"),
        ("source", {"source": '=HYPERLINK("http://evil")'}, "formula"),
        ("source", {"source": "@SUM(A1)"}, "formula"),
        ("source", {"source": "-2+3"}, "formula"),
        ("source", {"source": "한국은행\u202e"}, "control"),
        ("source", {"source": "x" * 101}, "At most 100 characters"),
    ],
)
def test_a_wrong_rate_is_refused_on_its_field(
    billing_staff_user: Any, field: str, values: dict[str, Any], expected: str
) -> None:
    arguments = {"month": JUNE, "currency": "USD", "krw_per_unit": Decimal("1380.25"), "source": "", **values}

    with pytest.raises(ApplicationError) as refused:
        exchange_rate_set(actor=billing_staff_user, **arguments)

    assert refused.value.code == "invalid_exchange_rate" and refused.value.status_code == 400
    assert list(refused.value.fields) == [field]
    assert expected in refused.value.fields[field][0]
    assert not ExchangeRate.objects.exists()


def test_six_places_and_trailing_zeros_are_fine(billing_staff_user: Any) -> None:
    rate = exchange_rate_set(month=JUNE, currency="JPY", krw_per_unit=Decimal("9.12345600"), actor=billing_staff_user)
    assert ExchangeRate.objects.get(pk=rate.pk).krw_per_unit == Decimal("9.123456")


def test_a_read_only_staff_member_cannot_add_or_change_a_rate() -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    viewer = staff_with("view_exchangerate")

    for month in (JUNE, date(2026, 7, 1)):  # a change, then an addition
        with pytest.raises(ApplicationError) as refused:
            exchange_rate_set(month=month, currency="USD", krw_per_unit=Decimal("1"), actor=viewer)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)

    assert list(ExchangeRate.objects.values_list("month", "krw_per_unit")) == [(JUNE, Decimal("1380.25"))]


def test_adding_and_changing_are_two_permissions() -> None:
    adder = staff_with("add_exchangerate")
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=adder)

    with pytest.raises(ApplicationError) as refused:
        exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1400"), actor=adder)
    assert refused.value.code == "permission_denied"

    changer = staff_with("change_exchangerate")
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1400"), actor=changer)
    with pytest.raises(ApplicationError):
        exchange_rate_set(month=JUNE, currency="EUR", krw_per_unit=Decimal("1500"), actor=changer)
    assert list(ExchangeRate.objects.values_list("currency", "krw_per_unit")) == [("USD", Decimal("1400"))]


def test_support_cannot_set_a_rate(support_user: Any) -> None:
    with pytest.raises(ApplicationError) as refused:
        exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=support_user)
    assert refused.value.code == "permission_denied"
    assert not ExchangeRate.objects.exists()


def test_rate_for_is_the_month_rate_or_none_never_a_neighbour() -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)

    assert rate_for(month=date(2026, 6, 30), currency="USD") == Decimal("1380.25")
    assert rate_for(month=date(2026, 7, 1), currency="USD") is None
    assert rate_for(month=date(2026, 5, 31), currency="USD") is None
    assert rate_for(month=date(2026, 7, 1), currency="EUR") is None
    assert rate_for(month=date(1999, 1, 1), currency="KRW") == Decimal(1)


def test_rates_of_a_window_in_one_query(django_assert_num_queries: Any) -> None:
    for month, currency, rate in (
        (date(2026, 4, 1), "USD", "1350"),
        (JUNE, "USD", "1380.25"),
        (JUNE, "JPY", "9.1"),
        (date(2026, 7, 1), "USD", "1400"),
    ):
        exchange_rate_set(month=month, currency=currency, krw_per_unit=Decimal(rate), actor=None)

    with django_assert_num_queries(1):
        window = rates_between(first=date(2026, 5, 1), last=date(2026, 6, 20))
    assert window == {(JUNE, "USD"): Decimal("1380.25"), (JUNE, "JPY"): Decimal("9.1")}
    with django_assert_num_queries(1):
        by_currency = rates_by_currency(months=[date(2026, 4, 1), date(2026, 7, 1)])
    assert by_currency == {"USD": {date(2026, 4, 1): Decimal("1350"), date(2026, 7, 1): Decimal("1400")}}


# --- conversion ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "exact", "won"),
    [
        (1_234, "USD", "1380.25", "17032.2850", 17_032),  # $12.34
        (10, "USD", "1385", "138.50", 139),  # half up (banker's rounding would give 138)
        (10, "USD", "1375", "137.50", 138),
        (-10, "USD", "1385", "-138.50", -139),  # a negative half goes away from zero, as a positive one
        (8_900, "JPY", "9.1234", "81198.2600", 81_198),  # no minor unit: ¥8,900
        (7_200, "EUR", "1495.123456", "107648.888832", 107_649),
        (99_000, "KRW", "1", "99000", 99_000),
    ],
)
def test_an_amount_in_krw_is_exact_then_rounded_half_up(
    amount: int, currency: str, rate: str, exact: str, won: int
) -> None:
    value = krw_exact(amount=amount, currency=currency, rate=Decimal(rate))
    assert isinstance(value, Decimal) and value == Decimal(exact)
    assert krw_round(value) == won
    assert Conversion(month=JUNE, currency=currency, amount=amount, rate=Decimal(rate)).krw == won


def test_the_largest_amount_at_the_largest_rate_stays_exact() -> None:
    rate = Decimal("999999999999.999999")
    value = krw_exact(amount=10**15, currency="USD", rate=rate)
    assert value == Decimal(10**13) * rate  # 10^13 dollars; no digit lost (the arithmetic traps any rounding)
    assert krw_round(value) == 10**25 - 10**7


def test_a_total_over_currencies_rounds_once_at_the_end() -> None:
    rates = {(JUNE, "USD"): Decimal("1385"), (JUNE, "EUR"): Decimal("1495")}

    total = krw_total(month=date(2026, 6, 17), amounts={"EUR": 10, "USD": 10, "KRW": 1_000}, rates=rates)

    # 138.5 + 149.5 + 1,000 = 1,288 exactly; rounding each part first would give 139 + 150 + 1,000 = 1,289.
    assert total.krw == 1_288
    assert [part.krw for part in total.parts] == [1_000, 150, 139]  # KRW first, then by currency
    assert [part.currency for part in total.converted] == ["EUR", "USD"]
    assert total.missing == ()


def test_a_currency_without_a_rate_is_left_out_of_the_total_not_guessed() -> None:
    rates = {(date(2026, 5, 1), "EUR"): Decimal("1495"), (JUNE, "USD"): Decimal("1380")}

    total = krw_total(month=JUNE, amounts={"KRW": 5_000, "USD": 100, "EUR": 7_200, "JPY": 0}, rates=rates)

    assert total.krw == 5_000 + 1_380  # EUR has May's rate only: June's EUR is not converted
    assert [(part.currency, part.amount) for part in total.missing] == [("EUR", 7_200)]  # JPY 0 needs no rate
    eur = next(part for part in total.parts if part.currency == "EUR")
    assert (eur.rate, eur.exact_krw, eur.krw) == (None, None, None)
