"""Server-to-server API keys: how the SaaS backend sends usage and reads entitlements for its customers."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

API_KEY_PREFIX_LENGTH = 12


class ApiKey(models.Model):
    """A key made by staff in the admin. The secret is shown once, at creation; only its SHA-256 is stored (the
    secret is 256 random bits, so a slow password hash would add nothing). `prefix` (e.g. `bsk_3fa9c2d1`) is the
    visible start of the key, how staff and logs tell keys apart and how a request's key is looked up.

    A key is usable while not revoked and not expired, for its `scopes` only (billing.enums.ApiKeyScope).
    """

    name = models.CharField(max_length=100, verbose_name=_("name"))
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False, verbose_name=_("prefix"))
    secret_hash = models.CharField(max_length=64, editable=False, verbose_name=_("secret hash"))
    scopes = models.JSONField(default=list, verbose_name=_("scopes"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    # Written at most once a minute per key (not on every request).
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used at"))

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106 - a pattern, not a secret
                name="billing_api_key_hash_hex",
            ),
            models.CheckConstraint(
                condition=Q(prefix__regex=r"^bsk_[0-9a-f]{8}$"), name="billing_api_key_prefix_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_usable(self, *, now: datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)
