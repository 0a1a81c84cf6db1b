"""Changes scheduled for the end of the period (downgrades, fewer seats): kept on the subscription, applied in place
at the boundary by the renewal, dropped on request."""

from datetime import datetime

from billing.models.subscriptions import Subscription


def pending_change_apply(locked: Subscription, *, moment: datetime) -> bool:
    """Called by subscription_renew (customer and subscription locked) at each boundary, before the next period is
    computed and invoiced: a pending change takes effect (plan, billing period, quantity, price). True if one did.
    Issue 14, part B."""
    return False
