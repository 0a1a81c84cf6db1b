"""Usage billing in the admin, read-only: billing/plans.yaml owns metrics and plan charges (`manage.py seed_plans`)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from billing.enums import ChargeModel
from billing.models.usage import BillableMetric, PlanCharge

from .common import ReadOnlyMixin, money, seoul_column


def _count(number: int) -> str:
    return f"{number:,}"


def _unit(metric: BillableMetric) -> str:
    return metric.display_unit((get_language() or "")[:2])  # "en-us" -> "en"


def charge_price_lines(charge: PlanCharge, *, currency: str, unit: str) -> list[str]:
    """How a charge prices the billable quantity, one line per tier (tiers count units after the included ones)."""
    if charge.charge_model == ChargeModel.PER_UNIT:
        return [gettext("{amount} per {unit}").format(amount=money(charge.unit_amount, currency), unit=unit)]
    if charge.charge_model == ChargeModel.PACKAGE:
        return [
            gettext("{amount} per {size} {unit}").format(
                amount=money(charge.unit_amount, currency), size=_count(charge.package_size), unit=unit
            )
        ]
    lines = []
    first = 1
    for tier in charge.tiers:
        if tier["up_to"] is None:
            units = gettext("{first} {unit} and more").format(first=_count(first), unit=unit)
        else:
            units = gettext("{first}–{last} {unit}").format(first=_count(first), last=_count(tier["up_to"]), unit=unit)
            first = tier["up_to"] + 1
        price = gettext("{amount} per {unit}").format(amount=money(tier["unit_amount"], currency), unit=unit)
        if tier.get("flat_amount"):
            price = gettext("{price} + {flat} flat").format(price=price, flat=money(tier["flat_amount"], currency))
        lines.append(f"{units}: {price}")
    return lines


@admin.display(description=_("included quantity"))
def charge_included(model_admin: Any, charge: PlanCharge) -> str:
    unit = _unit(charge.metric)
    return gettext("{quantity} {unit}").format(quantity=_count(charge.included_quantity), unit=unit)


@admin.display(description=_("price beyond the included quantity"))
def charge_price(model_admin: Any, charge: PlanCharge) -> str:
    unit = _unit(charge.metric)
    lines = charge_price_lines(charge, currency=charge.currency, unit=unit)
    return format_html_join("", "<div>{}</div>", ((line,) for line in lines))


class PlanChargeInline(ReadOnlyMixin, admin.TabularInline):
    """A plan's usage charges on its page, for reference: the plan file sets them."""

    model = PlanCharge
    extra = 0
    can_delete = False
    fields = ("metric", "currency", "charge_model", "included", "price", "display_order", "stripe_price_id")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanCharge]:
        # A metric's charges in each currency side by side.
        return (
            super().get_queryset(request).select_related("plan", "metric").order_by("display_order", "currency", "id")
        )

    included = charge_included
    price = charge_price

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Shown, never submitted: left out of a save, the plan form posts no formset for rows it cannot change.
        return request.method != "POST" and super().has_view_permission(request, obj)


@admin.register(PlanCharge)
class PlanChargeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every plan's usage charges in one list; read-only, since the plan file creates, updates and removes them."""

    list_display = ["plan", "metric", "currency", "charge_model", "included", "price", "display_order", "updated"]
    list_filter = ["currency", "charge_model", "metric", "plan"]
    search_fields = ["plan__slug", "plan__name", "metric__code", "metric__name"]
    fields = [
        "plan",
        "metric",
        "currency",
        "charge_model",
        "included",
        "price",
        "display_order",
        "stripe_price_id",
    ]
    readonly_fields = ["included", "price"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanCharge]:
        return super().get_queryset(request).select_related("plan", "metric")

    included = charge_included
    price = charge_price
    updated = seoul_column("updated_at", _("updated at"), ordering="updated_at")


@admin.register(BillableMetric)
class BillableMetricAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The metrics usage events are sent for; read-only, since the plan file creates and updates them."""

    list_display = ["code", "name", "name_en", "unit", "unit_en", "aggregation", "is_active", "charged_by", "updated"]
    list_filter = ["aggregation", "is_active"]
    search_fields = ["code", "name", "name_en"]
    fieldsets = [
        (
            None,
            {
                "description": _(
                    "Loaded from billing/plans.yaml by manage.py seed_plans: change the file, not this page."
                ),
                "fields": ["code", "name", "name_en", "unit", "unit_en", "aggregation", "is_active", "charged_by"],
            },
        ),
    ]
    readonly_fields = ["charged_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillableMetric]:
        return super().get_queryset(request).prefetch_related("charges__plan")

    @admin.display(description=_("charged by plans"))
    def charged_by(self, metric: BillableMetric) -> str:
        slugs = sorted({charge.plan.slug for charge in metric.charges.all()})  # one charge per currency
        return ", ".join(slugs) or "—"

    updated = seoul_column("updated_at", _("updated at"), ordering="updated_at")
