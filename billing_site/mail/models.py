"""One row per email a person is to receive: what it is about, to whom, and how sending it went."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EmailStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")


class Email(models.Model):
    """An email about one object (`object_type`, `object_id`), of one `kind`, to one address.

    The unique constraint is the "exactly once": asking for the same email again, in a retry, a redelivered event
    or a concurrent request, finds this row instead of adding a second. `occurrence` separates emails about the
    same object that are meant to repeat (a reminder per dunning step, a renewal notice per period). The message
    itself is rendered when it is sent, from the object as it is then: creating the row costs the event one insert.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
        help_text=_("Whose email it is (the customer's account)."),
    )
    kind = models.CharField(max_length=50, verbose_name=_("kind"))
    object_type = models.CharField(max_length=50, verbose_name=_("object type"))
    object_id = models.CharField(max_length=50, verbose_name=_("object id"))
    occurrence = models.CharField(max_length=50, blank=True, default="", verbose_name=_("occurrence"))
    to_address = models.EmailField(max_length=254, verbose_name=_("to"))
    cc_addresses = models.JSONField(default=list, blank=True, verbose_name=_("cc"))
    language = models.CharField(max_length=8, default="ko", verbose_name=_("language"))
    # Facts of the event the message needs and the object does not keep (e.g. the failure reason of a payment).
    context = models.JSONField(default=dict, blank=True, verbose_name=_("context"))
    subject = models.CharField(max_length=255, blank=True, default="", verbose_name=_("subject"))
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING, verbose_name=_("status")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    # Staff resends: each one is a new attempt series (and a new job key).
    sends_requested = models.PositiveIntegerField(default=1, verbose_name=_("sends requested"))
    last_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("last error"))
    # Our Message-ID (SMTP) or the provider's id (django-anymail).
    provider_message_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("provider message id")
    )
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("email")
        verbose_name_plural = _("emails")
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["user", "-id"], name="mail_email_user_recent"),
            models.Index(fields=["status", "created_at"], name="mail_email_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_type", "object_id", "occurrence", "to_address"],
                name="mail_email_once_per_object_kind_recipient",
            ),
            models.CheckConstraint(condition=Q(status__in=EmailStatus.values), name="mail_email_status_valid"),
        ]
        permissions = [("resend_email", _("Can send an email again"))]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id} → {self.to_address} ({self.status})"
