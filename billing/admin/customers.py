"""Customers in the admin: profile (edited through customer_update), subscriptions, invoices, payments, files,
credit balance, and the same payment history the customer sees in the API."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Customer, Subscription
from billing.models.subscriptions import DunningStep
from billing.money import MINOR_DIGITS
from billing.selectors.customers import customer_currency_fixed
from billing.selectors.history import payment_history
from billing.services.customers import (
    customer_currency_set,
    customer_profile_clean,
    customer_tax_basis_clean,
    customer_tax_basis_set,
    customer_tax_invoice_problem,
    customer_tax_treatment_set,
    customer_update,
)
from billing_site.errors import ApplicationError
from billing_site.mail.admin import emails_table_html
from storage.models import StoredFile

from .common import (
    EMPTY,
    AuditTrailMixin,
    DateRangeFilter,
    NoAddOrChangeMixin,
    money,
    money_column,
    seoul,
    seoul_column,
)
from .credit_actions import CustomerBalanceMixin

PROFILE_FIELDS = ("display_name", "email", "business_registration_number", "address", "preferred_language")
CONTACT_FIELDS = ("cc_emails", "representative_name", "business_type", "business_item")
EDITABLE_FIELDS = (*PROFILE_FIELDS, *CONTACT_FIELDS)
RECENT = 20
HISTORY_PAGE_SIZE = 50


class SubscriptionInline(NoAddOrChangeMixin, admin.TabularInline):
    model = Subscription
    fk_name = "customer"
    extra = 0
    can_delete = False
    fields = (
        "subscription_link",
        "plan",
        "billing_period",
        "status",
        "price",
        "period",
        "cancel_at_period_end",
        "ended_at",
    )
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        return super().get_queryset(request).select_related("plan")

    @admin.display(description=_("subscription"))
    def subscription_link(self, subscription: Subscription) -> str:
        url = reverse("admin:billing_subscription_change", args=[subscription.pk])
        return format_html('<a href="{}">#{}</a>', url, subscription.pk)

    price = money_column("price_amount", _("price amount"))

    @admin.display(description=_("current period"))
    def period(self, subscription: Subscription) -> str:
        return f"{subscription.current_period_start} ~ {subscription.current_period.last_day}"


def _currency_fixed(customer: Customer) -> bool:
    """customer_currency_fixed, asked once per page (the admin asks for the read-only fields several times)."""
    cached: bool | None = getattr(customer, "_currency_fixed", None)
    if cached is None:
        cached = customer_currency_fixed(customer=customer)
        customer._currency_fixed = cached  # type: ignore[attr-defined]
    return cached


class CcEmailsField(forms.CharField):
    """The CC addresses as one address per line; stored as the list customer_update checks."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != self.to_python(data)


class CustomerAdminForm(forms.ModelForm):
    """The profile form; a POST that leaves the tax treatment out keeps it (it is set on purpose, never by accident).

    The changed profile fields are checked by the service's own rules, so a refusal shows on the form."""

    cc_emails = CcEmailsField(
        required=False,
        label=_("CC emails"),
        help_text=_("Up to three more addresses copied on billing emails, one per line."),
    )

    class Meta:
        model = Customer
        fields = [*EDITABLE_FIELDS, "tax_treatment", "tax_basis", "currency"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "tax_treatment" in self.fields:
            self.fields["tax_treatment"].required = False
        if "currency" in self.fields:  # only while it is not fixed (CustomerAdmin.get_readonly_fields)
            self.fields["currency"] = forms.ChoiceField(
                choices=[(code, code) for code in sorted(MINOR_DIGITS)],
                required=False,
                label=_("currency"),
                help_text=_("What the customer is billed in; fixed by its first subscription, invoice or credit."),
            )

    def clean_currency(self) -> str:
        # A POST without the field keeps the currency; one fixed meanwhile is refused here, not by a 409 later.
        value = self.cleaned_data.get("currency") or self.instance.currency
        if value != self.instance.currency and self.instance.pk and customer_currency_fixed(customer=self.instance):
            raise forms.ValidationError(gettext("The currency is fixed: the customer has been billed in it."))
        return value

    def clean_tax_treatment(self) -> str:
        return self.cleaned_data.get("tax_treatment") or self.instance.tax_treatment

    def clean_tax_basis(self) -> str:
        # Like the treatment: a POST without the field keeps the basis; an empty field clears it.
        if self.add_prefix("tax_basis") not in self.data:
            return self.instance.tax_basis
        value = self.cleaned_data.get("tax_basis") or ""
        try:
            return customer_tax_basis_clean(value)
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from error

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        values = {name: cleaned[name] for name in self.changed_data if name in EDITABLE_FIELDS and name in cleaned}
        if not values or self.instance.pk is None:
            return cleaned
        try:
            cleaned.update(customer_profile_clean(customer=self.instance, values=values))
        except ApplicationError as error:
            for name, messages in error.fields.items():
                self.add_error(name if name in self.fields else None, messages)
        return cleaned


@admin.register(Customer)
class CustomerAdmin(AuditTrailMixin, CustomerBalanceMixin):
    form = CustomerAdminForm
    list_display = ["display_name", "email", "business_number", "preferred_language", "credit", "user", "created"]
    list_filter = ["preferred_language", "tax_treatment", "currency", ("created_at", DateRangeFilter)]
    search_fields = ["display_name", "email", "=business_registration_number", "user__username", "user__email"]
    search_help_text = _("Name, email, business registration number (ten digits) or username.")
    list_select_related = ["user"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    inlines = [SubscriptionInline]
    fieldsets = [
        (None, {"fields": ["user", *PROFILE_FIELDS]}),
        (_("Billing contacts"), {"fields": list(CONTACT_FIELDS)}),
        (_("Tax"), {"fields": ["tax_treatment", "tax_basis", "tax_invoice"]}),
        (_("Credit"), {"fields": ["currency", "credit", "balance_entries"]}),
        (_("Credit notes"), {"fields": ["customer_credit_notes"]}),
        (_("Invoices"), {"fields": ["recent_invoices"]}),
        (_("Payments"), {"fields": ["recent_payments"]}),
        (_("Files"), {"fields": ["recent_files"]}),
        (_("Emails"), {"fields": ["recent_emails"]}),
        (_("Dunning"), {"fields": ["dunning_steps"]}),
        (_("audit trail"), {"fields": ["audit_trail", "created"]}),
    ]
    readonly_fields = [
        "user",
        "tax_invoice",
        "currency",
        "credit",
        "balance_entries",
        "customer_credit_notes",
        "recent_invoices",
        "recent_payments",
        "recent_files",
        "recent_emails",
        "dunning_steps",
        "audit_trail",
        "created",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        hidden = [
            fields
            for fields, permission in (
                (["recent_emails"], "mail.view_email"),
                (["dunning_steps"], "billing.view_invoice"),
            )
            if not request.user.has_perm(permission)
        ]
        return [(name, options) for name, options in fieldsets if options["fields"] not in hidden]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The currency is chosen by staff only while it is not fixed (customer_currency_fixed)."""
        fields = list(super().get_readonly_fields(request, obj))
        editable = obj is not None and self.has_change_permission(request, obj)
        if editable and not _currency_fixed(obj):
            fields.remove("currency")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a billing profile is created with the user's first billing request

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # billing records are kept (and invoices point at the customer)

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        """Through the same service as the API's profile edit (normalizes the 사업자등록번호)."""
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        if values:
            updated = customer_update(customer=obj, actor=request.user, **values)
            obj.__dict__.update({name: getattr(updated, name) for name in EDITABLE_FIELDS})
        if "tax_treatment" in form.changed_data:  # staff only: the customer API never reaches this field
            updated = customer_tax_treatment_set(
                customer=obj, tax_treatment=form.cleaned_data["tax_treatment"], actor=request.user
            )
            obj.tax_treatment = updated.tax_treatment
        if "tax_basis" in form.changed_data:
            obj.tax_basis = customer_tax_basis_set(
                customer=obj, tax_basis=form.cleaned_data["tax_basis"], actor=request.user
            ).tax_basis
        if "currency" in form.changed_data:
            obj.currency = customer_currency_set(
                customer=obj, currency=form.cleaned_data["currency"], actor=request.user
            ).currency

    # --- columns and sections ---------------------------------------------------------------------

    @admin.display(description=_("business registration number"), ordering="business_registration_number")
    def business_number(self, customer: Customer) -> str:
        return customer.business_registration_number_display or EMPTY

    @admin.display(description=_("tax invoice"))
    def tax_invoice(self, customer: Customer) -> str:
        """Whether a tax invoice (세금계산서) could be issued: a Korean business needs a valid 사업자등록번호."""
        problem = customer_tax_invoice_problem(customer=customer)
        return gettext("ready") if problem is None else problem

    credit = money_column("credit_balance", _("credit balance"), ordering="credit_balance")
    created = seoul_column("created_at", _("created at"), ordering="created_at")

    def _see_all(self, url: str, count: int) -> str:
        return format_html('<p><a href="{}">{}</a></p>', url, gettext("See all (%(count)s)") % {"count": count})

    @admin.display(description=_("emails"))
    def recent_emails(self, customer: Customer) -> str:
        """Every email sent (or waiting) for this customer, newest first, each linking to its page (resend there)."""
        return emails_table_html(user_id=customer.user_id)

    @admin.display(description=_("dunning steps"))
    def dunning_steps(self, customer: Customer) -> str:
        """What dunning did for this customer's overdue invoices, newest first (each step is done once)."""
        steps = DunningStep.objects.filter(invoice__customer=customer).select_related("invoice")
        if not steps.exists():
            return EMPTY
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:billing_invoice_change", args=[step.invoice_id]),
                    step.invoice,
                    step.step,
                    step.days_after_due,
                    step.get_action_display(),
                    gettext("yes") if step.provider_retry else EMPTY,
                    step.done_on,
                )
                for step in steps.order_by("-done_on", "-id")[:RECENT]
            ),
        )
        headers = (
            gettext("invoice"),
            gettext("step"),
            gettext("days after due"),
            gettext("action"),
            gettext("card retry"),
            gettext("done on"),
        )
        return self._table(headers, rows)

    @admin.display(description=_("invoices"))
    def recent_invoices(self, customer: Customer) -> str:
        invoices = customer.invoices.order_by("-created_at", "-id")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="num">{}</td><td class="num">{}</td>'
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:billing_invoice_change", args=[invoice.pk]),
                    invoice,
                    invoice.get_status_display(),
                    money(invoice.total, invoice.currency),
                    money(invoice.amount_remaining, invoice.currency),
                    invoice.issue_date or EMPTY,
                    invoice.due_date or EMPTY,
                )
                for invoice in invoices[:RECENT]
            ),
        )
        headers = (
            gettext("number"),
            gettext("status"),
            gettext("total"),
            gettext("amount remaining"),
            gettext("issue date"),
            gettext("due date"),
        )
        url = f"{reverse('admin:billing_invoice_changelist')}?customer__id__exact={customer.pk}"
        return self._table(headers, rows) + self._see_all(url, invoices.count())

    @admin.display(description=_("payments"))
    def recent_payments(self, customer: Customer) -> str:
        payments = customer.payments.select_related("invoice").order_by("-created_at", "-id")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:billing_payment_change", args=[payment.pk]),
                    payment.pk,
                    payment.invoice,
                    payment.get_method_display(),
                    payment.get_status_display(),
                    money(payment.amount, payment.currency),
                    seoul(payment.received_at or payment.succeeded_at),
                )
                for payment in payments[:RECENT]
            ),
        )
        headers = (
            gettext("payment"),
            gettext("invoice"),
            gettext("method"),
            gettext("status"),
            gettext("amount"),
            gettext("received at"),
        )
        url = f"{reverse('admin:billing_payment_changelist')}?customer__id__exact={customer.pk}"
        return self._table(headers, rows) + self._see_all(url, payments.count())

    @admin.display(description=_("files"))
    def recent_files(self, customer: Customer) -> str:
        files = StoredFile.objects.filter(owner_id=customer.user_id).order_by("-created_at")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:storage_storedfile_change", args=[file.pk]),
                    file.original_name,
                    file.get_category_display(),
                    filesizeformat(file.size),
                    seoul(file.created_at),
                    gettext("deleted") if file.deleted_at else EMPTY,
                )
                for file in files[:RECENT]
            ),
        )
        headers = (
            gettext("original name"),
            gettext("category"),
            gettext("size"),
            gettext("created at"),
            gettext("deleted at"),
        )
        url = f"{reverse('admin:storage_storedfile_changelist')}?owner__id__exact={customer.user_id}"
        return self._table(headers, rows) + self._see_all(url, files.count())

    @staticmethod
    def _table(headers: tuple[str, ...], rows: str) -> str:
        head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
        return format_html(
            '<table class="billing-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows
        )

    # --- the customer's own history ---------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:customer_id>/billing-history/",
                self.admin_site.admin_view(self.billing_history_view),
                name="billing_customer_billing_history",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if str(object_id).isdigit():
            extra["billing_history_url"] = reverse("admin:billing_customer_billing_history", args=[object_id])
            extra["billing_adjust_balance_url"] = self.balance_adjust_url(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def billing_history_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        """Invoices and payments together, newest first: the selector behind GET /api/payment/history."""
        customer = get_object_or_404(Customer, pk=customer_id)
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        try:
            page_number = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page_number = 1
        offset = (page_number - 1) * HISTORY_PAGE_SIZE
        total, entries = payment_history(customer=customer, limit=HISTORY_PAGE_SIZE, offset=offset)
        rows = [
            {
                "type": gettext("invoice") if entry.type == "invoice" else gettext("payment"),
                "date": seoul(entry.date),
                "amount": money(entry.amount, entry.currency),
                "status": entry.status,
                "invoice_url": reverse("admin:billing_invoice_change", args=[entry.invoice_id]),
                "url": reverse(
                    "admin:billing_invoice_change" if entry.type == "invoice" else "admin:billing_payment_change",
                    args=[entry.id],
                ),
                "id": entry.id,
                "pdf_url": reverse("admin:billing_invoice_pdf", args=[entry.id]) if entry.pdf_ready else "",
            }
            for entry in entries
        ]
        paginator = Paginator(range(total), HISTORY_PAGE_SIZE)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("History of %(customer)s") % {"customer": customer},
            "opts": self.opts,
            "original": customer,
            "rows": rows,
            "total": total,
            "page": paginator.get_page(page_number),
        }
        return TemplateResponse(request, "admin/billing/customer/billing_history.html", context)
