"""Orders and idempotency keys in the admin: orders are invoiced or canceled through their services only."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import IdempotencyKey, Order, OrderItem
from billing.services.invoices import invoice_issue_for_order
from billing.services.orders import order_cancel

from .common import DateRangeFilter, NoAddOrChangeMixin, ReadOnlyMixin, money_column, report_each, seoul_column


class OrderItemInline(NoAddOrChangeMixin, admin.TabularInline):
    model = OrderItem
    extra = 0
    can_delete = False
    fields = ("position", "description", "quantity", "unit", "line_amount")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderItem]:
        return super().get_queryset(request).select_related("order")

    unit = money_column("unit_amount", _("unit amount"), currency="order.currency")
    line_amount = money_column("amount", _("amount"), currency="order.currency")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total_display", "currency", "description", "created"]
    list_filter = ["status", "currency", ("created_at", DateRangeFilter)]
    search_fields = [
        "=id",
        "description",
        "customer__display_name",
        "customer__email",
        "=customer__business_registration_number",
    ]
    list_select_related = ["customer"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    inlines = [OrderItemInline]
    actions = ["invoice_selected", "cancel_selected"]
    fields = (
        "customer",
        "status",
        "currency",
        "description",
        "subtotal_display",
        "tax_display",
        "total_display",
        "invoices",
        "created",
        "canceled_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_order") and request.user.has_perm("billing.change_invoice")

    subtotal_display = money_column("subtotal", _("subtotal"))
    tax_display = money_column("tax", _("tax"))
    total_display = money_column("total", _("total"), ordering="total")
    created = seoul_column("created_at", _("created at"), ordering="created_at")

    @admin.display(description=_("invoices"))
    def invoices(self, order: Order) -> str:
        links = [
            format_html('<a href="{}">{}</a>', reverse("admin:billing_invoice_change", args=[invoice.pk]), invoice)
            for invoice in order.invoices.order_by("-created_at")
        ]
        return format_html(", ".join(["{}"] * len(links)), *links) if links else "—"

    @admin.action(description=_("Issue an invoice for selected pending orders"), permissions=["act"])
    def invoice_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        report_each(
            request,
            self,
            queryset.order_by("pk"),
            operation=lambda order: (
                gettext("Order %(id)s: invoice %(invoice)s issued.")
                % {"id": order.pk, "invoice": invoice_issue_for_order(order=order, actor=request.user)}
            ),
            success="{object}",
        )

    @admin.action(description=_("Cancel selected pending orders"), permissions=["act"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        report_each(
            request,
            self,
            queryset.order_by("pk"),
            operation=lambda order: order_cancel(order=order, actor=request.user),
            success=str(_("{object}: canceled.")),
        )


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(NoAddOrChangeMixin, admin.ModelAdmin):
    """Idempotency-Key records, to look at when a client reports a replay: which request, when, which status.

    The stored response body is never shown, to anyone: it is the client's own data and may hold secrets (a
    PaymentIntent `client_secret`). Its size says whether there is one. docs/security.md.
    """

    list_display = [
        "key",
        "user",
        "request_method",
        "request_path",
        "state",
        "response_status",
        "created_at",
        "expires_at",
    ]
    list_filter = ["state", "request_method", ("created_at", DateRangeFilter)]
    search_fields = ["key", "request_path", "user__username", "user__email"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = (
        "key",
        "user",
        "request_method",
        "request_path",
        "request_fingerprint",
        "state",
        "response_status",
        "response_size",
        "created_at",
        "completed_at",
        "expires_at",
    )
    readonly_fields = fields

    @admin.display(description=_("response size"))
    def response_size(self, record: IdempotencyKey) -> str:
        return gettext("%(count)s characters (not shown)") % {"count": len(record.response_body)}


@admin.register(OrderItem)
class OrderItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["order", "position", "description", "quantity", "unit", "line_amount"]
    search_fields = ["description", "order__customer__display_name"]
    list_select_related = ["order"]
    ordering = ["-order_id", "position"]

    unit = money_column("unit_amount", _("unit amount"), currency="order.currency")
    line_amount = money_column("amount", _("amount"), currency="order.currency")
