"""Stored responses of POST requests sent with an Idempotency-Key (see billing_site.api.idempotency)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.enums import IdempotencyKeyState


class IdempotencyKey(models.Model):
    """One key of one user: the request it was first used with and, once done, the response to replay."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=10)
    request_path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and canonical body.")
    state = models.CharField(
        max_length=16, choices=IdempotencyKeyState.choices, default=IdempotencyKeyState.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The JSON text exactly as first sent (jsonb would reorder its keys on replay).
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="billing_idempotency_user_key_unique"),
            models.CheckConstraint(
                condition=Q(state__in=IdempotencyKeyState.values), name="billing_idempotency_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=IdempotencyKeyState.IN_PROGRESS) | Q(response_status__isnull=False),
                name="billing_idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
