"""Money arithmetic: minor units, VAT truncation and tax treatments, the edge amounts, two-digit currencies, display."""

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.enums import TaxTreatment
from billing.money import (
    BASIS_POINTS,
    MAX_AMOUNT,
    amount_validate,
    currency_minor_digits,
    currency_normalize,
    decimal_from_minor_units,
    line_amount,
    minor_units_from_decimal,
    money_format,
    vat_amount,
    vat_rate_basis_points,
)
from billing_site.errors import ApplicationError


@pytest.mark.parametrize("amount", [1, 99_000, 10**12, MAX_AMOUNT])
def test_amounts_from_one_won_to_the_maximum_are_accepted(amount):
    assert amount_validate(amount) == amount


@pytest.mark.parametrize(
    "amount",
    [0, -1, MAX_AMOUNT + 1, 1000.0, 99.5, "1000", None, True, Decimal("1000")],
    ids=["zero", "negative", "too-large", "float", "fractional-float", "string", "none", "bool", "decimal"],
)
def test_zero_negative_huge_and_non_integer_amounts_are_refused(amount):
    with pytest.raises(ApplicationError) as refused:
        amount_validate(amount, field="amount_krw")
    assert refused.value.code == "invalid_amount"
    assert "amount_krw" in refused.value.fields


def test_zero_is_accepted_where_allowed():
    assert amount_validate(0, allow_zero=True) == 0


@pytest.mark.parametrize(
    ("supply", "rate", "tax"),
    [
        (1, 1000, 0),  # 0.1 won truncated
        (9, 1000, 0),
        (10, 1000, 1),
        (19, 1000, 1),  # 1.9 won truncated, not rounded
        (99_000, 1000, 9_900),
        (99_999, 1000, 9_999),  # 9999.9 -> 9999
        (10**12, 1000, 10**11),
        (1234, 0, 0),  # tax-exempt configuration
        (1234, 1050, 129),  # 10.5% = 129.57 -> 129
        (-15, 1000, -1),  # a credit truncates toward zero too
    ],
)
def test_vat_is_truncated_to_the_minor_unit(supply, rate, tax):
    assert vat_amount(supply_amount=supply, rate_basis_points=rate) == tax


def test_vat_rate_comes_from_settings(settings):
    settings.BILLING_VAT_RATE_BASIS_POINTS = 500
    assert vat_amount(supply_amount=1999) == 99


# --- tax treatments: the server's VAT, as a property of every amount ---------------------------------

supplies = st.integers(min_value=0, max_value=MAX_AMOUNT)
rates = st.integers(min_value=0, max_value=BASIS_POINTS)
untaxed = st.sampled_from([TaxTreatment.ZERO_RATED, TaxTreatment.EXEMPT])


@given(supply=supplies)
def test_taxable_vat_is_ten_percent_truncated(supply):
    assert vat_amount(supply_amount=supply, tax_treatment=TaxTreatment.TAXABLE, rate_basis_points=1000) == supply // 10


@given(supply=supplies, rate=rates)
def test_taxable_vat_is_the_decimal_product_truncated_and_never_exceeds_the_supply(supply, rate):
    tax = vat_amount(supply_amount=supply, tax_treatment=TaxTreatment.TAXABLE, rate_basis_points=rate)
    exact = (Decimal(supply) * Decimal(rate) / Decimal(BASIS_POINTS)).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert tax == int(exact)
    assert 0 <= tax <= supply


@given(supply=supplies, treatment=untaxed, rate=st.one_of(st.none(), rates))
def test_zero_rated_and_exempt_supplies_carry_no_vat_whatever_the_rate(supply, treatment, rate):
    assert vat_amount(supply_amount=supply, tax_treatment=treatment, rate_basis_points=rate) == 0
    assert vat_rate_basis_points(tax_treatment=treatment) == 0


@given(supply=supplies, treatment=st.sampled_from(TaxTreatment.values))
def test_total_is_supply_plus_vat_never_negative_and_within_bigint(supply, treatment):
    tax = vat_amount(supply_amount=supply, tax_treatment=treatment)
    total = supply + tax
    assert tax >= 0 and total >= supply
    assert total - tax == supply
    assert total < 2**63  # fits the BIGINT columns even at MAX_AMOUNT
    if treatment != TaxTreatment.TAXABLE:
        assert total == supply


def test_the_configured_rate_applies_only_to_taxable_customers(settings):
    settings.BILLING_VAT_RATE_BASIS_POINTS = 1000
    assert [vat_amount(supply_amount=1_000, tax_treatment=treatment) for treatment in TaxTreatment.values] == [
        100,
        0,
        0,
    ]
    assert vat_rate_basis_points(tax_treatment=TaxTreatment.TAXABLE) == 1000


def test_an_unknown_tax_treatment_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown tax treatment"):
        vat_amount(supply_amount=1_000, tax_treatment="reduced")


@pytest.mark.parametrize(("currency", "digits"), [("KRW", 0), ("krw", 0), ("USD", 2), ("EUR", 2), ("JPY", 0)])
def test_minor_digits_come_from_the_currency(currency, digits):
    assert currency_minor_digits(currency) == digits


def test_unknown_currency_is_refused_and_default_is_krw():
    with pytest.raises(ApplicationError) as refused:
        currency_normalize("XYZ")
    assert refused.value.code == "unsupported_currency"
    assert currency_normalize(None) == "KRW"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (0, "KRW", "₩0"),
        (1, "KRW", "₩1"),
        (1_234_567, "KRW", "₩1,234,567"),
        (10**12, "KRW", "₩1,000,000,000,000"),
        (-5_000, "KRW", "-₩5,000"),
        (1, "USD", "$0.01"),
        (123_456, "USD", "$1,234.56"),
        (100, "EUR", "€1.00"),
        (-5, "USD", "-$0.05"),
    ],
)
def test_money_is_shown_with_symbol_and_thousands_separators(amount, currency, shown):
    assert money_format(amount=amount, currency=currency) == shown


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (Decimal("12.349"), "USD", 1234),  # truncated, never rounded up
        (Decimal("0.009"), "USD", 0),
        (Decimal("3266.99"), "KRW", 3266),
        (Decimal("-1.999"), "USD", -199),
    ],
)
def test_decimal_to_minor_units_truncates(value, currency, minor):
    assert minor_units_from_decimal(amount=value, currency=currency) == minor


def test_decimal_conversion_refuses_floats() -> None:
    binary_fraction = 1234 / 100
    with pytest.raises(TypeError):
        minor_units_from_decimal(amount=binary_fraction, currency="USD")  # type: ignore[arg-type]


def test_minor_units_to_decimal_round_trips():
    assert decimal_from_minor_units(amount=123456, currency="USD") == Decimal("1234.56")
    assert decimal_from_minor_units(amount=99000, currency="KRW") == Decimal(99000)


def test_line_amount_is_exact():
    assert line_amount(quantity=3, unit_amount=33_333) == 99_999
    assert line_amount(quantity=2, unit_amount=-500) == -1000
