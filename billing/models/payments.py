"""Payments received (or attempted) against invoices, by card, bank transfer or otherwise."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import PaymentMethod, PaymentStatus

from .customers import Customer
from .invoices import Invoice


class Payment(models.Model):
    """Money against one invoice, in minor units of the invoice's currency.

    `customer` repeats the invoice's customer so that ownership checks and the payment history read one table.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments", verbose_name=_("invoice"))
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="payments", verbose_name=_("customer")
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    method = models.CharField(max_length=16, choices=PaymentMethod.choices, verbose_name=_("method"))
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, verbose_name=_("status")
    )
    # The bank's transaction reference, a Stripe PaymentIntent id...: one payment per reference and method.
    provider_reference = models.CharField(max_length=255, blank=True, default="", verbose_name=_("provider reference"))
    note = models.CharField(max_length=500, blank=True, default="", verbose_name=_("note"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    received_at = models.DateTimeField(
        null=True, blank=True, help_text="When the money arrived, if known.", verbose_name=_("received at")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    succeeded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("succeeded at"))
    failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("failed at"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded at"))
    # Refunds of it that are pending or succeeded (billing.models.Refund); at most `amount`.
    amount_refunded = models.BigIntegerField(default=0, db_default=0, verbose_name=_("amount refunded"))
    failure_reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("failure reason"))

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="billing_pay_customer_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=models.F("amount")),
                name="billing_payment_refunded_within_amount",
            ),
            models.CheckConstraint(condition=Q(method__in=PaymentMethod.values), name="billing_payment_method_valid"),
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="billing_payment_status_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_payment_currency_iso"),
            models.CheckConstraint(
                condition=~Q(status=PaymentStatus.SUCCEEDED) | Q(succeeded_at__isnull=False),
                name="billing_payment_succeeded_has_timestamp",
            ),
            models.UniqueConstraint(
                fields=["method", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="billing_payment_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.pk} ({self.method}, {self.status})"
