"""Credit notes, refunds and the credit balance ledger in the admin: read-only pages (they are written only by
billing.services.credit_notes, .refunds and .balance), and the credit note tables of the invoice and customer pages.

What staff do from an invoice or a customer (issue a credit note, adjust a balance) is in .credit_actions.
"""

from collections.abc import Iterable

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import CreditNote, CreditNoteLine, CreditNoteNumberSequence, CustomerBalanceEntry, Refund
from billing.services.credit_note_pdf import credit_note_pdf_signed_url

from .common import EMPTY, DateRangeFilter, ReadOnlyMixin, money, money_column, pdf_redirect, seoul_column
from .csv_export import CREDIT_NOTE_COLUMNS, REFUND_COLUMNS, CsvExportMixin

RECENT = 20


def table_html(headers: Iterable[str], rows: SafeString) -> str:
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    return format_html('<table class="billing-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows)


def document_link(name: str, obj: Model | None) -> str:
    """A link to the object's admin page; "" when there is none."""
    if obj is None:
        return ""
    return format_html('<a href="{}">{}</a>', reverse(f"admin:billing_{name}_change", args=[obj.pk]), obj)


def credit_notes_table(notes: QuerySet[CreditNote]) -> str:
    """A document's or customer's credit notes, newest first: number, invoice, reason, amounts, how settled, PDF."""
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td>'
        '<td><a href="{}" target="_blank" rel="noopener">{}</a></td></tr>',
        (
            (
                document_link("creditnote", note),
                document_link("invoice", note.invoice),
                note.issue_date,
                note.get_reason_display(),
                money(note.total, note.currency),
                money(note.pre_payment_amount, note.currency),
                money(note.refund_amount, note.currency),
                money(note.balance_amount, note.currency),
                reverse("admin:billing_creditnote_pdf", args=[note.pk]),
                gettext("Open PDF"),
            )
            for note in notes.select_related("invoice")[:RECENT]
        ),
    )
    if not rows:
        return EMPTY
    headers = (
        gettext("number"),
        gettext("invoice"),
        gettext("issue date"),
        gettext("reason"),
        gettext("total"),
        gettext("pre-payment amount"),
        gettext("refund amount"),
        gettext("balance amount"),
        gettext("PDF"),
    )
    return table_html(headers, rows)


class CreditNoteLineInline(ReadOnlyMixin, admin.TabularInline):
    model = CreditNoteLine
    extra = 0
    can_delete = False
    fields = ("position", "description", "invoice_line", "amount_display")
    readonly_fields = fields

    amount_display = money_column("amount", _("amount"), currency="credit_note.currency")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditNoteLine]:
        return super().get_queryset(request).select_related("credit_note", "invoice_line")


class RefundInline(ReadOnlyMixin, admin.TabularInline):
    model = Refund
    fk_name = "credit_note"
    extra = 0
    can_delete = False
    fields = ("refund_link", "method", "status", "amount_display", "payment", "provider_reference", "failure_reason")
    readonly_fields = fields

    amount_display = money_column("amount", _("amount"))

    @admin.display(description=_("refund"))
    def refund_link(self, refund: Refund) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:billing_refund_change", args=[refund.pk]), refund.pk)


@admin.register(CreditNote)
class CreditNoteAdmin(CsvExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Credit notes as issued (수정 청구서): read-only; they are issued from their invoice's page or the API."""

    list_display = [
        "number",
        "invoice_link",
        "customer",
        "reason",
        "total_display",
        "pre_payment_display",
        "refund_display",
        "balance_display",
        "issue_date",
        "pdf_link",
    ]
    list_filter = ["reason", "currency", "pdf_status", ("issue_date", DateRangeFilter)]
    search_fields = [
        "=number",
        "number",
        "invoice__number",
        "customer__display_name",
        "customer__email",
        "customer__business_registration_number",
    ]
    search_help_text = _("Credit note or invoice number, customer name, email or business registration number.")
    list_select_related = ["invoice", "customer"]
    ordering = ["-issued_at", "-id"]
    list_per_page = 50
    actions = ["export_selected_csv"]
    csv_columns = CREDIT_NOTE_COLUMNS
    csv_filename = "credit_notes.csv"
    csv_select_related = ("invoice", "customer")
    inlines = [CreditNoteLineInline, RefundInline]
    fields = (
        "number",
        "invoice_link",
        "customer",
        "reason",
        "memo",
        "language",
        "currency",
        "subtotal_display",
        "tax_display",
        "total_display",
        "pre_payment_display",
        "refund_display",
        "balance_display",
        "issue_date",
        "issued",
        "created_by",
        "pdf_status",
        "pdf_link",
        "pdf_revision",
        "pdf_rendered_revision",
        "pdf_error",
    )
    readonly_fields = fields

    subtotal_display = money_column("subtotal", _("subtotal"))
    tax_display = money_column("tax", _("tax"))
    total_display = money_column("total", _("total"), ordering="total")
    pre_payment_display = money_column("pre_payment_amount", _("pre-payment amount"))
    refund_display = money_column("refund_amount", _("refund amount"))
    balance_display = money_column("balance_amount", _("balance amount"))
    issued = seoul_column("issued_at", _("issued at"), ordering="issued_at")

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_link(self, note: CreditNote) -> str:
        return document_link("invoice", note.invoice)

    @admin.display(description=_("PDF"))
    def pdf_link(self, note: CreditNote) -> str:
        url = reverse("admin:billing_creditnote_pdf", args=[note.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, gettext("Open PDF"))

    def get_urls(self) -> list[URLPattern]:
        pdf = path(
            "<int:credit_note_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_creditnote_pdf"
        )
        return [pdf, *super().get_urls()]

    def pdf_view(self, request: HttpRequest, credit_note_id: int) -> HttpResponse:
        """Sign a short-lived link when clicked (support staff too); a pending PDF is rendered first."""
        note = get_object_or_404(CreditNote.objects.select_related("pdf_file"), pk=credit_note_id)
        if not self.has_view_permission(request, note):
            raise PermissionDenied
        back = reverse("admin:billing_creditnote_change", args=[note.pk])
        return pdf_redirect(
            request,
            self,
            note,
            back=back,
            signed_url=lambda: credit_note_pdf_signed_url(credit_note=note, render_if_pending=True),
        )


@admin.register(Refund)
class RefundAdmin(CsvExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Money given back by credit notes: to the card, by bank transfer, or to the credit balance; read-only."""

    list_display = [
        "id",
        "credit_note_link",
        "invoice",
        "customer",
        "method",
        "status",
        "amount_display",
        "provider_reference",
        "created",
        "succeeded",
    ]
    list_filter = ["status", "method", "currency", ("created_at", DateRangeFilter)]
    search_fields = [
        "provider_reference",
        "credit_note__number",
        "invoice__number",
        "customer__display_name",
        "customer__email",
    ]
    search_help_text = _("Provider or bank reference, credit note or invoice number, customer name or email.")
    list_select_related = ["credit_note", "invoice", "customer"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    actions = ["export_selected_csv"]
    csv_columns = REFUND_COLUMNS
    csv_filename = "refunds.csv"
    csv_select_related = ("credit_note", "invoice")
    fields = (
        "credit_note_link",
        "invoice",
        "customer",
        "payment",
        "method",
        "status",
        "amount_display",
        "currency",
        "provider_reference",
        "replaces",
        "note",
        "failure_reason",
        "created_by",
        "created",
        "succeeded",
        "failed_at",
    )
    readonly_fields = fields

    amount_display = money_column("amount", _("amount"), ordering="amount")
    created = seoul_column("created_at", _("created at"), ordering="created_at")
    succeeded = seoul_column("succeeded_at", _("succeeded at"), ordering="succeeded_at")

    @admin.display(description=_("credit note"), ordering="credit_note__number")
    def credit_note_link(self, refund: Refund) -> str:
        return document_link("creditnote", refund.credit_note)


@admin.register(CustomerBalanceEntry)
class CustomerBalanceEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The credit balance ledger: append-only, so read-only here (staff adjust from the customer's page)."""

    list_display = [
        "created",
        "customer",
        "kind",
        "amount_display",
        "balance_after_display",
        "reason",
        "invoice",
        "credit_note",
        "created_by",
    ]
    list_filter = ["kind", "currency", ("created_at", DateRangeFilter)]
    search_fields = ["customer__display_name", "customer__email", "reason", "invoice__number", "credit_note__number"]
    search_help_text = _("Customer name or email, reason, invoice or credit note number.")
    list_select_related = ["customer", "invoice", "credit_note", "created_by"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50

    amount_display = money_column("amount", _("amount"), ordering="amount")
    balance_after_display = money_column("balance_after", _("balance after"))
    created = seoul_column("created_at", _("created at"), ordering="created_at")


@admin.register(CreditNoteLine)
class CreditNoteLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["credit_note", "position", "description", "line_amount"]
    search_fields = ["credit_note__number", "description"]
    list_select_related = ["credit_note"]
    ordering = ["-credit_note_id", "position"]

    line_amount = money_column("amount", _("amount"), currency="credit_note.currency")


@admin.register(CreditNoteNumberSequence)
class CreditNoteNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The per-day credit note counters, to look at only."""

    list_display = ["day", "last_number"]
    ordering = ["-day"]
