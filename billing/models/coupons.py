"""Coupons (a percent or an amount off subscription charges), the promotion codes customers type, and redemptions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import CouponDuration

from .customers import Customer
from .plans import SubscriptionPlan
from .subscriptions import Subscription


class Coupon(models.Model):
    """A discount staff define: `percent_off` (whole percent) or `amount_off` in `currency`, for one invoice
    (`once`), the invoices of `duration_in_months` months (`repeating`) or every invoice (`forever`).

    Only the charges of subscription invoices are discounted, never below zero; VAT is computed on what is left.
    """

    name = models.CharField(max_length=200, verbose_name=_("name"))
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("percent off"))
    amount_off = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units of `currency`.", verbose_name=_("amount off")
    )
    currency = models.CharField(
        max_length=3, blank=True, default="", help_text="The currency of `amount_off`.", verbose_name=_("currency")
    )
    duration = models.CharField(max_length=16, choices=CouponDuration.choices, verbose_name=_("duration"))
    duration_in_months = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("duration in months"))
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("max redemptions"))
    redeem_by = models.DateTimeField(null=True, blank=True, verbose_name=_("redeem by"))
    applies_to_plans = models.ManyToManyField(
        SubscriptionPlan,
        blank=True,
        related_name="+",
        help_text="Empty: every plan.",
        verbose_name=_("applies to plans"),
    )
    applies_to_billing_periods = models.JSONField(
        default=list, blank=True, help_text="Empty: monthly and annual.", verbose_name=_("applies to billing periods")
    )
    times_redeemed = models.PositiveIntegerField(default=0, verbose_name=_("times redeemed"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    stripe_coupon_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("stripe coupon id"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent_off__isnull=False, amount_off__isnull=True, currency="")
                | Q(percent_off__isnull=True, amount_off__isnull=False, currency__regex=r"^[A-Z]{3}$"),
                name="billing_coupon_percent_xor_amount",
            ),
            models.CheckConstraint(
                condition=Q(percent_off__isnull=True) | Q(percent_off__gte=1, percent_off__lte=100),
                name="billing_coupon_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(amount_off__isnull=True) | Q(amount_off__gt=0), name="billing_coupon_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(duration__in=CouponDuration.values), name="billing_coupon_duration_valid"
            ),
            models.CheckConstraint(
                condition=Q(duration=CouponDuration.REPEATING, duration_in_months__gte=1)
                | (~Q(duration=CouponDuration.REPEATING) & Q(duration_in_months__isnull=True)),
                name="billing_coupon_months_iff_repeating",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(max_redemptions__gte=1),
                name="billing_coupon_max_redemptions_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(times_redeemed__lte=models.F("max_redemptions")),
                name="billing_coupon_redemptions_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PromotionCode(models.Model):
    """A code customers type for a coupon (upper case), with its own limits on top of the coupon's."""

    coupon = models.ForeignKey(
        Coupon, on_delete=models.PROTECT, related_name="promotion_codes", verbose_name=_("coupon")
    )
    code = models.CharField(max_length=40, unique=True, verbose_name=_("code"))
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("max redemptions"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    times_redeemed = models.PositiveIntegerField(default=0, verbose_name=_("times redeemed"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    stripe_promotion_code_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe promotion code id")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("promotion code")
        verbose_name_plural = _("promotion codes")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9_-]{3,40}$"), name="billing_promo_code_format"),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(times_redeemed__lte=models.F("max_redemptions")),
                name="billing_promo_redemptions_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """A coupon given to one customer (once per customer), for one subscription or, by staff, for the customer's
    subscription invoices in general (`subscription` empty). `ends_on` (exclusive, Asia/Seoul) bounds a repeating
    coupon; `invoices_discounted` counts the invoices it discounted (a `once` coupon stops at one)."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("coupon"))
    promotion_code = models.ForeignKey(
        PromotionCode,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("promotion code"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="coupon_redemptions", verbose_name=_("customer")
    )
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
        verbose_name=_("subscription"),
    )
    redeemed_at = models.DateTimeField(default=timezone.now, verbose_name=_("redeemed at"))
    ends_on = models.DateField(null=True, blank=True, verbose_name=_("ends on"))
    invoices_discounted = models.PositiveIntegerField(default=0, verbose_name=_("invoices discounted"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")
        ordering = ["-redeemed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "customer"], name="billing_coupon_once_per_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.coupon} for {self.customer}"
