"""Subscription plans: what a customer can subscribe to, at which monthly and annual price, with which limits."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import Language
from billing.periods import BillingPeriod


class SubscriptionPlan(models.Model):
    """A plan, loaded from billing/plans.yaml by `manage.py seed_plans` (created or updated by slug).

    Prices are supply amounts (공급가액, VAT excluded) in minor units of `currency`, per period; an invoice
    adds VAT. A subscription keeps the price it started with (Stripe prices are immutable), so a changed
    price applies to new subscriptions. A plan that has subscriptions is never deleted, only deactivated.
    """

    slug = models.SlugField(max_length=50, unique=True, verbose_name=_("slug"))
    name = models.CharField(max_length=100, help_text="Korean name, e.g. 프로.", verbose_name=_("name"))
    name_en = models.CharField(max_length=100, blank=True, default="", verbose_name=_("name en"))
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    monthly_price = models.BigIntegerField(
        help_text="Per month, VAT excluded, minor units of `currency`.", verbose_name=_("monthly price")
    )
    annual_price = models.BigIntegerField(
        help_text="Per year, VAT excluded, minor units of `currency`.", verbose_name=_("annual price")
    )
    features = models.JSONField(
        default=list, blank=True, help_text="Korean feature lines, in display order.", verbose_name=_("features")
    )
    features_en = models.JSONField(
        default=list, blank=True, help_text="English feature lines, in display order.", verbose_name=_("features en")
    )
    max_projects = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: unlimited.", verbose_name=_("max projects")
    )
    trial_days = models.PositiveIntegerField(
        default=0,
        help_text="Days of free trial for a customer's first subscription; 0: none.",
        verbose_name=_("trial days"),
    )
    per_seat = models.BooleanField(
        default=False,
        help_text="Prices are per seat: a subscription pays them times its quantity.",
        verbose_name=_("per seat"),
    )
    is_active = models.BooleanField(default=True, help_text="Offered to new subscribers.", verbose_name=_("is active"))
    display_order = models.PositiveIntegerField(default=0, verbose_name=_("display order"))

    # Filled by the Stripe integration: one Product per plan, one Price per billing period.
    stripe_product_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("stripe product id"))
    stripe_monthly_price_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe monthly price id")
    )
    stripe_annual_price_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe annual price id")
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")
        ordering = ["display_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(monthly_price__gte=0), name="billing_plan_monthly_price_non_negative"),
            models.CheckConstraint(condition=Q(annual_price__gte=0), name="billing_plan_annual_price_non_negative"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_plan_currency_iso"),
            models.CheckConstraint(condition=Q(slug__regex=r"^[a-z0-9][a-z0-9-]*$"), name="billing_plan_slug_format"),
            models.UniqueConstraint(
                fields=["stripe_product_id"],
                condition=~Q(stripe_product_id=""),
                name="billing_plan_stripe_product_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def price_for(self, billing_period: str) -> int:
        """The price of one period (monthly or annual), minor units."""
        if billing_period == BillingPeriod.MONTHLY:
            return self.monthly_price
        if billing_period == BillingPeriod.ANNUAL:
            return self.annual_price
        raise ValueError(f"Unknown billing period {billing_period!r}.")

    def display_name(self, language: str) -> str:
        return self.name_en if language == Language.ENGLISH and self.name_en else self.name

    def display_features(self, language: str) -> list[str]:
        return list(self.features_en if language == Language.ENGLISH and self.features_en else self.features)

    def price_in(self, currency: str) -> "PlanPrice | None":
        """The plan's price row in `currency` (the prefetched `prices` when there are), or None: not sold in it."""
        for price in self.prices.all():
            if price.currency == currency:
                return price
        return None


class PlanPrice(models.Model):
    """A plan's price in one currency (issue 17): the plans file lists each plan's prices per currency and
    `seed_plans` writes one row per (plan, currency). The plan's own `currency`/`monthly_price`/`annual_price` are
    its default price and always have a row here too.

    Supply amounts (VAT excluded) in minor units of `currency` (ISO 4217: KRW and JPY have none, USD and EUR two).
    A subscription copies the price it starts with, so a changed row applies to new subscriptions only; a row
    no longer `active` is sold to nobody new (plan_price_in) while its subscriptions keep it."""

    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.CASCADE, related_name="prices", verbose_name=_("plan"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    monthly_price = models.BigIntegerField(
        help_text="Per month, VAT excluded, minor units of `currency`.", verbose_name=_("monthly price")
    )
    annual_price = models.BigIntegerField(
        help_text="Per year, VAT excluded, minor units of `currency`.", verbose_name=_("annual price")
    )
    # Dropped from the plan file while subscriptions are in this currency: they keep renewing at the price they
    # copied, but nobody new buys it (seed_plans sets it; listed in the file again, it is sold again).
    active = models.BooleanField(
        default=True,
        help_text="Sold to new subscribers; an inactive price only serves the subscriptions already in it.",
        verbose_name=_("active"),
    )
    # Filled by the Stripe integration: one Price per currency and billing period, on the plan's Product.
    stripe_monthly_price_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe monthly price id")
    )
    stripe_annual_price_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe annual price id")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("plan price")
        verbose_name_plural = _("plan prices")
        ordering = ["plan_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "currency"], name="billing_plan_price_unique"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_plan_price_currency_iso"),
            models.CheckConstraint(
                condition=Q(monthly_price__gte=0, annual_price__gte=0), name="billing_plan_price_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.currency}"

    def price_for(self, billing_period: str) -> int:
        """The price of one period (monthly or annual), minor units of `currency`."""
        if billing_period == BillingPeriod.MONTHLY:
            return self.monthly_price
        if billing_period == BillingPeriod.ANNUAL:
            return self.annual_price
        raise ValueError(f"Unknown billing period {billing_period!r}.")
