"""Period arithmetic on the Asia/Seoul calendar: month ends, leap years, annual periods, Stripe's anchoring."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.periods import (
    BillingPeriod,
    ServicePeriod,
    add_months,
    billing_date,
    billing_day_start,
    first_period,
    next_period,
)


def periods(anchor: date, billing_period: str, count: int) -> list[tuple[date, date]]:
    current = first_period(anchor=anchor, billing_period=billing_period)
    found = [(current.start, current.end)]
    for _ in range(count - 1):
        current = next_period(anchor=anchor, current=current, billing_period=billing_period)
        found.append((current.start, current.end))
    return found


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 1, 15), 1, date(2025, 2, 15)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # shorter month: its last day
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 1, 30), 1, date(2025, 2, 28)),
        (date(2025, 12, 31), 1, date(2026, 1, 31)),  # across the year
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # leap day, one year on
        (date(2024, 2, 29), 48, date(2028, 2, 29)),  # and back in the next leap year
        (date(2025, 5, 31), -1, date(2025, 4, 30)),
    ],
)
def test_add_months_clamps_to_the_last_day_of_shorter_months(day, months, expected):
    assert add_months(day, months) == expected


def test_monthly_periods_from_the_31st_end_on_month_ends_and_come_back_to_the_31st():
    assert periods(date(2025, 1, 31), BillingPeriod.MONTHLY, 5) == [
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2025, 2, 28), date(2025, 3, 31)),  # anchored: not 28 March
        (date(2025, 3, 31), date(2025, 4, 30)),
        (date(2025, 4, 30), date(2025, 5, 31)),
        (date(2025, 5, 31), date(2025, 6, 30)),
    ]


def test_monthly_periods_in_a_leap_year():
    assert periods(date(2024, 1, 30), BillingPeriod.MONTHLY, 3) == [
        (date(2024, 1, 30), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2024, 3, 30)),
        (date(2024, 3, 30), date(2024, 4, 30)),
    ]


def test_annual_periods_from_a_leap_day():
    assert periods(date(2024, 2, 29), BillingPeriod.ANNUAL, 5) == [
        (date(2024, 2, 29), date(2025, 2, 28)),
        (date(2025, 2, 28), date(2026, 2, 28)),
        (date(2026, 2, 28), date(2027, 2, 28)),
        (date(2027, 2, 28), date(2028, 2, 29)),
        (date(2028, 2, 29), date(2029, 2, 28)),
    ]


@pytest.mark.parametrize(
    ("start", "billing_period", "days"),
    [
        (date(2025, 2, 1), BillingPeriod.MONTHLY, 28),
        (date(2024, 2, 1), BillingPeriod.MONTHLY, 29),
        (date(2025, 1, 1), BillingPeriod.MONTHLY, 31),
        (date(2025, 1, 1), BillingPeriod.ANNUAL, 365),
        (date(2024, 1, 1), BillingPeriod.ANNUAL, 366),
        (date(2023, 3, 1), BillingPeriod.ANNUAL, 366),  # contains 29 Feb 2024
    ],
)
def test_period_lengths(start, billing_period, days):
    assert first_period(anchor=start, billing_period=billing_period).days == days


def test_a_period_is_half_open_and_its_last_day_is_the_day_before_the_next_billing_date():
    period = ServicePeriod(date(2025, 1, 31), date(2025, 2, 28))

    assert period.last_day == date(2025, 2, 27)
    assert period.unused_days(on=date(2025, 1, 31)) == 28  # leaving on the first day: nothing used
    assert period.unused_days(on=date(2025, 2, 27)) == 1
    assert period.unused_days(on=date(2025, 2, 28)) == 0
    assert period.unused_days(on=date(2025, 3, 15)) == 0
    assert period.unused_days(on=date(2025, 1, 1)) == 28  # before it started: all of it, never more


def test_an_empty_or_reversed_period_is_refused():
    with pytest.raises(ValueError, match="ends after it starts"):
        ServicePeriod(date(2025, 1, 1), date(2025, 1, 1))


def test_unknown_billing_period_is_refused():
    with pytest.raises(ValueError, match="Unknown billing period"):
        first_period(anchor=date(2025, 1, 1), billing_period="weekly")


def test_the_billing_day_is_the_seoul_calendar_day():
    # 2025-01-31 15:30 UTC is already 1 February 00:30 in Seoul.
    assert billing_date(datetime(2025, 1, 31, 15, 30, tzinfo=UTC)) == date(2025, 2, 1)
    assert billing_date(datetime(2025, 1, 31, 14, 59, tzinfo=UTC)) == date(2025, 1, 31)
    assert billing_day_start(date(2025, 2, 1)) == datetime(2025, 1, 31, 15, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        billing_date(datetime(2025, 1, 31, 15, 30))  # naive: the point of the test


@given(
    anchor=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    billing_period=st.sampled_from(BillingPeriod.values),
    count=st.integers(min_value=1, max_value=30),
)
def test_periods_tile_the_calendar_and_each_ends_on_the_anchor_day_or_a_month_end(anchor, billing_period, count):
    found = periods(anchor, billing_period, count)
    months = 1 if billing_period == BillingPeriod.MONTHLY else 12
    for index, (start, end) in enumerate(found):
        assert start < end
        if index:
            assert start == found[index - 1][1]  # no gap, no overlap
        assert end == add_months(anchor, (index + 1) * months)  # from the anchor, never drifting
        next_day = date.fromordinal(end.toordinal() + 1)
        assert end.day == anchor.day or (end.day < anchor.day and next_day.day == 1)
