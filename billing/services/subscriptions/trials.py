"""Free trials: a plan's `trial_days` for a customer's first subscription, the conversion at `trial_end`."""

from datetime import date, datetime

from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription


def trial_convert_due(locked: Subscription, *, customer: Customer, as_of: date, moment: datetime) -> Invoice | None:
    """Called by subscription_renew with the customer and subscription locked, for a trial whose `trial_end` is on
    or before `as_of`: it becomes active with its first period's invoice (returned), or ends (canceled for the
    period end: None). Issue 14, part A."""
    return None
