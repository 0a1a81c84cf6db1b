"""Invoices in the admin: find and read them (issued ones are read-only); lines, payments and number counters.

What staff can do to an invoice (finalize, void, record a bank transfer, ...) is in .invoice_actions.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus
from billing.models import Invoice, InvoiceLine, InvoiceNumberSequence, Payment
from billing.services.invoices import invoice_draft_delete

from .common import (
    EMPTY,
    AuditTrailMixin,
    DateRangeFilter,
    NoAddOrChangeMixin,
    ReadOnlyMixin,
    money_column,
    seoul,
    seoul_column,
)
from .credit_actions import InvoiceCreditNotesMixin
from .csv_export import INVOICE_COLUMNS, CsvExportMixin
from .invoice_actions import InvoiceActionsAdmin


class InvoiceLineInline(NoAddOrChangeMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = (
        "position",
        "description",
        "quantity",
        "unit_amount_display",
        "amount_display",
        "period_start",
        "period_end",
    )
    readonly_fields = fields
    verbose_name = _("invoice line")
    verbose_name_plural = _("invoice lines")

    unit_amount_display = money_column("unit_amount", _("unit amount"), currency="invoice.currency")
    amount_display = money_column("amount", _("amount"), currency="invoice.currency")

    def get_queryset(self, request: HttpRequest) -> QuerySet[InvoiceLine]:
        return super().get_queryset(request).select_related("invoice")


class PaymentInline(NoAddOrChangeMixin, admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fk_name = "invoice"
    fields = ("payment_link", "method", "status", "amount_display", "provider_reference", "received", "recorded_by")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("recorded_by")

    @admin.display(description=_("payment"))
    def payment_link(self, payment: Payment) -> str:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:billing_payment_change", args=[payment.pk]), payment.pk
        )

    amount_display = money_column("amount", _("amount"))

    @admin.display(description=_("received at"))
    def received(self, payment: Payment) -> str:
        return seoul(payment.received_at or payment.succeeded_at)


@admin.register(Invoice)
class InvoiceAdmin(AuditTrailMixin, CsvExportMixin, InvoiceCreditNotesMixin, InvoiceActionsAdmin):
    list_display = [
        "number_display",
        "customer",
        "status",
        "total_display",
        "remaining_display",
        "currency",
        "issue_date",
        "due_date",
        "pdf_status",
        "created",
    ]
    list_display_links = ["number_display"]
    list_filter = [
        "status",
        "currency",
        "pdf_status",
        ("issue_date", DateRangeFilter),
        ("due_date", DateRangeFilter),
        ("subscription_link__subscription__plan", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = [
        "=number",
        "number",
        "customer__display_name",
        "customer__email",
        "customer__business_registration_number",
        "buyer_name",
        "buyer_email",
        "buyer_business_number",
    ]
    search_help_text = _("Invoice number, customer name, email or business registration number.")
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    inlines = [InvoiceLineInline, PaymentInline]
    actions = [
        "finalize_selected",
        "record_bank_transfer",
        "void_selected",
        "mark_uncollectible_selected",
        "regenerate_pdf_selected",
        "issue_credit_note",
        "open_pdf",
        "stripe_sync_selected",
        "export_selected_csv",
    ]
    fieldsets = [
        (None, {"fields": ["number", "status", "customer_link", "order", "description", "currency"]}),
        (
            _("Amounts"),
            {
                "fields": [
                    "subtotal_display",
                    "tax_display",
                    "total_display",
                    "paid_display",
                    "remaining_display",
                    "credited_display",
                    "refunded_display",
                ]
            },
        ),
        (_("Credit notes"), {"fields": ["invoice_credit_notes"]}),
        (
            _("Dates"),
            {
                "fields": [
                    "issue_date",
                    "due_date",
                    "days_until_due",
                    "finalized",
                    "paid",
                    "voided",
                    "uncollectible",
                    "created",
                ]
            },
        ),
        (
            _("Buyer as issued"),
            {
                "fields": [
                    "language",
                    "buyer_name",
                    "buyer_email",
                    "buyer_business_number",
                    "buyer_representative",
                    "buyer_address",
                    "buyer_business_type",
                    "buyer_business_item",
                ]
            },
        ),
        (_("PDF"), {"fields": ["pdf_status", "pdf_link", "pdf_revision", "pdf_rendered_revision", "pdf_error"]}),
        (_("Stripe"), {"classes": ["collapse"], "fields": ["stripe_invoice_id", "stripe_hosted_invoice_url"]}),
        (_("audit trail"), {"fields": ["audit_trail"]}),
    ]
    readonly_fields = [
        "number",
        "status",
        "customer_link",
        "order",
        "description",
        "currency",
        "subtotal_display",
        "tax_display",
        "total_display",
        "paid_display",
        "remaining_display",
        "credited_display",
        "refunded_display",
        "invoice_credit_notes",
        "issue_date",
        "due_date",
        "days_until_due",
        "finalized",
        "paid",
        "voided",
        "uncollectible",
        "created",
        "language",
        "buyer_name",
        "buyer_email",
        "buyer_business_number",
        "buyer_representative",
        "buyer_address",
        "buyer_business_type",
        "buyer_business_item",
        "pdf_status",
        "pdf_link",
        "pdf_revision",
        "pdf_rendered_revision",
        "pdf_error",
        "stripe_invoice_id",
        "stripe_hosted_invoice_url",
        "audit_trail",
    ]
    csv_columns = INVOICE_COLUMNS
    csv_filename = "invoices.csv"
    csv_select_related = ("customer",)

    # --- permissions ------------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices are issued by orders, subscriptions and the API (billing.services.invoices)

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        # An issued invoice is a legal document: its page is read-only, and a POST to it is refused (403).
        if obj is not None and obj.is_issued:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        # Only drafts can be deleted, and only one at a time through the service; issued ones are voided.
        return obj is not None and obj.status == InvoiceStatus.DRAFT and super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Invoice) -> None:
        invoice_draft_delete(invoice=obj, actor=request.user)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description=_("number"), ordering="number")
    def number_display(self, invoice: Invoice) -> str:
        return invoice.number or gettext("Draft %(id)s") % {"id": invoice.pk}

    @admin.display(description=_("customer"))
    def customer_link(self, invoice: Invoice) -> str:
        url = reverse("admin:billing_customer_change", args=[invoice.customer_id])
        return format_html('<a href="{}">{}</a>', url, invoice.customer)

    subtotal_display = money_column("subtotal", _("subtotal"), ordering="subtotal")
    tax_display = money_column("tax", _("tax"), ordering="tax")
    total_display = money_column("total", _("total"), ordering="total")
    paid_display = money_column("amount_paid", _("amount paid"), ordering="amount_paid")
    remaining_display = money_column("amount_remaining", _("amount remaining"), ordering="amount_remaining")
    created = seoul_column("created_at", _("created at"), ordering="created_at")
    finalized = seoul_column("finalized_at", _("finalized at"))
    paid = seoul_column("paid_at", _("paid at"))
    voided = seoul_column("voided_at", _("voided at"))
    uncollectible = seoul_column("marked_uncollectible_at", _("marked uncollectible at"))

    @admin.display(description=_("PDF"))
    def pdf_link(self, invoice: Invoice) -> str:
        if invoice.status == InvoiceStatus.DRAFT:
            return EMPTY
        url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return format_html(
            '<a href="{}" target="_blank" rel="noopener" class="billing-pdf-link">{}</a>', url, gettext("Open PDF")
        )

    # --- the invoice page -------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("record-payment/", wrap(self.record_payment_view), name="billing_invoice_record_payment"),
            path("<int:invoice_id>/pdf/", wrap(self.pdf_view), name="billing_invoice_pdf"),
            path(
                "<int:invoice_id>/do/<str:action>/", wrap(self.object_action_view), name="billing_invoice_object_action"
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        invoice = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if invoice is not None:
            extra["billing_object_actions"] = self.object_actions(request, invoice)
            if invoice.status in INVOICE_PAYABLE_STATUSES and self.has_record_payment_permission(request):
                extra["billing_record_payment_url"] = (
                    f"{reverse('admin:billing_invoice_record_payment')}?ids={invoice.pk}"
                )
            extra["billing_credit_note_url"] = self.credit_note_issue_url(request, invoice)
            if invoice.status != InvoiceStatus.DRAFT and self.has_view_permission(request, invoice):
                extra["billing_pdf_url"] = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return super().change_view(request, object_id, form_url, extra_context=extra)


@admin.register(InvoiceNumberSequence)
class InvoiceNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The per-day counters, to look at only: a number handed out is never taken back by hand."""

    list_display = ["day", "last_number"]
    ordering = ["-day"]
    date_hierarchy = "day"


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Lines, searchable across invoices; read-only (they belong to their invoice)."""

    list_display = [
        "invoice",
        "position",
        "description",
        "quantity",
        "unit",
        "line_amount",
        "period_start",
        "period_end",
    ]
    search_fields = ["invoice__number", "description"]
    list_select_related = ["invoice"]
    ordering = ["-invoice_id", "position"]

    unit = money_column("unit_amount", _("unit amount"), currency="invoice.currency")
    line_amount = money_column("amount", _("amount"), currency="invoice.currency")
