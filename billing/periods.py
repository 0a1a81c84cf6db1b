"""Billing periods on the Asia/Seoul calendar: monthly and annual periods anchored to a subscription's first day.

A period is half-open, [start, end): `end` is the day the next period starts and is billed (Stripe's
`current_period_end`, our `next_billing_date`). Every boundary is computed from the anchor, never from the
previous boundary, so a subscription anchored on 31 January renews on 28 (or 29) February and then on
31 March again, as Stripe does; one anchored on 29 February renews on 28 February in common years.

Pure functions of dates: no database, no clock (callers pass the moment they mean).
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.utils.translation import gettext_lazy as _

# Subscriptions live on the Korean calendar whatever the server's clock zone (like invoice numbers).
BILLING_TIME_ZONE = ZoneInfo("Asia/Seoul")


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", _("월간 (monthly)")
    ANNUAL = "annual", _("연간 (annual)")


PERIOD_MONTHS: dict[str, int] = {BillingPeriod.MONTHLY: 1, BillingPeriod.ANNUAL: 12}


@dataclass(frozen=True)
class ServicePeriod:
    """The days one charge covers: `start` included, `end` excluded (the next billing date)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"A period ends after it starts ({self.start} .. {self.end}).")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The last day of service, as an invoice line shows it (2025-01-31 ~ 2025-02-27)."""
        return self.end - timedelta(days=1)

    def unused_days(self, *, on: date) -> int:
        """Days from `on` (included) to the end: what a customer leaving on `on` has paid for and not used."""
        return max(0, min(self.days, (self.end - on).days))


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the last day of a shorter month (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(start: date, end: date) -> int:
    """Whole calendar months from `start`'s month to `end`'s month (days ignored)."""
    return (end.year - start.year) * 12 + (end.month - start.month)


def period_months(billing_period: str) -> int:
    try:
        return PERIOD_MONTHS[billing_period]
    except KeyError:
        raise ValueError(f"Unknown billing period {billing_period!r}.") from None


def first_period(*, anchor: date, billing_period: str) -> ServicePeriod:
    """The period a subscription that starts on `anchor` is billed for first."""
    return ServicePeriod(anchor, add_months(anchor, period_months(billing_period)))


def next_period(*, anchor: date, current: ServicePeriod, billing_period: str) -> ServicePeriod:
    """The period after `current`, its end computed from the anchor (so 31 Jan -> 28 Feb -> 31 Mar)."""
    elapsed = months_between(anchor, current.end)
    return ServicePeriod(current.end, add_months(anchor, elapsed + period_months(billing_period)))


def billing_date(moment: datetime) -> date:
    """The Asia/Seoul calendar day of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError("billing_date needs an aware datetime.")
    return moment.astimezone(BILLING_TIME_ZONE).date()


def billing_day_start(day: date) -> datetime:
    """Midnight at the start of `day` in Asia/Seoul, as an aware datetime (when a period boundary happens)."""
    return datetime.combine(day, time.min, tzinfo=BILLING_TIME_ZONE)
