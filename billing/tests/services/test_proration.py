"""Pro rata credit arithmetic: unused days x price / period days, truncated to the minor unit; its split."""

from datetime import date
from fractions import Fraction

import pytest

from billing.periods import ServicePeriod
from billing.services.subscriptions import credit_split, proration_credit
from billing.services.subscriptions.proration import paid_share

JANUARY = ServicePeriod(date(2025, 1, 1), date(2025, 2, 1))  # 31 days
FEBRUARY = ServicePeriod(date(2025, 2, 1), date(2025, 3, 1))  # 28 days
YEAR_2024 = ServicePeriod(date(2024, 1, 1), date(2025, 1, 1))  # 366 days
YEAR_FROM_MARCH = ServicePeriod(date(2024, 3, 1), date(2025, 3, 1))  # 365 days


@pytest.mark.parametrize(
    ("amount", "currency", "period", "on", "expected"),
    [
        pytest.param(99_000, "KRW", JANUARY, date(2025, 1, 1), 99_000, id="first-day-credits-everything"),
        pytest.param(99_000, "KRW", JANUARY, date(2025, 1, 16), 51_096, id="16-of-31-days-truncated"),
        pytest.param(99_000, "KRW", JANUARY, date(2025, 1, 31), 3_193, id="last-day-one-day-left"),
        pytest.param(99_000, "KRW", JANUARY, date(2025, 2, 1), 0, id="next-billing-date-nothing-left"),
        pytest.param(99_000, "KRW", JANUARY, date(2025, 3, 1), 0, id="after-the-period"),
        pytest.param(29_000, "KRW", FEBRUARY, date(2025, 2, 15), 14_500, id="february-exact-half"),
        pytest.param(29_000, "KRW", JANUARY, date(2025, 1, 16), 14_967, id="starter-16-of-31"),
        pytest.param(990_000, "KRW", YEAR_FROM_MARCH, date(2024, 9, 1), 490_931, id="annual-181-of-365"),
        pytest.param(990_000, "KRW", YEAR_2024, date(2024, 7, 1), 497_704, id="leap-year-184-of-366"),
        pytest.param(1, "KRW", JANUARY, date(2025, 1, 2), 0, id="one-won-truncates-to-zero"),
        pytest.param(31, "KRW", JANUARY, date(2025, 1, 2), 30, id="exact-per-day"),
        pytest.param(0, "KRW", JANUARY, date(2025, 1, 2), 0, id="free-plan"),
        pytest.param(1_999, "USD", JANUARY, date(2025, 1, 22), 644, id="usd-cents-truncated"),
        pytest.param(10**15, "KRW", JANUARY, date(2025, 1, 2), 967_741_935_483_870, id="largest-amount-exact"),
    ],
)
def test_proration_credit(amount, currency, period, on, expected):
    credit = proration_credit(amount=amount, currency=currency, period=period, on=on)

    assert credit == expected
    assert isinstance(credit, int)
    # The same as exact integer arithmetic: no float, no rounding up.
    assert credit == amount * period.unused_days(on=on) // period.days


@pytest.mark.parametrize(
    ("credit", "charges", "on_invoice", "to_balance"),
    [
        pytest.param(14_967, 99_000, 14_967, 0, id="smaller-than-the-charge"),
        pytest.param(99_000, 99_000, 99_000, 0, id="equal"),
        pytest.param(474_193, 29_000, 29_000, 445_193, id="larger-rest-to-balance"),
        pytest.param(5_000, 0, 0, 5_000, id="free-plan-all-to-balance"),
        pytest.param(0, 99_000, 0, 0, id="no-credit"),
    ],
)
def test_credit_split(credit, charges, on_invoice, to_balance):
    split = credit_split(credit=credit, charges=charges)

    assert (split.on_invoice, split.to_balance) == (on_invoice, to_balance)
    assert split.on_invoice + split.to_balance == credit


@pytest.mark.parametrize(
    ("charges", "credits", "expected"),
    [
        (29_000, 0, Fraction(0)),  # free only because of a coupon: nothing was paid for
        (29_000, 29_000, Fraction(1)),  # fully credited: the credit was money
        (29_000, 14_500, Fraction(1, 2)),
        (0, 0, Fraction(1)),  # a free plan
    ],
)
def test_an_invoice_that_asks_nothing_is_paid_for_by_its_credits_only(charges, credits, expected):
    assert paid_share(charges=charges, credits=credits, subtotal=0, total=0, received=0) == expected
