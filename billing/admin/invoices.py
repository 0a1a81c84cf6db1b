"""Invoices in the admin: find, read (issued ones are read-only), and act on them only through the invoice services.

Every action, from the changelist (one or many invoices) or from the buttons of an invoice's page, calls
the same service as the API and reports each invoice's outcome, or the service's reason for refusing it.
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus
from billing.models import Invoice, InvoiceLine, InvoiceNumberSequence, Payment
from billing.money import decimal_from_minor_units, minor_units_from_decimal
from billing.periods import billing_date, billing_day_start
from billing.services.invoices import (
    invoice_finalize,
    invoice_mark_uncollectible,
    invoice_pdf_regenerate,
    invoice_void,
)
from billing.services.payments import payment_record_bank_transfer
from billing.services.pdf import invoice_pdf_signed_url
from billing_site.errors import ApplicationError

from .common import (
    EMPTY,
    AuditTrailMixin,
    DateRangeFilter,
    NoAddOrChangeMixin,
    ReadOnlyMixin,
    money,
    report_each,
    seoul,
)
from .csv_export import INVOICE_COLUMNS, CsvExportMixin
from .stripe import INVOICE_SYNC, invoice_sync, stripe_function

# Buttons of an invoice's page: name -> (label, statuses it applies to, permission).
OBJECT_ACTIONS: dict[str, tuple[Any, frozenset[str], str]] = {
    "finalize": (_("Finalize"), frozenset({InvoiceStatus.DRAFT}), "change"),
    "void": (_("Void"), frozenset({InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE}), "change"),
    "mark_uncollectible": (_("Mark uncollectible"), frozenset({InvoiceStatus.OPEN}), "change"),
    "regenerate_pdf": (
        _("Regenerate PDF"),
        frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
        "change",
    ),
    "stripe_sync": (_("Sync with Stripe"), frozenset(InvoiceStatus.values), "change"),
}


class InvoiceLineInline(NoAddOrChangeMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = [
        "position",
        "description",
        "quantity",
        "unit_amount_display",
        "amount_display",
        "period_start",
        "period_end",
    ]
    readonly_fields = fields
    verbose_name = _("invoice line")
    verbose_name_plural = _("invoice lines")

    @admin.display(description=_("unit amount"))
    def unit_amount_display(self, line: InvoiceLine) -> str:
        return money(line.unit_amount, line.invoice.currency)

    @admin.display(description=_("amount"))
    def amount_display(self, line: InvoiceLine) -> str:
        return money(line.amount, line.invoice.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[InvoiceLine]:
        return super().get_queryset(request).select_related("invoice")


class PaymentInline(NoAddOrChangeMixin, admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fk_name = "invoice"
    fields = ["payment_link", "method", "status", "amount_display", "provider_reference", "received", "recorded_by"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("recorded_by")

    @admin.display(description=_("payment"))
    def payment_link(self, payment: Payment) -> str:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:billing_payment_change", args=[payment.pk]), payment.pk
        )

    @admin.display(description=_("amount"))
    def amount_display(self, payment: Payment) -> str:
        return money(payment.amount, payment.currency)

    @admin.display(description=_("received at"))
    def received(self, payment: Payment) -> str:
        return seoul(payment.received_at or payment.succeeded_at)


class BankTransferForm(forms.Form):
    """Money that arrived by bank transfer (계좌이체), recorded against one invoice or paying several in full."""

    amount = forms.DecimalField(
        label=_("amount"),
        required=False,
        min_value=Decimal(0),
        max_digits=20,
        decimal_places=2,
        help_text=_("In the invoice's currency (won for KRW). Empty: the whole remaining amount of each invoice."),
    )
    received_on = forms.DateField(
        label=_("received on"), widget=forms.DateInput(attrs={"type": "date"}), help_text=_("Asia/Seoul date.")
    )
    reference = forms.CharField(
        label=_("bank reference"),
        required=False,
        max_length=255,
        help_text=_("The bank's transaction reference; one payment per reference."),
    )
    note = forms.CharField(label=_("note"), required=False, max_length=500)

    def __init__(self, *args: Any, invoices: list[Invoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invoices = invoices

    def clean_received_on(self) -> Any:
        from django.utils import timezone

        day = self.cleaned_data["received_on"]
        if day > billing_date(timezone.now()):
            raise forms.ValidationError(gettext("The money cannot arrive in the future."))
        return day

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if len(self.invoices) > 1:
            if cleaned.get("amount") is not None:
                self.add_error("amount", gettext("With several invoices each is paid in full: leave the amount empty."))
            if cleaned.get("reference"):
                self.add_error("reference", gettext("A bank reference belongs to one payment: record them one by one."))
        return cleaned

    def amount_for(self, invoice: Invoice) -> int:
        """The amount in minor units for this invoice; a fraction finer than the currency allows is refused."""
        value = self.cleaned_data.get("amount")
        if value is None:
            return invoice.amount_remaining
        minor = minor_units_from_decimal(amount=value, currency=invoice.currency)
        if decimal_from_minor_units(amount=minor, currency=invoice.currency) != value:
            raise ApplicationError(
                "invalid_amount", gettext("%(currency)s has no such fraction.") % {"currency": invoice.currency}
            )
        return minor


@admin.register(Invoice)
class InvoiceAdmin(AuditTrailMixin, CsvExportMixin, admin.ModelAdmin):
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
        "open_pdf",
        "stripe_sync_selected",
        "export_selected_csv",
    ]
    fieldsets = [
        (None, {"fields": ["number", "status", "customer_link", "order", "description", "currency"]}),
        (
            _("Amounts"),
            {"fields": ["subtotal_display", "tax_display", "total_display", "paid_display", "remaining_display"]},
        ),
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
            {"fields": ["language", "buyer_name", "buyer_email", "buyer_business_number", "buyer_address"]},
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
        "buyer_address",
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

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Actions change invoices: the model's change permission (billing staff), never view-only (support)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_record_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_act_permission(request) and request.user.has_perm("billing.add_payment")

    def has_stripe_permission(self, request: HttpRequest) -> bool:
        return self.has_act_permission(request) and stripe_function(INVOICE_SYNC) is not None

    def delete_model(self, request: HttpRequest, obj: Invoice) -> None:
        from billing.services.invoices import invoice_draft_delete

        invoice_draft_delete(invoice=obj, actor=request.user)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description=_("number"), ordering="number")
    def number_display(self, invoice: Invoice) -> str:
        return invoice.number or gettext("Draft %(id)s") % {"id": invoice.pk}

    @admin.display(description=_("customer"))
    def customer_link(self, invoice: Invoice) -> str:
        url = reverse("admin:billing_customer_change", args=[invoice.customer_id])
        return format_html('<a href="{}">{}</a>', url, invoice.customer)

    @admin.display(description=_("subtotal"), ordering="subtotal")
    def subtotal_display(self, invoice: Invoice) -> str:
        return money(invoice.subtotal, invoice.currency)

    @admin.display(description=_("tax"), ordering="tax")
    def tax_display(self, invoice: Invoice) -> str:
        return money(invoice.tax, invoice.currency)

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, invoice: Invoice) -> str:
        return money(invoice.total, invoice.currency)

    @admin.display(description=_("amount paid"), ordering="amount_paid")
    def paid_display(self, invoice: Invoice) -> str:
        return money(invoice.amount_paid, invoice.currency)

    @admin.display(description=_("amount remaining"), ordering="amount_remaining")
    def remaining_display(self, invoice: Invoice) -> str:
        return money(invoice.amount_remaining, invoice.currency)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, invoice: Invoice) -> str:
        return seoul(invoice.created_at)

    @admin.display(description=_("finalized at"))
    def finalized(self, invoice: Invoice) -> str:
        return seoul(invoice.finalized_at)

    @admin.display(description=_("paid at"))
    def paid(self, invoice: Invoice) -> str:
        return seoul(invoice.paid_at)

    @admin.display(description=_("voided at"))
    def voided(self, invoice: Invoice) -> str:
        return seoul(invoice.voided_at)

    @admin.display(description=_("marked uncollectible at"))
    def uncollectible(self, invoice: Invoice) -> str:
        return seoul(invoice.marked_uncollectible_at)

    @admin.display(description=_("PDF"))
    def pdf_link(self, invoice: Invoice) -> str:
        if invoice.status == InvoiceStatus.DRAFT:
            return EMPTY
        url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return format_html(
            '<a href="{}" target="_blank" rel="noopener" class="billing-pdf-link">{}</a>', url, gettext("Open PDF")
        )

    # --- per-invoice operations (each one service call) -------------------------------------------

    def _finalize(self, request: HttpRequest, invoice: Invoice) -> Invoice:
        return invoice_finalize(invoice=invoice, actor=request.user)

    def _void(self, request: HttpRequest, invoice: Invoice) -> Invoice:
        return invoice_void(invoice=invoice, actor=request.user)

    def _mark_uncollectible(self, request: HttpRequest, invoice: Invoice) -> Invoice:
        return invoice_mark_uncollectible(invoice=invoice, actor=request.user)

    def _regenerate_pdf(self, request: HttpRequest, invoice: Invoice) -> Invoice:
        return invoice_pdf_regenerate(invoice=invoice, actor=request.user)

    def _stripe_sync(self, request: HttpRequest, invoice: Invoice) -> str:
        return invoice_sync(invoice, actor=request.user)

    OPERATION_SUCCESS = {
        "finalize": _("{object}: finalized."),
        "void": _("{object}: voided."),
        "mark_uncollectible": _("{object}: marked uncollectible."),
        "regenerate_pdf": _("{object}: PDF rendered."),
        "stripe_sync": "{object}",
    }

    def _run(self, request: HttpRequest, name: str, invoices: Any) -> None:
        operation = getattr(self, f"_{name}")
        report_each(
            request,
            self,
            invoices,
            operation=lambda invoice: operation(request, invoice),
            success=str(self.OPERATION_SUCCESS[name]),
        )

    # --- changelist actions (one or many invoices) ------------------------------------------------

    @admin.action(description=_("Finalize selected draft invoices"), permissions=["act"])
    def finalize_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._run(request, "finalize", queryset.order_by("pk"))

    @admin.action(description=_("Void selected invoices"), permissions=["act"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._run(request, "void", queryset.order_by("pk"))

    @admin.action(description=_("Mark selected invoices uncollectible"), permissions=["act"])
    def mark_uncollectible_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._run(request, "mark_uncollectible", queryset.order_by("pk"))

    @admin.action(description=_("Regenerate PDF of selected invoices"), permissions=["act"])
    def regenerate_pdf_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._run(request, "regenerate_pdf", queryset.order_by("pk"))

    @admin.action(description=_("Sync selected invoices with Stripe"), permissions=["stripe"])
    def stripe_sync_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        self._run(request, "stripe_sync", queryset.order_by("pk"))

    @admin.action(description=_("Record a bank transfer payment"), permissions=["record_payment"])
    def record_bank_transfer(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:billing_invoice_record_payment')}?ids={ids}")

    @admin.action(description=_("Open the PDF (short-lived link)"), permissions=["view"])
    def open_pdf(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        invoices = list(queryset[:2])
        if len(invoices) != 1:
            self.message_user(request, gettext("Select exactly one invoice to open its PDF."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:billing_invoice_pdf", args=[invoices[0].pk]))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # drafts are deleted one by one, through the service
        return actions

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

    def object_actions(self, request: HttpRequest, invoice: Invoice) -> list[dict[str, Any]]:
        """The buttons this user may press on this invoice's page."""
        if not self.has_act_permission(request):
            return []
        buttons = []
        for name, (label, statuses, _permission) in OBJECT_ACTIONS.items():
            if invoice.status not in statuses:
                continue
            if name == "stripe_sync" and not self.has_stripe_permission(request):
                continue
            buttons.append(
                {
                    "name": name,
                    "label": label,
                    "url": reverse("admin:billing_invoice_object_action", args=[invoice.pk, name]),
                }
            )
        return buttons

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        invoice = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if invoice is not None:
            extra["billing_object_actions"] = self.object_actions(request, invoice)
            if invoice.status in INVOICE_PAYABLE_STATUSES and self.has_record_payment_permission(request):
                extra["billing_record_payment_url"] = (
                    f"{reverse('admin:billing_invoice_record_payment')}?ids={invoice.pk}"
                )
            if invoice.status != InvoiceStatus.DRAFT and self.has_view_permission(request, invoice):
                extra["billing_pdf_url"] = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def object_action_view(self, request: HttpRequest, invoice_id: int, action: str) -> HttpResponse:
        """POST from a button of the invoice's page: run one action on this invoice, then show the page again."""
        if request.method != "POST":
            return HttpResponse(status=405)
        if action not in OBJECT_ACTIONS:
            return HttpResponse(status=404)
        if not self.has_act_permission(request) or (
            action == "stripe_sync" and not self.has_stripe_permission(request)
        ):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=invoice_id)
        self._run(request, action, [invoice])
        return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))

    def pdf_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        """Sign a short-lived link when clicked (support staff too); a pending PDF is rendered first."""
        invoice = get_object_or_404(Invoice.objects.select_related("pdf_file"), pk=invoice_id)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        back = reverse("admin:billing_invoice_change", args=[invoice.pk])
        if invoice.status == InvoiceStatus.DRAFT:
            self.message_user(request, gettext("A draft has no PDF; finalize it first."), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            signed = invoice_pdf_signed_url(invoice=invoice, render_if_pending=True)
        except ApplicationError as error:
            self.message_user(
                request,
                gettext("%(object)s: refused: %(reason)s") % {"object": invoice, "reason": error.message},
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        except Exception as error:  # the renderer or storage failed: the reason is on the invoice (pdf_error)
            self.message_user(
                request, gettext("The PDF could not be produced: %(error)s") % {"error": error}, messages.ERROR
            )
            return HttpResponseRedirect(back)
        if signed is None:
            self.message_user(request, gettext("The PDF is not ready yet."), messages.WARNING)
            return HttpResponseRedirect(back)
        url, _expires_at = signed
        return HttpResponseRedirect(url)

    def record_payment_view(self, request: HttpRequest) -> HttpResponse:
        """The intermediate form of "record a bank transfer": amount, day received, reference, for chosen invoices."""
        if not self.has_record_payment_permission(request):
            raise PermissionDenied
        raw_ids = request.POST.get("ids") if request.method == "POST" else request.GET.get("ids", "")
        ids = [int(part) for part in (raw_ids or "").split(",") if part.strip().isdigit()]
        invoices = list(Invoice.objects.filter(pk__in=ids).select_related("customer").order_by("pk"))
        if not invoices:
            self.message_user(request, gettext("No invoices were selected."), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:billing_invoice_changelist"))
        from django.utils import timezone

        if request.method == "POST":
            form = BankTransferForm(request.POST, invoices=invoices)
            if form.is_valid():
                received_at = billing_day_start(form.cleaned_data["received_on"])

                def record(invoice: Invoice) -> str:
                    amount = form.amount_for(invoice)
                    payment_record_bank_transfer(
                        invoice=invoice,
                        amount=amount,
                        actor=request.user,
                        reference=form.cleaned_data.get("reference", ""),
                        note=form.cleaned_data.get("note", ""),
                        received_at=received_at,
                    )
                    invoice.refresh_from_db()
                    return gettext("%(object)s: %(amount)s recorded; the invoice is %(status)s.") % {
                        "object": invoice,
                        "amount": money(amount, invoice.currency),
                        "status": invoice.get_status_display(),
                    }

                report_each(request, self, invoices, operation=record, success="{object}")
                if len(invoices) == 1:
                    return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoices[0].pk]))
                return HttpResponseRedirect(reverse("admin:billing_invoice_changelist"))
        else:
            form = BankTransferForm(initial={"received_on": billing_date(timezone.now())}, invoices=invoices)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Record a bank transfer payment"),
            "opts": self.opts,
            "form": form,
            "invoices": [(invoice, money(invoice.amount_remaining, invoice.currency)) for invoice in invoices],
            "ids": ",".join(str(invoice.pk) for invoice in invoices),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/invoice/record_payment.html", context)


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

    @admin.display(description=_("unit amount"))
    def unit(self, line: InvoiceLine) -> str:
        return money(line.unit_amount, line.invoice.currency)

    @admin.display(description=_("amount"))
    def line_amount(self, line: InvoiceLine) -> str:
        return money(line.amount, line.invoice.currency)
