"""Subscribe attempts: a subscription paid through the payment provider, recorded before the provider charges.

The provider must act first (it charges the card) and our records follow. The attempt row is written (and
committed) before the charge, so a crash anywhere leaves a trace: either the attempt is completed (our subscription,
invoice and payment exist and name the provider's objects) or it is compensated (the provider's subscription is
canceled, its invoice voided and its charge refunded). billing.services.subscriptions.attempts owns the steps.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.periods import BillingPeriod

from .customers import Customer
from .plans import SubscriptionPlan
from .subscriptions import Subscription


class SubscribeAttemptStatus(models.TextChoices):
    # Written before the provider is asked to charge; nothing of ours exists yet. A crash leaves it here, and the
    # reconcile compensates it once it is older than a request can take.
    STARTED = "started", _("Started")
    # Our subscription, invoice and payment were written: the provider's side is ours.
    COMPLETED = "completed", _("Completed")
    # Our records will not follow (declined, provider failure, our write failed, stuck): undo the provider's side.
    COMPENSATING = "compensating", _("Compensating")
    COMPENSATED = "compensated", _("Compensated")


class SubscribeAttempt(models.Model):
    """One subscribe (or plan change) paid through the payment provider, from before the charge to its outcome.

    `quote` is what our first invoice will say (lines, subtotal, VAT, total), computed under the customer lock
    before the charge; the provider charges exactly `total`, and our invoice is written only if it still comes to
    the same. At most one attempt per customer is `started` at a time.
    """

    key = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Idempotency key of the provider calls.",
        verbose_name=_("key"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="subscribe_attempts", verbose_name=_("customer")
    )
    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="+", verbose_name=_("plan"))
    billing_period = models.CharField(max_length=8, choices=BillingPeriod.choices, verbose_name=_("billing period"))
    replacing = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The live subscription when the attempt started (a plan change); it must still be live after.",
        verbose_name=_("replacing"),
    )
    subscription = models.OneToOneField(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscribe_attempt",
        help_text="The subscription the attempt made, once completed.",
        verbose_name=_("subscription"),
    )
    subscription_reserved_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The id our subscription takes if completed, reserved before the charge so that the provider's "
        "metadata names it from the start (PostgreSQL; elsewhere a job names it after commit).",
        verbose_name=_("subscription reserved id"),
    )
    provider = models.CharField(max_length=32, verbose_name=_("provider"))
    status = models.CharField(
        max_length=16,
        choices=SubscribeAttemptStatus.choices,
        default=SubscribeAttemptStatus.STARTED,
        verbose_name=_("status"),
    )
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    total = models.BigIntegerField(help_text="What the provider may charge, minor units.", verbose_name=_("total"))
    quote = models.JSONField(
        default=dict, help_text="Lines and totals of the first invoice, as quoted.", verbose_name=_("quote")
    )
    setup = models.JSONField(
        default=dict, help_text="What the provider prepared: its customer, card, price.", verbose_name=_("setup")
    )
    provider_subscription_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("provider subscription id")
    )
    provider_invoice_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("provider invoice id")
    )
    provider_payment_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("provider payment id")
    )
    amount_paid = models.BigIntegerField(
        default=0, help_text="What the provider said it collected.", verbose_name=_("amount paid")
    )
    error = models.CharField(
        max_length=500, blank=True, default="", help_text="Why it did not complete.", verbose_name=_("error")
    )
    result = models.CharField(
        max_length=500, blank=True, default="", help_text="What compensating it did.", verbose_name=_("result")
    )
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("subscribe attempt")
        verbose_name_plural = _("subscribe attempts")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "started_at"], name="billing_subscribe_attempt_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status=SubscribeAttemptStatus.STARTED),
                name="billing_subscribe_attempt_one_started",
                violation_error_message="The customer already has a subscribe in progress.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscribeAttemptStatus.values), name="billing_subscribe_attempt_status_valid"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="billing_subscribe_attempt_total_non_negative"),
            models.CheckConstraint(
                condition=~Q(status=SubscribeAttemptStatus.COMPLETED) | Q(subscription__isnull=False),
                name="billing_subscribe_attempt_completed_has_subscription",
            ),
        ]

    def __str__(self) -> str:
        return f"Subscribe attempt {self.pk} ({self.customer_id}, {self.status})"
