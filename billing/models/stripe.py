"""Stripe webhook events as we received and processed them: one row per event id, the gate of exactly-once handling.

Every delivery whose signature verifies is also kept as a dj-stripe WebhookEventTrigger (without credentials); this
row says what our processing of the event did, how often it was tried and when it is tried again (billing.webhooks).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StripeWebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received, not processed yet"
    PROCESSED = "processed", "Processed"
    # Failed attempts are retried with backoff until next_retry_at is empty (given up: retry by hand).
    FAILED = "failed", _("Failed")


class StripeWebhookEvent(models.Model):
    """One Stripe event, by its id. Processing locks this row, so each event is applied once, also when Stripe
    delivers it twice at the same moment; `deliveries` counts how often it arrived."""

    stripe_event_id = models.CharField(max_length=255, help_text="evt_...")
    event_type = models.CharField(max_length=250, help_text="e.g. invoice.paid")
    livemode = models.BooleanField(default=False)
    stripe_created_at = models.DateTimeField(help_text="When Stripe created the event.")
    object_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The event's object (in_..., sub_...)."
    )
    payload = models.JSONField(help_text="The event as first delivered, signature checked.")
    status = models.CharField(
        max_length=16,
        choices=StripeWebhookEventStatus.choices,
        default=StripeWebhookEventStatus.RECEIVED,
        verbose_name=_("status"),
    )
    result = models.CharField(max_length=500, blank=True, default="", help_text="What processing changed.")
    attempts = models.PositiveIntegerField(default=0, help_text="Processing attempts, successful or not.")
    last_error = models.TextField(blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True, help_text="Set while a failed event awaits retry.")
    deliveries = models.PositiveIntegerField(default=0, help_text="How often Stripe delivered this event.")
    last_delivery = models.ForeignKey(
        "djstripe.WebhookEventTrigger", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("received at"))
    last_received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["next_retry_at"], condition=Q(status="failed"), name="billing_stripe_event_retry_due"),
            models.Index(fields=["object_id"], name="billing_stripe_event_object"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["stripe_event_id"], name="billing_stripe_event_id_unique"),
            models.CheckConstraint(
                condition=Q(status__in=StripeWebhookEventStatus.values), name="billing_stripe_event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=StripeWebhookEventStatus.PROCESSED, processed_at__isnull=False)
                | (~Q(status=StripeWebhookEventStatus.PROCESSED) & Q(processed_at__isnull=True)),
                name="billing_stripe_event_processed_at",
            ),
            models.CheckConstraint(
                condition=Q(next_retry_at__isnull=True) | Q(status=StripeWebhookEventStatus.FAILED),
                name="billing_stripe_event_retry_only_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stripe_event_id} ({self.status})"
