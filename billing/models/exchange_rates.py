"""Exchange rates staff enter per month for reporting (issue 17): what one unit of a currency was worth in KRW.

Only reports (the dashboard, MRR) convert with them; invoices, payments and balances stay in their own currency
and never change when a rate is entered or corrected.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExchangeRate(models.Model):
    """KRW per one major unit of `currency` for a month (`month` is its first day): USD 1,380.25 means $1 =
    ₩1,380.25. Decimal, never float; amounts converted with it are rounded to whole won once, at the end."""

    month = models.DateField(help_text="The first day of the month the rate is for.", verbose_name=_("month"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    krw_per_unit = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        help_text="KRW for one major unit of the currency (e.g. 1380.25 for USD).",
        verbose_name=_("KRW per unit"),
    )
    source = models.CharField(
        max_length=100, blank=True, default="", help_text="Where the rate comes from.", verbose_name=_("source")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["-month", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["month", "currency"], name="billing_exchange_rate_unique"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$") & ~Q(currency="KRW"), name="billing_exchange_rate_currency"
            ),
            models.CheckConstraint(condition=Q(krw_per_unit__gt=0), name="billing_exchange_rate_positive"),
            models.CheckConstraint(condition=Q(month__day=1), name="billing_exchange_rate_first_of_month"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.month:%Y-%m}: {self.krw_per_unit}"
