"""Free trials: a plan's `trial_days` for a customer's first subscription, the conversion at `trial_end`."""

from datetime import date, datetime
from typing import TYPE_CHECKING

from billing.models import Customer
from billing.models.subscriptions import Subscription

if TYPE_CHECKING:
    from .lifecycle import RenewalOutcome


def trial_convert_due(
    locked: Subscription, *, customer: Customer, as_of: date, moment: datetime, outcome: "RenewalOutcome"
) -> None:
    """Called by subscription_renew with the customer and subscription locked: a trial that ended by `as_of`
    becomes active with its first invoice (or ends, if it was canceled for the period end). Issue 14, part A."""
