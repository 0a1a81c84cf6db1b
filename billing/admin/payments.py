"""Payments in the admin: read-only (money is recorded through the invoice's "record a bank transfer"), CSV export."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from billing.models import Payment

from .common import AuditTrailMixin, DateRangeFilter, money_column, seoul_column
from .csv_export import PAYMENT_COLUMNS, CsvExportMixin


@admin.register(Payment)
class PaymentAdmin(AuditTrailMixin, CsvExportMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "invoice_link",
        "customer",
        "method",
        "status",
        "amount_display",
        "currency",
        "provider_reference",
        "received",
        "succeeded",
    ]
    list_filter = [
        "method",
        "status",
        "currency",
        ("succeeded_at", DateRangeFilter),
        ("received_at", DateRangeFilter),
    ]
    search_fields = [
        "invoice__number",
        "provider_reference",
        "customer__display_name",
        "customer__email",
        "customer__business_registration_number",
    ]
    search_help_text = _("Invoice number, bank reference, customer name, email or business registration number.")
    list_select_related = ["invoice", "customer"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    actions = ["export_selected_csv"]
    fields = (
        "invoice_link",
        "customer",
        "method",
        "status",
        "amount_display",
        "currency",
        "provider_reference",
        "note",
        "recorded_by",
        "received",
        "succeeded",
        "failed_at",
        "refunded_at",
        "failure_reason",
        "audit_trail",
    )
    readonly_fields = fields
    csv_columns = PAYMENT_COLUMNS
    csv_filename = "payments.csv"
    csv_select_related = ("invoice", "customer", "recorded_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # recorded against an invoice (its "record a bank transfer" action) or by Stripe

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # money received is never deleted; a refund is a new state

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_link(self, payment: Payment) -> str:
        url = reverse("admin:billing_invoice_change", args=[payment.invoice_id])
        return format_html('<a href="{}">{}</a>', url, payment.invoice)

    amount_display = money_column("amount", _("amount"), ordering="amount")
    received = seoul_column("received_at", _("received at"), ordering="received_at")
    succeeded = seoul_column("succeeded_at", _("succeeded at"), ordering="succeeded_at")
