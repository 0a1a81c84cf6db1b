"""Subscriptions of customers to plans, their states, and which invoice billed which of their periods."""

from datetime import date

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Mod, NullIf
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.periods import BillingPeriod, ServicePeriod

from .customers import Customer
from .invoices import Invoice
from .plans import SubscriptionPlan


class SubscriptionStatus(models.TextChoices):
    # Waiting for its first invoice to be paid (checkout by bank transfer; a card that needs action with Stripe).
    INCOMPLETE = "incomplete", _("Incomplete")
    # A free trial: service without an invoice until `trial_end`, when the first period is invoiced.
    TRIALING = "trialing", _("Trialing")
    ACTIVE = "active", _("Active")
    # An invoice of the subscription is unpaid after its due date; service continues, renewals continue.
    PAST_DUE = "past_due", _("Past due")
    # Paused by the customer or staff: no service and no invoices; the paid days left carry over to the resume.
    PAUSED = "paused", _("Paused")
    CANCELED = "canceled", _("Canceled")


class CancellationReason(models.TextChoices):
    NONE = "", "—"
    REQUESTED = "requested", _("Canceled by the customer or staff")
    REPLACED = "replaced", _("Replaced by another plan")
    INCOMPLETE_EXPIRED = "incomplete_expired", _("First invoice not paid in time")
    # The dunning schedule ran out with an invoice still unpaid (BILLING_DUNNING_FINAL_ACTION=cancel).
    UNPAID = "unpaid", _("Invoice unpaid after every reminder")


# The subscription state machine, in one place. billing.services.subscription_states locks the row, consults
# this table and only then changes the status; nothing else writes it (the admin asks it which buttons to show).
SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    SubscriptionStatus.INCOMPLETE: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    # Trial end: the first invoice is issued and the subscription is active (dunning takes it on from there).
    SubscriptionStatus.TRIALING: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELED}
    ),
    # A past-due subscription cannot be paused (pay first): pausing must not stop dunning.
    SubscriptionStatus.PAST_DUE: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.PAUSED: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED}),
    SubscriptionStatus.CANCELED: frozenset(),
}

# A customer has at most one subscription in these states (a partial unique index says so).
LIVE_STATUSES: frozenset[str] = frozenset(
    {
        SubscriptionStatus.INCOMPLETE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.PAUSED,
    }
)
# States that renew at the end of their period (a trial converts at `trial_end`, a pause resumes first).
RENEWING_STATUSES: frozenset[str] = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})


def subscription_transition_allowed(current: str, target: str) -> bool:
    return target in SUBSCRIPTION_TRANSITIONS.get(current, frozenset())


class Subscription(models.Model):
    """A customer's subscription to a plan, billed per period of the Asia/Seoul calendar (billing.periods).

    `current_period_end` is excluded from the period: it is the next billing date. `price_amount` is the
    supply amount of one period fixed when the subscription started (VAT excluded, minor units), for all its
    `quantity` seats: `unit_amount` x `quantity` (a plan not priced per seat has quantity 1).

    Trialing: the current period is the trial (`trial_start` .. `trial_end`, the end excluded), billed nothing.
    Paused: `pauses` hold the history; the paid days left at the pause carry over to the resume.
    A pending change (plan, billing period, quantity) takes effect at `current_period_end`.
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
    quantity = models.PositiveIntegerField(
        default=1, help_text="Seats (1 unless the plan is priced per seat).", verbose_name=_("quantity")
    )
    trial_start = models.DateField(null=True, blank=True, verbose_name=_("trial start"))
    trial_end = models.DateField(
        null=True,
        blank=True,
        help_text="Excluded from the trial: the day the first period starts and is invoiced.",
        verbose_name=_("trial end"),
    )
    # A change scheduled for the end of the current period (a downgrade, fewer seats): all three or none.
    pending_plan = models.ForeignKey(
        SubscriptionPlan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("pending plan"),
    )
    pending_billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, blank=True, default="", verbose_name=_("pending billing period")
    )
    pending_quantity = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("pending quantity"))
    pending_requested_at = models.DateTimeField(null=True, blank=True, verbose_name=_("pending change requested at"))
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
            models.CheckConstraint(condition=Q(quantity__gte=1), name="billing_subscription_quantity_positive"),
            # price_amount is quantity whole seats: unit_amount is exact.
            models.CheckConstraint(
                condition=Exact(Mod(F("price_amount"), NullIf(F("quantity"), 0)), 0),
                name="billing_subscription_price_whole_seats",
            ),
            models.CheckConstraint(
                condition=~Q(status=SubscriptionStatus.TRIALING)
                | Q(trial_start__isnull=False, trial_end__isnull=False),
                name="billing_subscription_trialing_has_trial",
            ),
            models.CheckConstraint(
                condition=Q(trial_end__isnull=True) | Q(trial_end__gt=F("trial_start")),
                name="billing_subscription_trial_ordered",
            ),
            models.CheckConstraint(
                condition=Q(
                    pending_plan__isnull=True,
                    pending_billing_period="",
                    pending_quantity__isnull=True,
                    pending_requested_at__isnull=True,
                )
                | Q(
                    pending_plan__isnull=False,
                    pending_billing_period__in=BillingPeriod.values,
                    pending_quantity__gte=1,
                    pending_requested_at__isnull=False,
                ),
                name="billing_subscription_pending_change_whole",
            ),
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
    def unit_amount(self) -> int:
        """The price of one seat for one period (price_amount is exactly quantity of them)."""
        return self.price_amount // self.quantity

    @property
    def has_pending_change(self) -> bool:
        return self.pending_plan_id is not None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def next_billing_date(self) -> date | None:
        """The day the next invoice is issued; none once canceled or set to end at the period's end."""
        if self.cancel_at_period_end:
            return None
        if self.status == SubscriptionStatus.TRIALING:
            return self.trial_end
        if self.status not in RENEWING_STATUSES:
            return None
        return self.current_period_end


class SubscriptionInvoiceReason(models.TextChoices):
    # Stripe's billing_reason values.
    CREATE = "subscription_create", _("First period")
    CYCLE = "subscription_cycle", _("Renewal")
    # Mid-period: more seats, billed pro rata for the rest of the period.
    UPDATE = "subscription_update", _("Change during the period")


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
            # A period is billed once; an update (more seats) bills part of a period on top, never the period itself.
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=~Q(reason="subscription_update"),
                name="billing_subscription_invoice_one_per_period",
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


class TrialClaim(models.Model):
    """One free trial per customer and per 사업자등록번호: the row is written with the trial, and a unique index
    refuses a second (also when two subscribes race, or a business signs up again under another login)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="trial_claim", verbose_name=_("customer")
    )
    business_registration_number = models.CharField(
        max_length=10, blank=True, default="", verbose_name=_("business registration number")
    )
    subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="trial_claim", verbose_name=_("subscription")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("trial claim")
        verbose_name_plural = _("trial claims")
        constraints = [
            models.UniqueConstraint(
                fields=["business_registration_number"],
                condition=~Q(business_registration_number=""),
                name="billing_trial_claim_one_per_brn",
            ),
        ]

    def __str__(self) -> str:
        return f"Trial of customer {self.customer_id} (subscription {self.subscription_id})"


class SubscriptionPause(models.Model):
    """One pause of a subscription: from `paused_on` until `resumed_on` (the end excluded), no service, no invoice.

    `days_carried` is what was left of the paid period at the pause; the resume gives those days back as a
    period that is not invoiced again. At most one open pause per subscription.
    """

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="pauses", verbose_name=_("subscription")
    )
    paused_on = models.DateField(verbose_name=_("paused on"))
    resume_on = models.DateField(
        null=True, blank=True, help_text="Scheduled resume; empty: until resumed.", verbose_name=_("resume on")
    )
    resumed_on = models.DateField(null=True, blank=True, verbose_name=_("resumed on"))
    days_carried = models.PositiveIntegerField(default=0, verbose_name=_("days carried"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("subscription pause")
        verbose_name_plural = _("subscription pauses")
        ordering = ["subscription", "paused_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(resumed_on__isnull=True),
                name="billing_subscription_pause_one_open",
            ),
            models.CheckConstraint(
                condition=Q(resume_on__isnull=True) | Q(resume_on__gt=F("paused_on")),
                name="billing_subscription_pause_resume_after",
            ),
            models.CheckConstraint(
                condition=Q(resumed_on__isnull=True) | Q(resumed_on__gte=F("paused_on")),
                name="billing_subscription_pause_resumed_after",
            ),
        ]

    def __str__(self) -> str:
        return f"Pause of subscription {self.subscription_id} from {self.paused_on}"


class DunningAction(models.TextChoices):
    REMINDER = "reminder", _("Reminder")
    CANCEL = "cancel", _("Subscription canceled")
    UNCOLLECTIBLE = "uncollectible", _("Invoice marked uncollectible")


class DunningStep(models.Model):
    """One step of the dunning schedule, done for one overdue invoice: written once (a unique index), with what it
    did. Step n (1-based) is the n-th day of BILLING_DUNNING_SCHEDULE; the final action is the step after them."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="dunning_steps", verbose_name=_("invoice")
    )
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dunning_steps",
        verbose_name=_("subscription"),
    )
    step = models.PositiveSmallIntegerField(verbose_name=_("step"))
    days_after_due = models.PositiveSmallIntegerField(verbose_name=_("days after due"))
    action = models.CharField(max_length=16, choices=DunningAction.choices, verbose_name=_("action"))
    provider_retry = models.BooleanField(
        default=False, help_text="A card payment retry was asked of the provider.", verbose_name=_("provider retry")
    )
    done_on = models.DateField(verbose_name=_("done on"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("dunning step")
        verbose_name_plural = _("dunning steps")
        ordering = ["invoice", "step"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="billing_dunning_step_once"),
            models.CheckConstraint(condition=Q(step__gte=1), name="billing_dunning_step_positive"),
            models.CheckConstraint(
                condition=Q(action__in=DunningAction.values), name="billing_dunning_step_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Dunning step {self.step} of invoice {self.invoice_id}: {self.action}"
