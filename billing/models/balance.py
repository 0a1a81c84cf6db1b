"""The customer balance ledger: every change of a customer's credit balance is one entry, never changed after."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import BalanceEntryKind

from .credit_notes import CreditNote, Refund
from .customers import Customer
from .invoices import Invoice


class CustomerBalanceEntry(models.Model):
    """One change of a customer's credit balance in `currency` (positive: credit given, negative: credit used).

    `Customer.credit_balance` is the sum of the customer's entries in the customer's currency: migration 0013's
    deferred constraint trigger checks it at every commit that writes either, and refuses any update or delete
    of an entry. `balance_after` is that sum just after this entry.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="balance_entries", verbose_name=_("customer")
    )
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    amount = models.BigIntegerField(help_text="Minor units; negative when credit is used.", verbose_name=_("amount"))
    balance_after = models.BigIntegerField(verbose_name=_("balance after"))
    kind = models.CharField(max_length=24, choices=BalanceEntryKind.choices, verbose_name=_("kind"))
    reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("reason"))
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
        verbose_name=_("invoice"),
    )
    credit_note = models.ForeignKey(
        CreditNote,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
        verbose_name=_("credit note"),
    )
    refund = models.ForeignKey(
        Refund,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
        verbose_name=_("refund"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("balance entry")
        verbose_name_plural = _("balance entries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "currency", "-created_at", "-id"], name="billing_balance_customer"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="billing_balance_amount_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="billing_balance_after_non_negative"),
            models.CheckConstraint(condition=Q(kind__in=BalanceEntryKind.values), name="billing_balance_kind_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_balance_currency_iso"),
            # A manual adjustment says why.
            models.CheckConstraint(
                condition=~Q(kind=BalanceEntryKind.ADJUSTMENT) | ~Q(reason=""),
                name="billing_balance_adjustment_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency} ({self.kind})"
