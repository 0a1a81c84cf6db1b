"""Usage in the admin, read-only: hourly rollups with a chart of events per day, the alerts sent, and the stored
events and their keys (written only by the ingestion service)."""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import UsageAlert, UsageDistinctValue, UsageEvent, UsageEventKey, UsageRollup
from billing.selectors.usage import usage_daily_event_counts

from .common import ReadOnlyMixin, seoul_column
from .dashboard import COLORS, Series, bar_chart

CHART_DAYS = 30
# The events table holds millions of rows: a changelist counts at most this many (shown as "10000+" pages).
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows (SELECT COUNT(*) over a LIMIT), so a page of a huge table stays cheap."""

    @cached_property
    def count(self) -> int:
        rows: Any = self.object_list  # the changelist's queryset
        return int(rows[: COUNT_CAP + 1].count())


def _int_filter(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["customer", "metric", "hour_display", "event_count", "value_sum", "value_max", "latest_value"]
    list_filter = ["metric"]
    search_fields = ["customer__display_name", "customer__email"]
    list_select_related = ["customer", "metric"]
    ordering = ["-hour", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/billing/usagerollup/change_list.html"
    hour_display = seoul_column("hour", _("hour"), ordering="hour")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Above the table, events per day over the last 30 days for the rows filtered (customer, metric)."""
        customer_id = _int_filter(request, "customer__id__exact")
        metric_id = _int_filter(request, "metric__id__exact")
        days = usage_daily_event_counts(
            customer_id=customer_id, metric_id=metric_id, days=CHART_DAYS, now=timezone.now()
        )
        chart = bar_chart(
            title=gettext("Usage events per day (last 30 days)"),
            labels=[day.strftime("%m-%d") if index % 5 == 0 else "" for index, (day, _count) in enumerate(days)],
            series=[Series(gettext("Events"), [count for _day, count in days], COLORS[0])],
            value_format=lambda value: f"{value:,}",
        )
        return super().changelist_view(request, extra_context={**(extra_context or {}), "usage_chart": chart})


@admin.register(UsageAlert)
class UsageAlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["customer", "metric", "period_start", "threshold", "quantity", "included_quantity", "sent_display"]
    list_filter = ["threshold", "metric"]
    search_fields = ["customer__display_name", "customer__email"]
    list_select_related = ["customer", "metric"]
    sent_display = seoul_column("created_at", _("created at"), ordering="created_at")


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["event_id", "customer_id", "metric", "value", "timestamp_display", "received_display"]
    list_filter = ["metric"]
    search_fields = ["=event_id"]
    list_select_related = ["metric"]
    ordering = ["-timestamp", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    timestamp_display = seoul_column("timestamp", _("timestamp"), ordering="timestamp")
    received_display = seoul_column("received_at", _("received at"))


@admin.register(UsageEventKey)
class UsageEventKeyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["event_id", "customer"]
    search_fields = ["=event_id"]
    list_select_related = ["customer"]
    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.register(UsageDistinctValue)
class UsageDistinctValueAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["customer", "metric", "day", "value"]
    list_filter = ["metric"]
    list_select_related = ["customer", "metric"]
    ordering = ["-day", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
