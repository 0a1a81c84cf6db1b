"""Stored responses of POST requests sent with an Idempotency-Key (see billing_site.api.idempotency)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import IdempotencyKeyState


class IdempotencyKey(models.Model):
    """One key of one user: the request it was first used with and, once done, the response to replay."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(max_length=255, verbose_name=_("key"))
    request_method = models.CharField(max_length=10, verbose_name=_("request method"))
    request_path = models.CharField(max_length=500, verbose_name=_("request path"))
    request_fingerprint = models.CharField(
        max_length=64, help_text="sha256 of method, path and canonical body.", verbose_name=_("request fingerprint")
    )
    state = models.CharField(
        max_length=16,
        choices=IdempotencyKeyState.choices,
        default=IdempotencyKeyState.IN_PROGRESS,
        verbose_name=_("state"),
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    # The JSON text exactly as first sent (jsonb would reorder its keys on replay).
    response_body = models.TextField(blank=True, default="", verbose_name=_("response body"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
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
