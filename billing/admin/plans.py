"""Subscription plans in the admin: edit a plan, then "sync to Stripe" (when Stripe is on).

Prices are supply amounts (VAT excluded) in minor units; a changed price applies to new subscriptions only,
since every subscription keeps the price it started with. A plan with subscriptions is deactivated, never deleted.
"""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES
from billing.services.plans import plan_default_price_sync

from .common import AuditTrailMixin, ReadOnlyMixin, money, money_column, report_each, seoul_column
from .stripe import PLAN_SYNC, plan_sync, stripe_function
from .usage_metrics import PlanChargeInline


class PlanPriceInline(ReadOnlyMixin, admin.TabularInline):
    """A plan's prices per currency on its page, for reference: the plan file sets them (the default currency's
    follows the plan's own price, edited above). `active` off: dropped from the file, kept only for the
    subscriptions in that currency and sold to nobody new."""

    model = PlanPrice
    extra = 0
    can_delete = False
    fields = ("currency", "active", "monthly", "annual", "stripe_monthly_price_id", "stripe_annual_price_id")
    readonly_fields = fields
    ordering = ("currency",)

    @admin.display(description=_("monthly price"))
    def monthly(self, price: PlanPrice) -> str:
        return money(price.monthly_price, price.currency)

    @admin.display(description=_("annual price"))
    def annual(self, price: PlanPrice) -> str:
        return money(price.annual_price, price.currency)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Shown, never submitted: left out of a save, the plan form posts no formset for rows it cannot change.
        return request.method != "POST" and super().has_view_permission(request, obj)


@admin.register(PlanPrice)
class PlanPriceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every plan's prices per currency in one list; read-only, since the plan file creates, updates and removes
    them (and a plan's default one follows the plan's own price, edited on the plan)."""

    list_display = ["plan", "currency", "active", "monthly", "annual", "updated"]
    list_filter = ["currency", "active", "plan"]
    search_fields = ["plan__slug", "plan__name"]
    fields = ["plan", "currency", "active", "monthly", "annual", "stripe_monthly_price_id", "stripe_annual_price_id"]
    readonly_fields = ["monthly", "annual"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanPrice]:
        return super().get_queryset(request).select_related("plan")

    @admin.display(description=_("monthly price"), ordering="monthly_price")
    def monthly(self, price: PlanPrice) -> str:
        return money(price.monthly_price, price.currency)

    @admin.display(description=_("annual price"), ordering="annual_price")
    def annual(self, price: PlanPrice) -> str:
        return money(price.annual_price, price.currency)

    updated = seoul_column("updated_at", _("updated at"), ordering="updated_at")


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(AuditTrailMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "monthly",
        "annual",
        "currency",
        "per_seat",
        "trial_days",
        "max_projects",
        "is_active",
        "live_subscriptions",
        "display_order",
    ]
    list_filter = ["is_active", "currency", "per_seat"]
    search_fields = ["name", "name_en", "slug"]
    ordering = ["display_order", "id"]
    actions = ["stripe_sync_selected"]
    inlines = [PlanPriceInline, PlanChargeInline]  # read-only: billing/plans.yaml sets prices and usage charges
    fieldsets = [
        (None, {"fields": ["slug", "name", "name_en", "is_active", "display_order"]}),
        (
            _("Prices (VAT excluded, minor units)"),
            {"fields": ["currency", "monthly_price", "annual_price", "per_seat"]},
        ),
        (_("Trial"), {"fields": ["trial_days"]}),
        (_("Limits and features"), {"fields": ["max_projects", "features", "features_en"]}),
        (
            _("Stripe"),
            {
                "classes": ["collapse"],
                "fields": ["stripe_product_id", "stripe_monthly_price_id", "stripe_annual_price_id"],
            },
        ),
        (_("audit trail"), {"fields": ["audit_trail", "created"]}),
    ]
    readonly_fields = [
        "stripe_product_id",
        "stripe_monthly_price_id",
        "stripe_annual_price_id",
        "audit_trail",
        "created",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriptionPlan]:
        return (
            super()
            .get_queryset(request)
            .annotate(live_count=Count("subscriptions", filter=Q(subscriptions__status__in=sorted(LIVE_STATUSES))))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["slug", "currency"]  # the plan file and Stripe know it by slug; prices are per currency
        return fields

    def save_model(self, request: HttpRequest, obj: SubscriptionPlan, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        plan_default_price_sync(plan=obj)  # the plan's own price is its default currency's row

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.subscriptions.exists():
            return False  # deactivate it instead: subscriptions point at it
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A plan's price rows are part of it (read-only on their own: the plan file's): deleting the plan deletes
        # them, with no permission of their own asked.
        perms_needed.discard(str(PlanPrice._meta.verbose_name))
        return deleted, counts, perms_needed, protected

    def has_stripe_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_subscriptionplan") and stripe_function(PLAN_SYNC) is not None

    monthly = money_column("monthly_price", _("monthly price"), ordering="monthly_price")
    annual = money_column("annual_price", _("annual price"), ordering="annual_price")

    @admin.display(description=_("live subscriptions"), ordering="live_count")
    def live_subscriptions(self, plan: SubscriptionPlan) -> int:
        return getattr(plan, "live_count", 0)

    created = seoul_column("created_at", _("created at"))

    @admin.action(description=_("Sync selected plans to Stripe"), permissions=["stripe"])
    def stripe_sync_selected(self, request: HttpRequest, queryset: QuerySet[SubscriptionPlan]) -> None:
        report_each(
            request,
            self,
            queryset.order_by("pk"),
            operation=lambda plan: plan_sync(plan, actor=request.user),
            success="{object}",
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:plan_id>/stripe-sync/",
                self.admin_site.admin_view(self.stripe_sync_view),
                name="billing_subscriptionplan_stripe_sync",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if str(object_id).isdigit() and self.has_stripe_permission(request):
            url = reverse("admin:billing_subscriptionplan_stripe_sync", args=[object_id])
            extra["billing_object_actions"] = [{"name": "stripe_sync", "label": gettext("Sync to Stripe"), "url": url}]
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def stripe_sync_view(self, request: HttpRequest, plan_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if not self.has_stripe_permission(request):
            raise PermissionDenied
        plan = get_object_or_404(SubscriptionPlan, pk=plan_id)
        report_each(
            request, self, [plan], operation=lambda item: plan_sync(item, actor=request.user), success="{object}"
        )
        return HttpResponseRedirect(reverse("admin:billing_subscriptionplan_change", args=[plan.pk]))
