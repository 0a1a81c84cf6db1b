"""Invoice actions in the admin: the buttons of an invoice's page, the changelist actions and their forms.

Every action, from the changelist (one or many invoices) or from the buttons of an invoice's page, calls
the same service as the API and reports each invoice's outcome, or the service's reason for refusing it.
Which button an invoice shows is asked of the invoice state machine (billing.enums.INVOICE_TRANSITIONS),
which its service checks again under the row lock.
"""

from collections.abc import Callable
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
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.enums import InvoiceStatus, invoice_transition_allowed
from billing.models import Invoice
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

from .common import money, pdf_redirect, report_each
from .stripe import INVOICE_SYNC, invoice_sync, stripe_function


def _can_become(target: str) -> Callable[[Invoice], bool]:
    return lambda invoice: invoice_transition_allowed(invoice.status, target)


# Buttons of an invoice's page: name -> (label, whether this invoice allows it).
OBJECT_ACTIONS: dict[str, tuple[str | Promise, Callable[[Invoice], bool]]] = {
    "finalize": (_("Finalize"), _can_become(InvoiceStatus.OPEN)),
    "void": (_("Void"), _can_become(InvoiceStatus.VOID)),
    "mark_uncollectible": (_("Mark uncollectible"), _can_become(InvoiceStatus.UNCOLLECTIBLE)),
    "regenerate_pdf": (_("Regenerate PDF"), lambda invoice: invoice.is_issued),
    "stripe_sync": (_("Sync with Stripe"), lambda invoice: True),
}


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
        day = self.cleaned_data["received_on"]
        if day > billing_date(timezone.now()):
            raise forms.ValidationError(gettext("The money cannot arrive in the future."))
        return day

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
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


class InvoiceActionsAdmin(admin.ModelAdmin):
    """What InvoiceAdmin does to invoices: each action one service call, reported invoice by invoice."""

    # --- who may act ------------------------------------------------------------------------------

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Actions change invoices: the model's change permission (billing staff), never view-only (support)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_record_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_act_permission(request) and request.user.has_perm("billing.add_payment")

    def has_stripe_permission(self, request: HttpRequest) -> bool:
        return self.has_act_permission(request) and stripe_function(INVOICE_SYNC) is not None

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
        "regenerate_pdf": _("{object}: PDF queued for rendering."),
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

    def object_actions(self, request: HttpRequest, invoice: Invoice) -> list[dict[str, Any]]:
        """The buttons this user may press on this invoice's page."""
        if not self.has_act_permission(request):
            return []
        buttons = []
        for name, (label, allowed) in OBJECT_ACTIONS.items():
            if not allowed(invoice):
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
        return pdf_redirect(
            request,
            self,
            invoice,
            back=back,
            signed_url=lambda: invoice_pdf_signed_url(invoice=invoice, render_if_pending=True),
        )

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
