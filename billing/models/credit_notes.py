"""Credit notes (수정 청구서) against issued invoices, their lines and numbers (YYYYMMDD-CNNNN), and refunds."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import CreditNoteReason, InvoicePdfStatus, Language, RefundMethod, RefundStatus

from .customers import Customer
from .invoices import Invoice, InvoiceLine
from .payments import Payment


class CreditNote(models.Model):
    """A correction of an issued invoice, in minor units of the invoice's currency; issued at once, never changed.

    `total` (its supply amount `subtotal` plus the VAT it takes back, `tax`) is split three ways when it is issued:
    `pre_payment_amount` lowers what the invoice still asks, the rest goes back to the customer as a refund
    (`refund_amount`) or onto their credit balance (`balance_amount`). Migration 0013's trigger refuses any change
    but its PDF's, and deletes.
    """

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="credit_notes", verbose_name=_("invoice")
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="credit_notes", verbose_name=_("customer")
    )
    number = models.CharField(max_length=24, unique=True, help_text="YYYYMMDD-CNNNN.", verbose_name=_("number"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    reason = models.CharField(max_length=16, choices=CreditNoteReason.choices, verbose_name=_("reason"))
    memo = models.CharField(max_length=500, blank=True, default="", verbose_name=_("memo"))
    language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.KOREAN, verbose_name=_("language")
    )
    subtotal = models.BigIntegerField(help_text="Supply amount credited, minor units.", verbose_name=_("subtotal"))
    tax = models.BigIntegerField(help_text="VAT credited, minor units.", verbose_name=_("tax"))
    total = models.BigIntegerField(help_text="subtotal + tax, minor units.", verbose_name=_("total"))
    pre_payment_amount = models.BigIntegerField(
        default=0, help_text="Taken off what the invoice still asked.", verbose_name=_("pre-payment amount")
    )
    refund_amount = models.BigIntegerField(
        default=0, help_text="Refunded by card or bank transfer.", verbose_name=_("refund amount")
    )
    balance_amount = models.BigIntegerField(
        default=0, help_text="Added to the customer's credit balance.", verbose_name=_("balance amount")
    )
    issue_date = models.DateField(help_text="Asia/Seoul date of issue.", verbose_name=_("issue date"))
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    pdf_file = models.ForeignKey(
        "storage.StoredFile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("pdf file"),
    )
    pdf_status = models.CharField(
        max_length=8, choices=InvoicePdfStatus.choices, default=InvoicePdfStatus.PENDING, verbose_name=_("pdf status")
    )
    pdf_revision = models.PositiveIntegerField(default=1, verbose_name=_("pdf revision"))
    pdf_rendered_revision = models.PositiveIntegerField(default=0, verbose_name=_("pdf rendered revision"))
    pdf_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("pdf error"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-issued_at", "-id"], name="billing_cn_customer_issued"),
            models.Index(fields=["id"], condition=Q(pdf_status="pending"), name="billing_cn_pdf_pending"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gte=0, tax__gte=0), name="billing_cn_amounts_non_negative"),
            models.CheckConstraint(condition=Q(total__gt=0), name="billing_cn_total_positive"),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="billing_cn_total_sum"),
            models.CheckConstraint(
                condition=Q(pre_payment_amount__gte=0, refund_amount__gte=0, balance_amount__gte=0),
                name="billing_cn_split_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(total=F("pre_payment_amount") + F("refund_amount") + F("balance_amount")),
                name="billing_cn_split_sum",
            ),
            models.CheckConstraint(condition=Q(reason__in=CreditNoteReason.values), name="billing_cn_reason_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_cn_currency_iso"),
            models.CheckConstraint(
                condition=Q(pdf_status__in=[InvoicePdfStatus.PENDING, InvoicePdfStatus.READY]),
                name="billing_cn_pdf_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """The supply amount a credit note takes back from one line of the invoice (or from the invoice as a whole)."""

    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.CASCADE, related_name="lines", verbose_name=_("credit note")
    )
    invoice_line = models.ForeignKey(
        InvoiceLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note_lines",
        verbose_name=_("invoice line"),
    )
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))
    description = models.CharField(max_length=500, verbose_name=_("description"))
    amount = models.BigIntegerField(help_text="Supply amount credited, minor units.", verbose_name=_("amount"))

    class Meta:
        verbose_name = _("credit note line")
        verbose_name_plural = _("credit note lines")
        ordering = ["credit_note", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_cn_line_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.description


class CreditNoteNumberSequence(models.Model):
    """The last credit note number handed out on one Asia/Seoul day (locked like InvoiceNumberSequence)."""

    day = models.DateField(primary_key=True, verbose_name=_("day"))
    last_number = models.PositiveIntegerField(default=0, verbose_name=_("last number"))

    class Meta:
        verbose_name = _("credit note number sequence")
        verbose_name_plural = _("credit note number sequences")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d}: {self.last_number}"


class Refund(models.Model):
    """Money a credit note gives back: to the card (through the provider), by an outgoing bank transfer, or onto
    the credit balance. Never more than its payment less the payment's earlier refunds (Payment.amount_refunded).

    A card refund is pending until the provider confirms it; a failed one is replaced by a balance refund of the
    same amount, so what the credit note gave back stays given back.
    """

    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("credit note")
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("invoice"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("customer"))
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment")
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    method = models.CharField(max_length=16, choices=RefundMethod.choices, verbose_name=_("method"))
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING, verbose_name=_("status")
    )
    # The provider's refund id (re_...) or the outgoing bank transfer's reference.
    provider_reference = models.CharField(max_length=255, blank=True, default="", verbose_name=_("provider reference"))
    # The balance refund that replaced this failed one, or the failed one this replaces.
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by", verbose_name=_("replaces")
    )
    note = models.CharField(max_length=500, blank=True, default="", verbose_name=_("note"))
    failure_reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("failure reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    succeeded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("succeeded at"))
    failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("failed at"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="billing_refund_customer"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_refund_amount_positive"),
            models.CheckConstraint(condition=Q(method__in=RefundMethod.values), name="billing_refund_method_valid"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="billing_refund_status_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_refund_currency_iso"),
            # A card or bank refund returns one payment's money; a balance refund returns none in particular.
            models.CheckConstraint(
                condition=Q(method=RefundMethod.BALANCE, payment__isnull=True)
                | (~Q(method=RefundMethod.BALANCE) & Q(payment__isnull=False)),
                name="billing_refund_payment_iff_not_balance",
            ),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.SUCCEEDED) | Q(succeeded_at__isnull=False),
                name="billing_refund_succeeded_has_timestamp",
            ),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.FAILED) | Q(failed_at__isnull=False),
                name="billing_refund_failed_has_timestamp",
            ),
            models.CheckConstraint(
                condition=~Q(method=RefundMethod.BALANCE) | Q(status=RefundStatus.SUCCEEDED),
                name="billing_refund_balance_succeeds",
            ),
            models.UniqueConstraint(
                fields=["method", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="billing_refund_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} ({self.method}, {self.status})"
