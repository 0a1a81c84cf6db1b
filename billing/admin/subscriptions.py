"""Subscriptions in the admin: read-only records, changed only by the subscription services (change plan, cancel
now or at period end, run the renewal of this subscription; resume, pause, seats and the pending change are in
subscription_lifecycle)."""

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import SubscribeAttempt, Subscription, SubscriptionInvoice, SubscriptionPlan
from billing.models.subscriptions import RENEWING_STATUSES, SubscriptionStatus, subscription_transition_allowed
from billing.periods import BillingPeriod, billing_date
from billing.services.subscriptions import subscription_cancel, subscription_change_plan, subscription_renew
from billing_site.errors import ApplicationError

from .common import (
    EMPTY,
    AuditTrailMixin,
    DateRangeFilter,
    NoAddOrChangeMixin,
    ReadOnlyMixin,
    money,
    money_column,
    report_each,
    seoul_column,
)
from .stripe import SUBSCRIPTION_SYNC, stripe_function, subscription_sync
from .subscription_lifecycle import (
    PendingChangeFilter,
    SubscriptionLifecycleAdminMixin,
    SubscriptionPauseInline,
    can_resume,
    open_pause_text,
    pending_change_text,
)


def _can_cancel(subscription: Subscription) -> bool:
    return subscription_transition_allowed(subscription.status, SubscriptionStatus.CANCELED)


# Buttons of a subscription's page: name -> (label, whether this subscription allows it, confirmation question
# or ""). Cancellation asks the state machine (SUBSCRIPTION_TRANSITIONS); a renewal applies to a live subscription
# (an incomplete one expires). The services check again under the row lock.
OBJECT_ACTIONS: dict[str, tuple[str | Promise, Callable[[Subscription], bool], str | Promise]] = {
    "cancel_at_period_end": (_("Cancel at period end"), _can_cancel, ""),
    "cancel_now": (_("Cancel now"), _can_cancel, _("End this subscription now, without credit?")),
    "renew": (_("Run renewal"), lambda subscription: subscription.is_live, ""),
    "resume": (_("Resume"), can_resume, ""),
    "drop_pending_change": (
        _("Drop pending change"),
        lambda subscription: subscription.has_pending_change,
        _("Keep this subscription as it is after its period?"),
    ),
    "stripe_sync": (_("Sync with Stripe"), lambda subscription: True, ""),
}


class SubscriptionInvoiceInline(NoAddOrChangeMixin, admin.TabularInline):
    model = SubscriptionInvoice
    extra = 0
    can_delete = False
    fields = ("invoice_link", "reason", "period_start", "period_end", "invoice_status", "invoice_total")
    readonly_fields = fields
    ordering = ["-period_start"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriptionInvoice]:
        return super().get_queryset(request).select_related("invoice")

    @admin.display(description=_("invoice"))
    def invoice_link(self, link: SubscriptionInvoice) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:billing_invoice_change", args=[link.invoice_id]), link.invoice
        )

    @admin.display(description=_("status"))
    def invoice_status(self, link: SubscriptionInvoice) -> str:
        return link.invoice.get_status_display()

    invoice_total = money_column("invoice.total", _("total"), currency="invoice.currency")


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(label=_("plan"), queryset=SubscriptionPlan.objects.none())
    billing_period = forms.ChoiceField(label=_("billing period"), choices=BillingPeriod.choices)
    when = forms.ChoiceField(
        label=_("when"),
        choices=[("now", _("Now (credited pro rata)")), ("period_end", _("At the end of the period"))],
        initial="now",
        required=False,  # absent: now, as this form always did
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = cast(forms.ModelChoiceField, self.fields["plan"])
        plan.queryset = SubscriptionPlan.objects.filter(is_active=True).order_by("display_order", "id")


@admin.register(Subscription)
class SubscriptionAdmin(SubscriptionLifecycleAdminMixin, AuditTrailMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "plan",
        "billing_period",
        "status",
        "quantity",
        "price",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "pending_change",
        "created",
    ]
    list_filter = [
        "status",
        PendingChangeFilter,
        "plan",
        "billing_period",
        "currency",
        "cancel_at_period_end",
        "cancellation_reason",
        ("current_period_end", DateRangeFilter),
        ("created_at", DateRangeFilter),
    ]
    search_fields = [
        "customer__display_name",
        "customer__email",
        "=customer__business_registration_number",
        "stripe_subscription_id",
    ]
    search_help_text = _("Customer name, email, business registration number or Stripe id.")
    list_select_related = ["customer", "plan", "pending_plan"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    inlines = [SubscriptionInvoiceInline, SubscriptionPauseInline]
    actions = [
        "cancel_at_period_end_selected",
        "cancel_now_selected",
        "renew_selected",
        "resume_selected",
        "pause_selected",
        "drop_pending_change_selected",
    ]
    fields = (
        "customer",
        "plan",
        "billing_period",
        "status",
        "price",
        "currency",
        "billing_cycle_anchor",
        "current_period_start",
        "current_period_end",
        "next_billing",
        "quantity",
        "trial_start",
        "trial_end",
        "pending_change",
        "open_pause",
        "cancel_at_period_end",
        "canceled",
        "ended",
        "cancellation_reason",
        "replaces",
        "stripe_subscription_id",
        "created",
        "audit_trail",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers subscribe through the API; staff move them with "change plan"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)  # the page itself is read-only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_subscription")

    price = money_column("price_amount", _("price amount"), ordering="price_amount")

    @admin.display(description=_("next billing date"))
    def next_billing(self, subscription: Subscription) -> str:
        return str(subscription.next_billing_date or EMPTY)

    @admin.display(description=_("pending change"))
    def pending_change(self, subscription: Subscription) -> str:
        return pending_change_text(subscription)

    @admin.display(description=_("pause"))
    def open_pause(self, subscription: Subscription) -> str:
        return open_pause_text(subscription)

    canceled = seoul_column("canceled_at", _("canceled at"))
    ended = seoul_column("ended_at", _("ended at"))
    created = seoul_column("created_at", _("created at"), ordering="created_at")

    # --- operations (each one service call) -------------------------------------------------------

    def _cancel_at_period_end(self, request: HttpRequest, subscription: Subscription) -> str:
        if subscription.status in RENEWING_STATUSES and subscription.cancel_at_period_end:
            raise ApplicationError("already_canceling", gettext("It already ends at the end of its period."))
        result = subscription_cancel(subscription=subscription, immediately=False, actor=request.user)
        if result.status == SubscriptionStatus.CANCELED:
            return gettext("Subscription %(id)s: ended now (it was never paid for).") % {"id": result.pk}
        return gettext("Subscription %(id)s: ends on %(day)s.") % {"id": result.pk, "day": result.current_period_end}

    def _cancel_now(self, request: HttpRequest, subscription: Subscription) -> str:
        if subscription.status == SubscriptionStatus.CANCELED:
            raise ApplicationError("already_canceled", gettext("It is already canceled."))
        result = subscription_cancel(subscription=subscription, immediately=True, actor=request.user)
        return gettext("Subscription %(id)s: canceled now.") % {"id": result.pk}

    def _renew(self, request: HttpRequest, subscription: Subscription) -> str:
        outcome = subscription_renew(subscription=subscription, as_of=billing_date(timezone.now()), actor=request.user)
        numbers = ", ".join(str(invoice) for invoice in outcome.invoices)
        return gettext("Subscription %(id)s: %(actions)s%(invoices)s; now %(status)s.") % {
            "id": subscription.pk,
            "actions": ", ".join(outcome.actions),
            "invoices": f" ({numbers})" if numbers else "",
            "status": outcome.subscription.get_status_display(),
        }

    def _stripe_sync(self, request: HttpRequest, subscription: Subscription) -> str:
        return subscription_sync(subscription, actor=request.user)

    def _run(self, request: HttpRequest, name: str, subscriptions: Any) -> None:
        operation = getattr(self, f"_{name}")
        report_each(request, self, subscriptions, operation=lambda item: operation(request, item), success="{object}")

    @admin.action(description=_("Cancel selected subscriptions at period end"), permissions=["act"])
    def cancel_at_period_end_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "cancel_at_period_end", queryset.order_by("pk"))

    @admin.action(description=_("Cancel selected subscriptions now"), permissions=["act"])
    def cancel_now_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "cancel_now", queryset.order_by("pk"))

    @admin.action(description=_("Run the renewal of selected subscriptions"), permissions=["act"])
    def renew_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "renew", queryset.order_by("pk"))

    # --- the subscription page --------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:subscription_id>/change-plan/",
                wrap(self.change_plan_view),
                name="billing_subscription_change_plan",
            ),
            path(
                "<int:subscription_id>/do/<str:action>/",
                wrap(self.object_action_view),
                name="billing_subscription_object_action",
            ),
            *self.lifecycle_urls(),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        subscription = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if subscription is not None and self.has_act_permission(request):
            buttons = []
            for name, (label, allowed, confirm) in OBJECT_ACTIONS.items():
                if not allowed(subscription):
                    continue
                if name == "stripe_sync" and stripe_function(SUBSCRIPTION_SYNC) is None:
                    continue
                url = reverse("admin:billing_subscription_object_action", args=[subscription.pk, name])
                buttons.append({"name": name, "label": label, "url": url, "confirm": str(confirm) if confirm else ""})
            extra["billing_object_actions"] = buttons
            extra["billing_object_links"] = self.lifecycle_links(subscription)
            if subscription.is_live:
                extra["billing_change_plan_url"] = reverse(
                    "admin:billing_subscription_change_plan", args=[subscription.pk]
                )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def object_action_view(self, request: HttpRequest, subscription_id: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if action not in OBJECT_ACTIONS:
            return HttpResponse(status=404)
        if not self.has_act_permission(request):
            raise PermissionDenied
        subscription = get_object_or_404(Subscription, pk=subscription_id)
        self._run(request, action, [subscription])
        return HttpResponseRedirect(reverse("admin:billing_subscription_change", args=[subscription.pk]))

    def change_plan_view(self, request: HttpRequest, subscription_id: int) -> HttpResponse:
        """Move the customer to another plan or period: the old subscription ends now, credited pro rata."""
        if not self.has_act_permission(request):
            raise PermissionDenied
        subscription = get_object_or_404(Subscription.objects.select_related("customer", "plan"), pk=subscription_id)
        back = reverse("admin:billing_subscription_change", args=[subscription.pk])
        if request.method == "POST":
            form = ChangePlanForm(request.POST)
            if form.is_valid():
                try:
                    start = subscription_change_plan(
                        subscription=subscription,
                        plan=form.cleaned_data["plan"],
                        billing_period=form.cleaned_data["billing_period"],
                        actor=request.user,
                        when=form.cleaned_data["when"] or "now",
                    )
                except ApplicationError as error:
                    self.message_user(
                        request,
                        gettext("%(object)s: refused: %(reason)s") % {"object": subscription, "reason": error.message},
                        "error",
                    )
                    return HttpResponseRedirect(back)
                if start.subscription.pk == subscription.pk:  # scheduled, or a trial changed in place
                    self.message_user(
                        request,
                        gettext("Subscription %(id)s: now %(plan)s; pending change: %(change)s.")
                        % {
                            "id": start.subscription.pk,
                            "plan": start.subscription.plan,
                            "change": pending_change_text(start.subscription),
                        },
                        "success",
                    )
                    return HttpResponseRedirect(back)
                self.message_user(
                    request,
                    gettext("Moved to %(plan)s: new subscription %(id)s, invoice %(invoice)s, credit %(credit)s.")
                    % {
                        "plan": start.subscription.plan,
                        "id": start.subscription.pk,
                        "invoice": start.invoice,
                        "credit": money(start.credit, start.subscription.currency),
                    },
                    "success",
                )
                return HttpResponseRedirect(reverse("admin:billing_subscription_change", args=[start.subscription.pk]))
        else:
            form = ChangePlanForm(initial={"plan": subscription.plan_id, "billing_period": subscription.billing_period})
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Change the plan of subscription %(id)s") % {"id": subscription.pk},
            "opts": self.opts,
            "original": subscription,
            "form": form,
            "back": back,
        }
        return TemplateResponse(request, "admin/billing/subscription/change_plan.html", context)


@admin.register(SubscriptionInvoice)
class SubscriptionInvoiceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["subscription", "invoice", "reason", "period_start", "period_end"]
    list_filter = ["reason", ("period_start", DateRangeFilter)]
    search_fields = ["invoice__number", "subscription__customer__display_name", "subscription__customer__email"]
    list_select_related = ["subscription__plan", "invoice"]
    ordering = ["-period_start", "-id"]


@admin.register(SubscribeAttempt)
class SubscribeAttemptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Card subscribes from before the charge to their outcome: a `started` one older than a request, or one still
    `compensating`, is what the reconcile works on (docs/operations.md). Superusers only unless granted."""

    list_display = ["id", "customer", "plan", "billing_period", "status", "total", "currency", "started_at", "error"]
    list_filter = ["status", ("started_at", DateRangeFilter)]
    search_fields = ["=provider_subscription_id", "=provider_payment_id", "customer__email"]
    list_select_related = ["customer", "plan"]
    ordering = ["-started_at", "-id"]
