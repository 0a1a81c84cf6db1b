"""Subscriptions of customers to plans, their states, and which invoice billed which of their periods."""

from datetime import date

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.periods import BillingPeriod, ServicePeriod

from .customers import Customer
from .invoices import Invoice
from .plans import SubscriptionPlan


class SubscriptionStatus(models.TextChoices):
    # Waiting for its first invoice to be paid (checkout by bank transfer; a card that needs action with Stripe).
    INCOMPLETE = "incomplete", _("Incomplete")
    ACTIVE = "active", _("Active")
    # An invoice of the subscription is unpaid after its due date; service continues, renewals continue.
    PAST_DUE = "past_due", _("Past due")
    CANCELED = "canceled", _("Canceled")


class CancellationReason(models.TextChoices):
    NONE = "", "—"
    REQUESTED = "requested", _("Canceled by the customer or staff")
    REPLACED = "replaced", _("Replaced by another plan")
    INCOMPLETE_EXPIRED = "incomplete_expired", _("First invoice not paid in time")


# The subscription state machine, in one place. billing.services.subscription_states locks the row, consults
# this table and only then changes the status; nothing else writes it (the admin asks it which buttons to show).
SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    SubscriptionStatus.INCOMPLETE: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.ACTIVE: frozenset({SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.PAST_DUE: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.CANCELED: frozenset(),
}

# A customer has at most one subscription in these states (a partial unique index says so).
LIVE_STATUSES: frozenset[str] = frozenset(
    {SubscriptionStatus.INCOMPLETE, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)
# States that renew at the end of their period.
RENEWING_STATUSES: frozenset[str] = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})


def subscription_transition_allowed(current: str, target: str) -> bool:
    return target in SUBSCRIPTION_TRANSITIONS.get(current, frozenset())


class Subscription(models.Model):
    """A customer's subscription to a plan, billed per period of the Asia/Seoul calendar (billing.periods).

    `current_period_end` is excluded from the period: it is the next billing date. `price_amount` is the
    supply amount of one period fixed when the subscription started (VAT excluded, minor units).
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("customer")
    )
    plan = models.ForeignKey(
        SubscriptionPlan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan")
    )
    billing_period = models.CharField(max_length=8, choices=BillingPeriod.choices, verbose_name=_("billing period"))
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, verbose_name=_("status"))
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    price_amount = models.BigIntegerField(
        help_text="Supply amount of one period, minor units of `currency`.", verbose_name=_("price amount")
    )
    billing_cycle_anchor = models.DateField(
        help_text="Every period boundary is this day plus whole periods.", verbose_name=_("billing cycle anchor")
    )
    current_period_start = models.DateField(verbose_name=_("current period start"))
    current_period_end = models.DateField(
        help_text="Excluded from the period: the next billing date.", verbose_name=_("current period end")
    )
    cancel_at_period_end = models.BooleanField(default=False, verbose_name=_("cancel at period end"))
    canceled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the cancellation was asked for.", verbose_name=_("canceled at")
    )
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the service stopped.", verbose_name=_("ended at")
    )
    cancellation_reason = models.CharField(
        max_length=20,
        choices=CancellationReason.choices,
        blank=True,
        default=CancellationReason.NONE,
        verbose_name=_("cancellation reason"),
    )
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        help_text="The subscription this one replaced (plan change).",
        verbose_name=_("replaces"),
    )
    # Filled by the Stripe integration when Stripe is on.
    stripe_subscription_id = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("stripe subscription id")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="billing_sub_customer_created"),
            models.Index(
                fields=["current_period_end"],
                condition=Q(status__in=sorted(RENEWING_STATUSES)),
                name="billing_sub_renewal_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status__in=sorted(LIVE_STATUSES)),
                name="billing_subscription_one_live_per_customer",
                violation_error_message="The customer already has a live subscription.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values), name="billing_subscription_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(billing_period__in=BillingPeriod.values), name="billing_subscription_period_valid"
            ),
            models.CheckConstraint(condition=Q(price_amount__gte=0), name="billing_subscription_price_non_negative"),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")),
                name="billing_subscription_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(current_period_start__gte=F("billing_cycle_anchor")),
                name="billing_subscription_period_after_anchor",
            ),
            # Ended exactly when canceled; a cancellation (now or at period end) records when it was asked for.
            models.CheckConstraint(
                condition=Q(status=SubscriptionStatus.CANCELED, ended_at__isnull=False, canceled_at__isnull=False)
                | (~Q(status=SubscriptionStatus.CANCELED) & Q(ended_at__isnull=True)),
                name="billing_subscription_ended_iff_canceled",
            ),
            models.CheckConstraint(
                condition=Q(cancel_at_period_end=False) | Q(canceled_at__isnull=False),
                name="billing_subscription_cancel_requested_at",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_subscription_currency_iso"
            ),
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~Q(stripe_subscription_id=""),
                name="billing_subscription_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Subscription {self.pk} ({self.plan_id}, {self.billing_period}, {self.status})"

    @property
    def current_period(self) -> ServicePeriod:
        return ServicePeriod(self.current_period_start, self.current_period_end)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def next_billing_date(self) -> date | None:
        """The day the next invoice is issued; none once canceled or set to end at the period's end."""
        if self.status not in RENEWING_STATUSES or self.cancel_at_period_end:
            return None
        return self.current_period_end


class SubscriptionInvoiceReason(models.TextChoices):
    # Stripe's billing_reason values.
    CREATE = "subscription_create", _("First period")
    CYCLE = "subscription_cycle", _("Renewal")


class SubscriptionInvoice(models.Model):
    """The invoice that billed one period of one subscription (Lago's invoice_subscriptions).

    Unique per (subscription, period start): a renewal run twice, or two runs at once, cannot bill one
    period twice: the second insert fails before its invoice is finalized, so it takes no number.
    """

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="period_invoices", verbose_name=_("subscription")
    )
    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="subscription_link", verbose_name=_("invoice")
    )
    reason = models.CharField(max_length=24, choices=SubscriptionInvoiceReason.choices, verbose_name=_("reason"))
    period_start = models.DateField(verbose_name=_("period start"))
    period_end = models.DateField(
        help_text="Excluded from the period, like Subscription.current_period_end.", verbose_name=_("period end")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("subscription invoice")
        verbose_name_plural = _("subscription invoices")
        ordering = ["subscription", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="billing_subscription_invoice_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="billing_subscription_invoice_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=SubscriptionInvoiceReason.values),
                name="billing_subscription_invoice_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.period_start} .. {self.period_end} -> invoice {self.invoice_id}"
