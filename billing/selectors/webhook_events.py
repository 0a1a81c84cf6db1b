"""Reads of recorded payment-provider webhook events."""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus


def webhook_events_due(*, now: datetime | None = None, include_given_up: bool = False) -> QuerySet[StripeWebhookEvent]:
    """Failed events whose retry time has come (with `include_given_up`, also those out of attempts)."""
    due = Q(next_retry_at__lte=now or timezone.now())
    if include_given_up:
        due |= Q(next_retry_at__isnull=True)
    return StripeWebhookEvent.objects.filter(due, status=StripeWebhookEventStatus.FAILED).order_by(
        "stripe_created_at", "id"
    )
