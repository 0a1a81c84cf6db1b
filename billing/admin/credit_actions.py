"""What staff do about credit from the admin: the invoice's "issue a credit note" form and action, the customer's
"adjust balance" form and action, and the credit sections of both pages. Each form is one service call
(credit_note_issue, balance_adjust) that checks the permission again; a refusal shows the service's reason.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.enums import CreditNoteReason, CreditSettlement
from billing.models import Customer, Invoice
from billing.money import decimal_from_minor_units, minor_units_from_decimal
from billing.services.balance import balance_adjust
from billing.services.credit_notes import CREDITABLE_STATUSES, credit_note_issue
from billing_site.errors import ApplicationError

from .common import EMPTY, money, money_column, seoul
from .credit_notes import RECENT, credit_notes_table, document_link, table_html

FORM_TEMPLATE = "admin/billing/subscription/lifecycle_form.html"  # a generic "form about one object" page


def _minor_units(value: Decimal, currency: str) -> int:
    """An amount typed in major units (won, dollars) as minor units; a fraction the currency lacks is refused."""
    minor = minor_units_from_decimal(amount=value, currency=currency)
    if decimal_from_minor_units(amount=minor, currency=currency) != value:
        raise forms.ValidationError(gettext("%(currency)s has no such fraction.") % {"currency": currency})
    return minor


class CreditNoteIssueForm(forms.Form):
    amount = forms.DecimalField(
        label=_("amount"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=20,
        decimal_places=2,
        help_text=_("Total to credit, VAT included, in the invoice's currency. Empty: everything not credited yet."),
    )
    reason = forms.ChoiceField(label=_("reason"), choices=CreditNoteReason.choices)
    memo = forms.CharField(label=_("memo"), required=False, max_length=500)
    settlement = forms.ChoiceField(
        label=_("settlement"),
        choices=CreditSettlement.choices,
        initial=CreditSettlement.REFUND,
        help_text=_("Where the part beyond what the invoice still asks goes: refunded, or to the credit balance."),
    )
    bank_reference = forms.CharField(
        label=_("bank reference"),
        required=False,
        max_length=200,
        help_text=_("The outgoing transfer's reference, when money paid by bank transfer is refunded."),
    )


class BalanceAdjustForm(forms.Form):
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=20,
        decimal_places=2,
        help_text=_("In the customer's currency: positive adds credit, negative takes it away."),
    )
    reason = forms.CharField(label=_("reason"), max_length=500)


def form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    obj: Model,
    form_class: type[forms.Form],
    title: str,
    intro: str,
    submit: str,
    operation: Callable[[dict[str, Any]], str],
) -> HttpResponse:
    """A form about one object: a valid POST runs `operation` (one service call) and goes back to the object's
    page; a refusal (ApplicationError) shows the form again with the service's reason."""
    back = reverse(f"admin:billing_{obj._meta.model_name}_change", args=[obj.pk])
    form = form_class(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            done = operation(form.cleaned_data)
        except forms.ValidationError as error:
            form.add_error("amount", error)
        except ApplicationError as error:
            for name, problems in (error.fields or {}).items():
                if name in form.fields:
                    form.add_error(name, problems)
            refusal = gettext("%(object)s: refused: %(reason)s") % {"object": obj, "reason": error.message}
            model_admin.message_user(request, refusal, messages.ERROR)
        else:
            model_admin.message_user(request, done, messages.SUCCESS)
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "original": obj,
        "form": form,
        "back": back,
        "intro": intro,
        "submit": submit,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context)


def _one_selected(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any], url: str) -> Any:
    """An action that opens a form for exactly one selected object."""
    chosen = list(queryset[:2])
    if len(chosen) != 1:
        model_admin.message_user(request, gettext("Select exactly one."), messages.WARNING)
        return None
    return HttpResponseRedirect(reverse(url, args=[chosen[0].pk]))


class InvoiceCreditNotesMixin(admin.ModelAdmin):
    """The invoice admin's credit notes: the "issue a credit note" form and action, the invoice's credit notes."""

    def has_credit_note_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.add_creditnote")

    def credit_note_issue_url(self, request: HttpRequest, invoice: Invoice) -> str:
        """The form's address when this user may credit this invoice, else ""."""
        creditable = invoice.status in CREDITABLE_STATUSES and invoice.amount_credited < invoice.total
        if not creditable or not self.has_credit_note_permission(request):
            return ""
        return reverse("admin:billing_invoice_credit_note", args=[invoice.pk])

    @admin.action(description=_("Issue a credit note"), permissions=["credit_note"])
    def issue_credit_note(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> Any:
        return _one_selected(self, request, queryset, "admin:billing_invoice_credit_note")

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:invoice_id>/credit-note/", wrap(self.credit_note_issue_view), name="billing_invoice_credit_note"
            ),
            *super().get_urls(),
        ]

    def credit_note_issue_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        if not self.has_credit_note_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=invoice_id)

        def issue(data: dict[str, Any]) -> str:
            amount = data.get("amount")
            note = credit_note_issue(
                invoice=invoice,
                reason=data["reason"],
                actor=request.user,
                amount=None if amount is None else _minor_units(amount, invoice.currency),
                memo=data.get("memo", ""),
                settlement=data["settlement"],
                bank_reference=data.get("bank_reference", ""),
            )
            return gettext(
                "Credit note %(number)s issued for %(total)s: %(pre_payment)s off the amount due, %(refund)s "
                "refunded, %(balance)s to the credit balance."
            ) % {
                "number": note.number,
                "total": money(note.total, note.currency),
                "pre_payment": money(note.pre_payment_amount, note.currency),
                "refund": money(note.refund_amount, note.currency),
                "balance": money(note.balance_amount, note.currency),
            }

        intro = gettext(
            "Invoice %(invoice)s: total %(total)s, credited so far %(credited)s, still due %(remaining)s. What the "
            "invoice still asks is lowered first; the rest is refunded or goes to the credit balance."
        ) % {
            "invoice": invoice,
            "total": money(invoice.total, invoice.currency),
            "credited": money(invoice.amount_credited, invoice.currency),
            "remaining": money(invoice.amount_remaining, invoice.currency),
        }
        return form_page(
            self,
            request,
            obj=invoice,
            form_class=CreditNoteIssueForm,
            title=gettext("Issue a credit note for invoice %(invoice)s") % {"invoice": invoice},
            intro=intro,
            submit=gettext("Issue a credit note"),
            operation=issue,
        )

    @admin.display(description=_("credit notes"))
    def invoice_credit_notes(self, invoice: Invoice) -> str:
        return credit_notes_table(invoice.credit_notes.all())

    credited_display = money_column("amount_credited", _("amount credited"), ordering="amount_credited")
    refunded_display = money_column("amount_refunded", _("amount refunded"), ordering="amount_refunded")


class CustomerBalanceMixin(admin.ModelAdmin):
    """The customer admin's credit: the balance ledger, the customer's credit notes, the "adjust balance" form."""

    actions = ["adjust_balance"]

    def has_adjust_balance_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.add_customerbalanceentry")

    def balance_adjust_url(self, request: HttpRequest, customer_id: Any) -> str:
        if not str(customer_id).isdigit() or not self.has_adjust_balance_permission(request):
            return ""
        return reverse("admin:billing_customer_adjust_balance", args=[customer_id])

    @admin.action(description=_("Adjust balance"), permissions=["adjust_balance"])
    def adjust_balance(self, request: HttpRequest, queryset: QuerySet[Customer]) -> Any:
        return _one_selected(self, request, queryset, "admin:billing_customer_adjust_balance")

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:customer_id>/adjust-balance/",
                wrap(self.balance_adjust_view),
                name="billing_customer_adjust_balance",
            ),
            *super().get_urls(),
        ]

    def balance_adjust_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        if not self.has_adjust_balance_permission(request):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=customer_id)

        def adjust(data: dict[str, Any]) -> str:
            entry = balance_adjust(
                customer=customer,
                amount=_minor_units(data["amount"], customer.currency),
                reason=data["reason"],
                actor=request.user,
            )
            return gettext("%(customer)s: balance adjusted by %(amount)s; it is now %(balance)s.") % {
                "customer": customer,
                "amount": money(entry.amount, entry.currency),
                "balance": money(entry.balance_after, entry.currency),
            }

        return form_page(
            self,
            request,
            obj=customer,
            form_class=BalanceAdjustForm,
            title=gettext("Adjust the credit balance of %(customer)s") % {"customer": customer},
            intro=gettext("Credit balance now: %(balance)s. Every change is a ledger entry with its reason.")
            % {"balance": money(customer.credit_balance, customer.currency)},
            submit=gettext("Adjust balance"),
            operation=adjust,
        )

    @admin.display(description=_("balance entries"))
    def balance_entries(self, customer: Customer) -> str:
        """The ledger behind the credit balance, newest first: each change, why, and the balance after it."""
        entries = customer.balance_entries.select_related("invoice", "credit_note", "created_by")
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    seoul(entry.created_at),
                    entry.get_kind_display(),
                    money(entry.amount, entry.currency),
                    money(entry.balance_after, entry.currency),
                    entry.reason or EMPTY,
                    document_link("creditnote", entry.credit_note) or document_link("invoice", entry.invoice) or EMPTY,
                    entry.created_by or EMPTY,
                )
                for entry in entries[:RECENT]
            ),
        )
        if not rows:
            return EMPTY
        headers = (
            gettext("created at"),
            gettext("kind"),
            gettext("amount"),
            gettext("balance after"),
            gettext("reason"),
            gettext("document"),
            gettext("created by"),
        )
        url = f"{reverse('admin:billing_customerbalanceentry_changelist')}?customer__id__exact={customer.pk}"
        see_all = format_html(
            '<p><a href="{}">{}</a></p>', url, gettext("See all (%(count)s)") % {"count": entries.count()}
        )
        return table_html(headers, rows) + see_all

    @admin.display(description=_("credit notes"))
    def customer_credit_notes(self, customer: Customer) -> str:
        return credit_notes_table(customer.credit_notes.all())
