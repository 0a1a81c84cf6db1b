"""Amounts shown per locale with babel: each currency's digits in Korean and English, negatives, large amounts,
the number without its sign, the digits reading back as the same minor units, and the locale-neutral form kept."""

import pytest
from babel.numbers import get_currency_precision, parse_decimal
from hypothesis import given
from hypothesis import strategies as st

from billing.money import (
    LANGUAGE_LOCALES,
    MAX_AMOUNT,
    MINOR_DIGITS,
    minor_units_from_decimal,
    money_format,
    money_locale,
)
from billing_site.errors import ApplicationError

# The issue's own examples, as an English document shows them; Korean differs only where CLDR's Korean symbol does.
ENGLISH_EXAMPLES = [
    (99_000, "KRW", "₩99,000"),
    (7_900, "USD", "$79.00"),
    (7_200, "EUR", "€72.00"),
    (8_900, "JPY", "¥8,900"),
]
KOREAN_EXAMPLES = [
    (99_000, "KRW", "₩99,000"),
    (7_900, "USD", "US$79.00"),
    (7_200, "EUR", "€72.00"),
    (8_900, "JPY", "JP¥8,900"),
]


@pytest.mark.parametrize(("amount", "currency", "shown"), ENGLISH_EXAMPLES)
def test_english_shows_the_issues_examples(amount, currency, shown):
    assert money_format(amount=amount, currency=currency, language="en") == shown


@pytest.mark.parametrize(("amount", "currency", "shown"), KOREAN_EXAMPLES)
def test_korean_shows_cldrs_korean_symbols(amount, currency, shown):
    assert money_format(amount=amount, currency=currency, language="ko") == shown


@pytest.mark.parametrize(
    ("amount", "currency", "korean", "english"),
    [
        # Zero-digit currencies: one minor unit is one won / one yen, never a fraction.
        (0, "KRW", "₩0", "₩0"),
        (1, "KRW", "₩1", "₩1"),
        (999, "JPY", "JP¥999", "¥999"),
        (1_000, "JPY", "JP¥1,000", "¥1,000"),
        # Two-digit currencies: cents are always two digits.
        (0, "USD", "US$0.00", "$0.00"),
        (1, "USD", "US$0.01", "$0.01"),
        (10, "EUR", "€0.10", "€0.10"),
        (100, "EUR", "€1.00", "€1.00"),
        (123_456, "USD", "US$1,234.56", "$1,234.56"),
        (99_999, "EUR", "€999.99", "€999.99"),
    ],
)
def test_each_currency_has_its_own_minor_digits(amount, currency, korean, english):
    assert money_format(amount=amount, currency=currency, language="ko") == korean
    assert money_format(amount=amount, currency=currency, language="en") == english


@pytest.mark.parametrize(
    ("amount", "currency", "korean", "english"),
    [
        (-5_000, "KRW", "-₩5,000", "-₩5,000"),
        (-1, "JPY", "-JP¥1", "-¥1"),
        (-5, "USD", "-US$0.05", "-$0.05"),
        (-123_456, "EUR", "-€1,234.56", "-€1,234.56"),
    ],
)
def test_negative_amounts_lead_with_a_minus(amount, currency, korean, english):
    assert money_format(amount=amount, currency=currency, language="ko") == korean
    assert money_format(amount=amount, currency=currency, language="en") == english


@pytest.mark.parametrize(
    ("amount", "currency", "english"),
    [
        (MAX_AMOUNT, "KRW", "₩1,000,000,000,000,000"),
        (MAX_AMOUNT, "JPY", "¥1,000,000,000,000,000"),
        (MAX_AMOUNT, "USD", "$10,000,000,000,000.00"),
        (MAX_AMOUNT + 1, "EUR", "€10,000,000,000,000.01"),
        (-(MAX_AMOUNT + MAX_AMOUNT // 10), "USD", "-$11,000,000,000,000.00"),  # a credit with its VAT
        (2**63 - 1, "USD", "$92,233,720,368,547,758.07"),  # the largest BIGINT: still exact, no float anywhere
    ],
)
def test_large_amounts_are_exact_to_the_last_minor_unit(amount, currency, english):
    assert money_format(amount=amount, currency=currency, language="en") == english
    korean = money_format(amount=amount, currency=currency, language="ko")
    assert korean.replace("US$", "$").replace("JP¥", "¥") == english


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(99_000, "KRW", "99,000"), (8_900, "JPY", "8,900"), (7_900, "USD", "79.00"), (-5, "EUR", "-0.05")],
)
@pytest.mark.parametrize("language", ["ko", "en"])
def test_without_the_symbol_only_the_grouped_number_is_shown(amount, currency, shown, language):
    assert money_format(amount=amount, currency=currency, symbol=False, language=language) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(99_000, "KRW", "₩99,000"), (7_900, "USD", "$79.00"), (-5_000, "KRW", "-₩5,000"), (8_900, "JPY", "¥8,900")],
)
def test_without_a_language_the_locale_neutral_form_is_kept(amount, currency, shown):
    assert money_format(amount=amount, currency=currency) == shown
    assert money_format(amount=amount, currency=currency, language=None) == shown


def test_the_locale_neutral_form_without_symbol_is_unchanged():
    assert money_format(amount=123_456, currency="USD", symbol=False) == "1,234.56"
    assert money_format(amount=-99_000, currency="KRW", symbol=False) == "-99,000"


@pytest.mark.parametrize(
    ("language", "locale"), [("ko", "ko_KR"), ("en", "en_US"), ("en-us", "en_US"), ("ko_KR", "ko_KR")]
)
def test_document_languages_map_to_korean_and_us_english_locales(language, locale):
    assert money_locale(language) == locale


def test_a_language_without_a_money_format_is_refused_not_guessed():
    with pytest.raises(ValueError, match="ja"):
        money_format(amount=1_000, currency="KRW", language="ja")


def test_an_unsupported_currency_is_refused_in_every_language():
    with pytest.raises(ApplicationError) as refused:
        money_format(amount=1, currency="XYZ", language="en")
    assert refused.value.code == "unsupported_currency"


def test_currency_codes_are_normalized_before_formatting():
    assert money_format(amount=7_900, currency=" usd ", language="en") == "$79.00"


@pytest.mark.parametrize("currency", sorted(MINOR_DIGITS))
def test_babel_shows_as_many_digits_as_we_bill_in(currency):
    # babel quantizes to CLDR's digits; if they ever differed from ours, amounts would be rounded on documents.
    assert get_currency_precision(currency) == MINOR_DIGITS[currency]


def _minor_units_read_back(text: str, currency: str) -> int:
    """The amount a reader gets from the shown text: its sign and digits, the fraction being the minor units."""
    integral, _, fraction = text.rpartition(".") if MINOR_DIGITS[currency] else (text, "", "")
    assert len(fraction) == MINOR_DIGITS[currency], text
    digits = "".join(character for character in integral + fraction if character.isdigit())
    return -int(digits) if text.startswith("-") else int(digits)


# The currency sign each language shows (CLDR); English writes every one of ours as the locale-neutral form does.
SIGNS = {
    "ko": {"KRW": "₩", "JPY": "JP¥", "USD": "US$", "EUR": "€", "GBP": "£", "CNY": "CN¥"},
    "en": {"KRW": "₩", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "CNY": "CN¥"},
}


@given(
    amount=st.integers(min_value=-(2**63 - 1), max_value=2**63 - 1),
    currency=st.sampled_from(sorted(MINOR_DIGITS)),
    language=st.sampled_from(sorted(LANGUAGE_LOCALES)),
)
def test_the_digits_shown_read_back_as_the_same_minor_units(amount, currency, language):
    shown = money_format(amount=amount, currency=currency, language=language)
    assert _minor_units_read_back(shown, currency) == amount
    number = money_format(amount=amount, currency=currency, symbol=False, language=language)
    assert shown == ("-" if amount < 0 else "") + SIGNS[language][currency] + number.removeprefix("-")
    parsed = parse_decimal(number, locale=money_locale(language), strict=True)
    assert minor_units_from_decimal(amount=parsed, currency=currency) == amount


@given(amount=st.integers(min_value=-(10**18), max_value=10**18), currency=st.sampled_from(sorted(MINOR_DIGITS)))
def test_english_documents_show_what_the_locale_neutral_form_shows(amount, currency):
    assert money_format(amount=amount, currency=currency, language="en") == money_format(
        amount=amount, currency=currency
    )
