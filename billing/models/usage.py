"""Usage-based billing: metered metrics, what a plan charges for them, the events customers' usage arrives as, the
hourly rollups current usage is read from, and the alerts sent when usage nears what a plan includes."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import ChargeModel, Language, MetricAggregation

from .customers import Customer
from .plans import SubscriptionPlan

# The largest value one event may carry. An hour's rollup sums its events' values in a 64-bit integer: at 10**9 a
# customer would need more than 9 billion events in one hour of one metric to overflow it (at 10**12, the first
# bound, 9 million would do, and the upsert would fail for the rest of that hour).
MAX_USAGE_VALUE = 10**9
MAX_EVENT_ID_LENGTH = 100
METRIC_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
USAGE_ALERT_THRESHOLDS = (80, 100)


class BillableMetric(models.Model):
    """Something a customer's usage is measured in (API calls, GB stored, active users), loaded from
    billing/plans.yaml by `manage.py seed_plans` (created or updated by code; never deleted once it has events)."""

    code = models.CharField(max_length=50, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=100, help_text="Korean name, e.g. API 호출.", verbose_name=_("name"))
    name_en = models.CharField(max_length=100, blank=True, default="", verbose_name=_("name en"))
    unit = models.CharField(max_length=30, help_text="Korean unit, e.g. 건.", verbose_name=_("unit"))
    unit_en = models.CharField(max_length=30, blank=True, default="", verbose_name=_("unit en"))
    aggregation = models.CharField(max_length=16, choices=MetricAggregation.choices, verbose_name=_("aggregation"))
    is_active = models.BooleanField(default=True, help_text="Accepts events.", verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("billable metric")
        verbose_name_plural = _("billable metrics")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=METRIC_CODE_PATTERN), name="billing_metric_code_format"),
            models.CheckConstraint(
                condition=Q(aggregation__in=MetricAggregation.values), name="billing_metric_aggregation_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def display_name(self, language: str) -> str:
        return self.name_en if language == Language.ENGLISH and self.name_en else self.name

    def display_unit(self, language: str) -> str:
        return self.unit_en if language == Language.ENGLISH and self.unit_en else self.unit


class PlanCharge(models.Model):
    """What a plan charges for one metric per billing period, in `currency` (supply amounts, VAT excluded).

    The first `included_quantity` of a period is free; the rest (the billable quantity) is priced by
    `charge_model`: per unit (`unit_amount` each), per package (`unit_amount` per started `package_size`), or by
    `tiers` (graduated: each tier prices its own slice; volume: the tier the whole quantity falls in prices all of
    it). A tier is {"up_to": int or null for the last, "unit_amount": int, "flat_amount": int}.
    """

    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="charges", verbose_name=_("plan"))
    metric = models.ForeignKey(
        BillableMetric, on_delete=models.PROTECT, related_name="charges", verbose_name=_("metric")
    )
    # The currency of the amounts (issue 17): a plan prices a metric once per currency it is sold in; a
    # subscription's usage is priced by the charges in its own currency.
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    charge_model = models.CharField(max_length=16, choices=ChargeModel.choices, verbose_name=_("charge model"))
    included_quantity = models.BigIntegerField(default=0, verbose_name=_("included quantity"))
    unit_amount = models.BigIntegerField(
        default=0, help_text="Per unit, or per package; minor units.", verbose_name=_("unit amount")
    )
    package_size = models.BigIntegerField(default=1, verbose_name=_("package size"))
    tiers = models.JSONField(default=list, blank=True, verbose_name=_("tiers"))
    display_order = models.PositiveIntegerField(default=0, verbose_name=_("display order"))
    # Filled by the Stripe integration where the charge maps onto a metered Stripe price.
    stripe_price_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("stripe price id"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("plan charge")
        verbose_name_plural = _("plan charges")
        ordering = ["plan", "display_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "metric", "currency"], name="billing_plan_charge_currency_unique"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_plan_charge_currency_iso"),
            models.CheckConstraint(
                condition=Q(charge_model__in=ChargeModel.values), name="billing_plan_charge_model_valid"
            ),
            models.CheckConstraint(condition=Q(included_quantity__gte=0), name="billing_plan_charge_included_gte_0"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="billing_plan_charge_unit_amount_gte_0"),
            models.CheckConstraint(condition=Q(package_size__gte=1), name="billing_plan_charge_package_size_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}/{self.metric_id}"


class UsageEvent(models.Model):
    """One accepted usage event, kept as received (audit, and to rebuild rollups). Written only by the ingestion
    service, in bulk, never changed.

    On PostgreSQL the table is partitioned by month of `timestamp` (migration 0015 builds it; its primary key is
    (timestamp, id), as a partitioned table's must include the partition key). Duplicates are refused by
    UsageEventKey, not here: a unique index on a partitioned table would have to include the timestamp too.
    """

    id = models.BigAutoField(primary_key=True)
    # No foreign keys or single-column indexes on the hot insert path: the ingestion service checks both ids, and
    # the (customer, metric, timestamp) index serves every read.
    customer = models.ForeignKey(
        Customer,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        verbose_name=_("customer"),
    )
    metric = models.ForeignKey(
        BillableMetric,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        verbose_name=_("metric"),
    )
    event_id = models.CharField(max_length=MAX_EVENT_ID_LENGTH, verbose_name=_("event id"))
    value = models.BigIntegerField(verbose_name=_("value"))
    timestamp = models.DateTimeField(verbose_name=_("timestamp"))
    received_at = models.DateTimeField(verbose_name=_("received at"))

    class Meta:
        verbose_name = _("usage event")
        verbose_name_plural = _("usage events")
        # Brute-force reads (tests, rebuilds) scan one customer's events of a metric in a time range.
        indexes = [models.Index(fields=["customer", "metric", "timestamp"], name="billing_usage_event_lookup")]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.metric_id} = {self.value})"


class UsageEventKey(models.Model):
    """One row per (customer, event_id) ever accepted: what makes a repeated event an acknowledged duplicate."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    event_id = models.CharField(max_length=MAX_EVENT_ID_LENGTH, verbose_name=_("event id"))

    class Meta:
        verbose_name = _("usage event key")
        verbose_name_plural = _("usage event keys")
        constraints = [models.UniqueConstraint(fields=["customer", "event_id"], name="billing_usage_event_key_unique")]

    def __str__(self) -> str:
        return self.event_id


class UsageRollup(models.Model):
    """A customer's events of one metric in one hour (UTC; Seoul days start on a UTC hour), kept up to date by the
    ingestion service in the same transaction as the events, so a period's usage is a sum over at most 24 rows a day.

    `value_max`, `latest_value`/`latest_at` serve the max and latest aggregations; distinct values of a
    unique-count metric are in UsageDistinctValue.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+", verbose_name=_("metric"))
    hour = models.DateTimeField(verbose_name=_("hour"))
    event_count = models.BigIntegerField(default=0, verbose_name=_("event count"))
    value_sum = models.BigIntegerField(default=0, verbose_name=_("value sum"))
    value_max = models.BigIntegerField(default=0, verbose_name=_("value max"))
    latest_value = models.BigIntegerField(default=0, verbose_name=_("latest value"))
    latest_at = models.DateTimeField(verbose_name=_("latest at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("usage rollup")
        verbose_name_plural = _("usage rollups")
        constraints = [
            models.UniqueConstraint(fields=["customer", "metric", "hour"], name="billing_usage_rollup_unique"),
            models.CheckConstraint(condition=Q(event_count__gt=0), name="billing_usage_rollup_count_positive"),
        ]
        # The alert sweep looks for what changed since its last run.
        indexes = [models.Index(fields=["updated_at"], name="billing_usage_rollup_updated")]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.metric_id} @ {self.hour:%Y-%m-%d %H}h"


class UsageDistinctValue(models.Model):
    """A value of a unique-count metric seen for a customer on one Seoul day; a period's quantity is the number of
    distinct values over its days."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+", verbose_name=_("metric"))
    day = models.DateField(verbose_name=_("day"))
    value = models.BigIntegerField(verbose_name=_("value"))

    class Meta:
        verbose_name = _("usage distinct value")
        verbose_name_plural = _("usage distinct values")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "metric", "day", "value"], name="billing_usage_distinct_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.metric_id} {self.day}: {self.value}"


class UsageAlert(models.Model):
    """An alert sent because a metric's usage crossed a threshold (percent of the included quantity) in a period;
    the unique constraint makes it once per period and threshold."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="usage_alerts", verbose_name=_("customer")
    )
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+", verbose_name=_("metric"))
    period_start = models.DateField(verbose_name=_("period start"))
    threshold = models.PositiveSmallIntegerField(verbose_name=_("threshold"))
    quantity = models.BigIntegerField(verbose_name=_("quantity"))
    included_quantity = models.BigIntegerField(verbose_name=_("included quantity"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("usage alert")
        verbose_name_plural = _("usage alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "metric", "period_start", "threshold"], name="billing_usage_alert_once"
            ),
            models.CheckConstraint(
                condition=Q(threshold__in=USAGE_ALERT_THRESHOLDS), name="billing_usage_alert_threshold_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.metric_id} {self.period_start} {self.threshold}%"
