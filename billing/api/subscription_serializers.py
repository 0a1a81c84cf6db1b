"""Request and response bodies of plans, subscriptions, their lifecycle (pause, resume, seats, pending changes,
the upcoming invoice), entitlements and checkout. Money is integer minor units; `*_krw` mirrors KRW amounts."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionPause, SubscriptionStatus
from billing.money import MINOR_DIGITS
from billing.periods import BillingPeriod
from billing.selectors.plans import plan_price_in, plan_prices
from billing.services.subscriptions.common import MAX_SEATS, WHEN_CHOICES

from .serializers import (
    InvoiceSerializer,
    MinorUnitsField,
    OrderItemCreateSerializer,
    OrderSerializer,
    krw,
    krw_items_check,
    request_language,
)
from .usage_read_serializers import UsageMetricSerializer


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_SEATS})
class QuantityField(serializers.Field):
    """A number of seats: a JSON integer only (no "3", no 3.0, no true). The range is the service's to check, so
    that every way in (API, admin, commands) refuses it with the same `invalid_quantity`."""

    default_error_messages = {"invalid": "Must be a whole number of seats (a JSON integer)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data

    def to_representation(self, value: int) -> int:
        return int(value)


# --- plans and subscriptions ----------------------------------------------------------------------


class PlanPriceSerializer(serializers.Serializer):
    """A plan's price in one currency, per period, VAT excluded."""

    currency = serializers.CharField(help_text="ISO 4217 code.")
    monthly_price = MinorUnitsField(help_text="Minor units of `currency` per month, VAT excluded.")
    annual_price = MinorUnitsField(help_text="Minor units of `currency` per year, VAT excluded.")


class PlanListQuerySerializer(serializers.Serializer):
    currency = serializers.ChoiceField(
        choices=sorted(MINOR_DIGITS),
        required=False,
        help_text=(
            "Only the plans sold in this currency, priced in it (`currency`, `monthly_price`, `annual_price`). "
            "Default: every plan at its default price."
        ),
    )


class PlanSerializer(serializers.Serializer):
    """One plan as a pricing page shows it; prices are per period, VAT excluded."""

    name = serializers.CharField()
    slug = serializers.SlugField()
    monthly_price_krw = serializers.IntegerField(allow_null=True, help_text="Won per month, VAT excluded.")
    annual_price_krw = serializers.IntegerField(allow_null=True, help_text="Won per year, VAT excluded.")
    currency = serializers.CharField()
    monthly_price = MinorUnitsField(help_text="Minor units of `currency` per month, VAT excluded.")
    annual_price = MinorUnitsField(help_text="Minor units of `currency` per year, VAT excluded.")
    features = serializers.ListField(child=serializers.CharField(), help_text="In the request's language.")
    max_projects = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    trial_days = serializers.IntegerField(
        help_text="Days of free trial of a customer's first subscription (one per customer); 0: none."
    )
    per_seat = serializers.BooleanField(help_text="true: the prices are per seat (times the subscription's quantity).")
    prices = PlanPriceSerializer(
        many=True, help_text="Every currency the plan is sold in (a subscription pays in one of them), by code."
    )

    @staticmethod
    def represent(plan: SubscriptionPlan, language: str, currency: str | None = None) -> dict[str, Any]:
        """The plan at its default price, or at its price in `currency` (the caller listed only plans sold in it)."""
        price = plan_price_in(plan=plan, currency=currency or plan.currency)
        shown_currency, monthly, annual = price.currency, price.monthly_price, price.annual_price
        return {
            "name": plan.display_name(language),
            "slug": plan.slug,
            "monthly_price_krw": krw(shown_currency, monthly),
            "annual_price_krw": krw(shown_currency, annual),
            "currency": shown_currency,
            "monthly_price": monthly,
            "annual_price": annual,
            "features": plan.display_features(language),
            "max_projects": plan.max_projects,
            "trial_days": plan.trial_days,
            "per_seat": plan.per_seat,
            "prices": [
                {"currency": row.currency, "monthly_price": row.monthly_price, "annual_price": row.annual_price}
                for row in plan_prices(plan=plan)
            ],
        }


class PlanSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class PendingChangeSerializer(serializers.Serializer):
    plan = serializers.SlugField(help_text="The plan from `effective_date` on (a slug of GET /api/payment/plans).")
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices)
    quantity = serializers.IntegerField(help_text="Seats from `effective_date` on.")
    effective_date = serializers.DateField(help_text="The end of the current period, when the change applies.")


class PauseSerializer(serializers.Serializer):
    paused_on = serializers.DateField()
    resume_on = serializers.DateField(allow_null=True, help_text="The scheduled resume; null: until resumed.")


def open_pause(subscription: Subscription) -> SubscriptionPause | None:
    """The subscription's open pause: prefetched by the list selector (`open_pauses`), else read (one query)."""
    if subscription.status != SubscriptionStatus.PAUSED:
        return None  # a pause opens with the status and closes with it: no query for every other subscription
    prefetched = getattr(subscription, "open_pauses", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return subscription.pauses.filter(resumed_on__isnull=True).order_by("-paused_on", "-id").first()


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.SerializerMethodField()
    amount = MinorUnitsField(
        source="price_amount", help_text="Price of one period, VAT excluded (all seats: unit price x quantity)."
    )
    amount_krw = serializers.SerializerMethodField()
    next_billing_date = serializers.DateField(allow_null=True, read_only=True)
    replaces_id = serializers.IntegerField(allow_null=True, read_only=True)
    quantity = serializers.IntegerField(read_only=True, help_text="Seats (1 unless the plan is per seat).")
    trial_start = serializers.DateField(allow_null=True, read_only=True)
    trial_end = serializers.DateField(
        allow_null=True, read_only=True, help_text="Excluded from the trial: the day the first invoice is issued."
    )
    pending_change = serializers.SerializerMethodField()
    pause = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "plan",
            "billing_period",
            "status",
            "currency",
            "amount",
            "amount_krw",
            "current_period_start",
            "current_period_end",
            "next_billing_date",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "cancellation_reason",
            "replaces_id",
            "created_at",
            "quantity",
            "trial_start",
            "trial_end",
            "pending_change",
            "pause",
        ]

    @extend_schema_field(PlanSummarySerializer)
    def get_plan(self, subscription: Subscription) -> dict[str, str]:
        return {"slug": subscription.plan.slug, "name": subscription.plan.display_name(request_language())}

    @extend_schema_field(OpenApiTypes.INT64)
    def get_amount_krw(self, subscription: Subscription) -> int | None:
        return krw(subscription.currency, subscription.price_amount)

    @extend_schema_field(PendingChangeSerializer(allow_null=True))
    def get_pending_change(self, subscription: Subscription) -> dict[str, Any] | None:
        if not subscription.has_pending_change or subscription.pending_plan is None:
            return None
        return {
            "plan": subscription.pending_plan.slug,
            "billing_period": subscription.pending_billing_period,
            "quantity": subscription.pending_quantity,
            "effective_date": subscription.current_period_end,
        }

    @extend_schema_field(PauseSerializer(allow_null=True))
    def get_pause(self, subscription: Subscription) -> dict[str, Any] | None:
        pause = open_pause(subscription)
        if pause is None:
            return None
        return {"paused_on": pause.paused_on, "resume_on": pause.resume_on}


def coupon_code_field() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text=(
            "A promotion code (case does not matter): redeemed once per customer, its discount a `discount` line on "
            "the first invoice (and later ones, as the coupon says). 400 `invalid_coupon` says why a code is refused."
        ),
    )


class SubscribeSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=50, help_text="A slug from GET /api/payment/plans.")
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices)
    payment_method_id = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="A Stripe payment method (card); needs Stripe on."
    )
    when = serializers.ChoiceField(
        choices=list(WHEN_CHOICES),
        required=False,
        help_text=(
            "A plan change: `now`, or `period_end` (scheduled: `pending_change`). Default `auto`: an upgrade (a "
            "higher price per day) now, anything else at the period end."
        ),
    )
    quantity = QuantityField(
        required=False,
        help_text=f"Seats of a per-seat plan (1 to {MAX_SEATS}); default 1, or the current seats on a change.",
    )
    coupon = coupon_code_field()
    currency = serializers.ChoiceField(
        choices=sorted(MINOR_DIGITS),
        required=False,
        help_text=(
            "ISO 4217, upper case: the currency of a first subscription, among the plan's `prices`; it becomes your "
            "account's currency and is fixed from then on. Default: your account's currency if the plan is sold in "
            "it, else the plan's `currency`. Another currency than a fixed one, or a plan not sold in it, is 409 "
            "`currency_mismatch`."
        ),
    )


class ProrationSerializer(serializers.Serializer):
    replaced_subscription_id = serializers.IntegerField()
    credit = MinorUnitsField(help_text="Unused days of the replaced subscription, pro rata, truncated.")
    credit_on_invoice = MinorUnitsField(help_text="The part shown as a negative line on the new invoice.")
    credit_to_balance = MinorUnitsField(help_text="The rest, added to your credit balance for later invoices.")
    balance_used = MinorUnitsField(help_text="Credit balance used by this invoice.")


class SubscribedSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    next_billing_date = serializers.DateField(allow_null=True)
    amount_krw = serializers.IntegerField(allow_null=True, help_text="Price of one period, VAT excluded (KRW).")
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.CharField(help_text="The subscription's status, as in `subscription.status`.")
    subscription = SubscriptionSerializer()
    invoice = InvoiceSerializer(
        allow_null=True,
        help_text="The first period's invoice, finalized; null for a trial and for a change set for the period end.",
    )
    pdf_url = serializers.URLField(allow_null=True, help_text="Signed link to the invoice PDF; null while pending.")
    pdf_url_expires_at = serializers.DateTimeField(allow_null=True)
    proration = ProrationSerializer(allow_null=True, help_text="Set when the subscription replaced another.")


class CancelQuerySerializer(serializers.Serializer):
    immediately = serializers.BooleanField(
        required=False, default=False, help_text="true: end now; default: at the end of the current period."
    )


# --- the lifecycle of a subscription ---------------------------------------------------------------


class SubscriptionPauseSerializer(serializers.Serializer):
    resume_on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "YYYY-MM-DD, after today and at most BILLING_PAUSE_MAX_DAYS (90) days away; null or absent: that last "
            "day (resume earlier with POST .../resume)."
        ),
    )


class QuantityChangeSerializer(serializers.Serializer):
    quantity = QuantityField(help_text="Seats from now (more) or from the end of the period (fewer).")


# The PATCH body as documented: the schema generator makes every field of a PATCH serializer optional, but this
# PATCH has one field and it is required.
QUANTITY_CHANGE_SCHEMA = {
    "type": "object",
    "properties": {
        "quantity": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SEATS,
            "description": "Seats from now (more) or from the end of the period (fewer).",
        }
    },
    "required": ["quantity"],
    "additionalProperties": False,
}


class QuantityChangedSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    invoice = InvoiceSerializer(
        allow_null=True, help_text="More seats: the prorated invoice for the rest of the period; otherwise null."
    )


class UpcomingQuerySerializer(serializers.Serializer):
    plan = serializers.SlugField(required=False, max_length=50, help_text="Preview a change to this plan.")
    billing_period = serializers.ChoiceField(required=False, choices=BillingPeriod.choices)
    quantity = serializers.IntegerField(required=False, help_text=f"Preview this many seats (1 to {MAX_SEATS}).")
    when = serializers.ChoiceField(
        required=False, choices=list(WHEN_CHOICES), help_text="As in subscribe: when the change would apply."
    )


class UpcomingLineSerializer(serializers.Serializer):
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_amount = MinorUnitsField()
    amount = MinorUnitsField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True, help_text="The last day of service (included).")


class UpcomingInvoiceSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The day this invoice would be issued.")
    currency = serializers.CharField()
    subtotal = MinorUnitsField()
    tax = MinorUnitsField()
    total = MinorUnitsField()
    subtotal_krw = serializers.SerializerMethodField()
    tax_krw = serializers.SerializerMethodField()
    total_krw = serializers.SerializerMethodField()
    proration = serializers.BooleanField(help_text="true: a change now, prorated for the rest of the period.")
    issued = serializers.BooleanField(
        help_text=(
            "false: no invoice is issued on `date` (a usage-only plan with nothing used so far renews without one); "
            "`lines` is then empty and the amounts 0."
        )
    )
    lines = UpcomingLineSerializer(many=True)

    @extend_schema_field(OpenApiTypes.INT64)
    def get_subtotal_krw(self, upcoming: Any) -> int | None:
        return krw(upcoming.currency, upcoming.subtotal)

    @extend_schema_field(OpenApiTypes.INT64)
    def get_tax_krw(self, upcoming: Any) -> int | None:
        return krw(upcoming.currency, upcoming.tax)

    @extend_schema_field(OpenApiTypes.INT64)
    def get_total_krw(self, upcoming: Any) -> int | None:
        return krw(upcoming.currency, upcoming.total)


class EntitlementLimitsSerializer(serializers.Serializer):
    max_projects = serializers.IntegerField(allow_null=True, help_text="null: unlimited; 0 without service.")
    seats = serializers.IntegerField(help_text="Seats paid for (the subscription's quantity); 0 without service.")


class EntitlementsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["none", "trialing", "active", "past_due", "paused", "canceled"],
        help_text="trialing, active and past_due have service; paused, canceled and none have none.",
    )
    plan = PlanSummarySerializer(allow_null=True, help_text="null: never subscribed.")
    features = serializers.ListField(
        child=serializers.CharField(), help_text="The plan's, in the request's language; empty without service."
    )
    limits = EntitlementLimitsSerializer()
    until = serializers.DateField(
        allow_null=True,
        help_text=(
            "The end (excluded) of the trial or of the current paid period: the next billing date, or the day it "
            "ends with `cancel_at_period_end`; null without service."
        ),
    )
    cancel_at_period_end = serializers.BooleanField()
    usage = UsageMetricSerializer(
        many=True, help_text="The current period's usage per charged metric (as GET /api/usage); empty if none."
    )


# --- checkout ------------------------------------------------------------------------------------------


class CheckoutSerializer(serializers.Serializer):
    plan = serializers.SlugField(required=False, max_length=50)
    billing_period = serializers.ChoiceField(required=False, choices=BillingPeriod.choices)
    items = OrderItemCreateSerializer(  # type: ignore[call-arg]  # a ListSerializer's max_length, as above
        many=True, required=False, allow_empty=False, max_length=100
    )
    currency = serializers.CharField(required=False, max_length=3, help_text="With items; ISO 4217, default KRW.")
    coupon = coupon_code_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_plan, has_items = "plan" in attrs, "items" in attrs
        if has_plan == has_items:
            raise serializers.ValidationError("Send either plan and billing_period, or items.")
        if has_plan and "billing_period" not in attrs:
            raise serializers.ValidationError({"billing_period": ["Required with a plan."]})
        if has_plan and "currency" in attrs:
            raise serializers.ValidationError({"currency": ["A plan has its own currency."]})
        krw_items_check(attrs)
        return attrs


class BankTransferSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["bank_transfer"])
    amount = MinorUnitsField()
    amount_krw = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    bank_name = serializers.CharField()
    account_number = serializers.CharField()
    account_holder = serializers.CharField()
    reference = serializers.CharField(help_text="The invoice number: put it in the transfer's memo.")
    due_date = serializers.DateField()
    instructions = serializers.CharField(help_text="The same, as a sentence in the customer's language.")


class CardPaymentSerializer(serializers.Serializer):
    """With Stripe on: confirm `client_secret` with Stripe.js (publishable key included) to pay the invoice by card."""

    payment_intent_id = serializers.CharField()
    client_secret = serializers.CharField()
    publishable_key = serializers.CharField(allow_blank=True)
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.CharField()


class CheckoutCreatedSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField()
    total_krw = serializers.IntegerField(allow_null=True)
    order = OrderSerializer()
    invoice = InvoiceSerializer()
    subscription = SubscriptionSerializer(allow_null=True, help_text="With a plan: incomplete until paid.")
    payment = BankTransferSerializer()
    card = CardPaymentSerializer(allow_null=True, help_text="Card payment through Stripe; null while Stripe is off.")
