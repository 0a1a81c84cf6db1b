"""The lifecycle of a subscription in the admin: resume, pause (until a date or until resumed), drop the change
pending for the period end, change the seats; the pauses of a subscription and its pending change, shown; pauses
and trial claims, read-only. Each operation is the same service the API calls, with the staff user as actor."""

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Subscription
from billing.models.subscriptions import DunningAction, DunningStep, SubscriptionPause, SubscriptionStatus, TrialClaim
from billing.periods import billing_date
from billing.services.dunning import invoices_to_dun
from billing.services.subscriptions.changes import pending_change_drop, subscription_quantity_change
from billing.services.subscriptions.common import MAX_SEATS
from billing.services.subscriptions.lifecycle import subscription_resume
from billing.services.subscriptions.pause import subscription_pause
from billing_site.errors import ApplicationError

from .common import EMPTY, DateRangeFilter, NoAddOrChangeMixin, ReadOnlyMixin, money
from .dashboard import Series, bar_chart


def can_resume(subscription: Subscription) -> bool:
    return subscription.status == SubscriptionStatus.PAUSED or (
        subscription.is_live and subscription.cancel_at_period_end
    )


def can_pause(subscription: Subscription) -> bool:
    return subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end


def can_change_seats(subscription: Subscription) -> bool:
    return subscription.plan.per_seat and subscription.status in (
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
    )


def pending_change_text(subscription: Subscription) -> str:
    """ "스타터 (monthly) × 2 from 2025-03-01", or the empty mark."""
    if not subscription.has_pending_change or subscription.pending_plan is None:
        return EMPTY
    return gettext("%(plan)s (%(period)s) × %(quantity)s from %(day)s") % {
        "plan": subscription.pending_plan,
        "period": subscription.get_pending_billing_period_display(),
        "quantity": subscription.pending_quantity,
        "day": subscription.current_period_end,
    }


def open_pause_text(subscription: Subscription) -> str:
    """ "From 2025-03-01 until 2025-04-01" (or "until resumed") for a paused subscription, else the empty mark."""
    if subscription.status != SubscriptionStatus.PAUSED:
        return EMPTY
    pause = subscription.pauses.filter(resumed_on__isnull=True).order_by("-paused_on", "-id").first()
    if pause is None:
        return EMPTY
    if pause.resume_on is None:
        return gettext("From %(start)s until resumed") % {"start": pause.paused_on}
    return gettext("From %(start)s until %(end)s") % {"start": pause.paused_on, "end": pause.resume_on}


class PendingChangeFilter(admin.SimpleListFilter):
    title = _("pending change")
    parameter_name = "pending_change"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(pending_plan__isnull=False)
        if self.value() == "no":
            return queryset.filter(pending_plan__isnull=True)
        return queryset


class SubscriptionRecordMixin:
    """Part of a subscription's record: whoever may view subscriptions views it (the staff groups of migrations
    0004 and 0007 predate these models and hold no permission of their own on them)."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("billing.view_subscription")


class SubscriptionPauseInline(SubscriptionRecordMixin, NoAddOrChangeMixin, admin.TabularInline):
    model = SubscriptionPause
    extra = 0
    can_delete = False
    fields = ("paused_on", "resume_on", "resumed_on", "days_carried")
    readonly_fields = fields
    ordering = ["-paused_on", "-id"]


@admin.register(SubscriptionPause)
class SubscriptionPauseAdmin(SubscriptionRecordMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Every pause, written only by the pause and resume services."""

    list_display = ["subscription", "paused_on", "resume_on", "resumed_on", "days_carried"]
    list_filter = [("paused_on", DateRangeFilter), ("resumed_on", admin.EmptyFieldListFilter)]
    search_fields = ["subscription__customer__display_name", "subscription__customer__email"]
    list_select_related = ["subscription__plan"]
    ordering = ["-paused_on", "-id"]


@admin.register(TrialClaim)
class TrialClaimAdmin(SubscriptionRecordMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Who had their free trial (one per customer and per 사업자등록번호), written with the trial."""

    list_display = ["customer", "business_registration_number", "subscription", "created_at"]
    search_fields = ["customer__display_name", "customer__email", "=business_registration_number"]
    list_select_related = ["customer", "subscription__plan"]
    ordering = ["-created_at", "-id"]


DUNNING_CHART_WEEKS = 8
DUNNING_COLORS = {
    DunningAction.REMINDER: "#e6a23c",
    DunningAction.CANCEL: "#ba2121",
    DunningAction.UNCOLLECTIBLE: "#666666",
}


def dunning_chart(*, weeks: int = DUNNING_CHART_WEEKS, today: date | None = None) -> SafeString:
    """Dunning steps per week (Monday to Sunday, Asia/Seoul) of the last `weeks` weeks, one bar per action."""
    day = today or billing_date(timezone.now())
    last_monday = day - timedelta(days=day.weekday())
    mondays = [last_monday - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for done_on, action in DunningStep.objects.filter(done_on__gte=mondays[0]).values_list("done_on", "action"):
        counts[(done_on - timedelta(days=done_on.weekday()), action)] += 1
    return bar_chart(
        title=gettext("Dunning steps per week"),
        labels=[monday.strftime("%m-%d") for monday in mondays],
        series=[
            Series(str(DunningAction(action).label), [counts[(monday, action)] for monday in mondays], color)
            for action, color in DUNNING_COLORS.items()
        ],
    )


@admin.register(DunningStep)
class DunningStepAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every dunning step taken (one per invoice and step), written only by the dunning run; part of an invoice's
    record, so whoever may view invoices views them."""

    list_display = ["invoice", "subscription", "step", "days_after_due", "action", "provider_retry", "done_on"]
    list_filter = ["action", "provider_retry", ("done_on", DateRangeFilter)]
    search_fields = ["=invoice__number", "invoice__customer__display_name", "invoice__customer__email"]
    list_select_related = ["invoice", "subscription__plan"]
    ordering = ["-done_on", "-id"]
    change_list_template = "admin/billing/dunningstep/change_list.html"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("billing.view_invoice")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {
            "dunning_chart": dunning_chart(),
            "dunning_open": invoices_to_dun(as_of=billing_date(timezone.now())).count(),
        }
        return super().changelist_view(request, extra_context={**(extra_context or {}), **context})


class PauseForm(forms.Form):
    resume_on = forms.DateField(
        label=_("resume on"),
        required=False,
        help_text=_("Empty: paused until someone resumes it."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(label=_("seats"), min_value=1, max_value=MAX_SEATS)


class SubscriptionLifecycleAdminMixin:
    """Operations and pages of SubscriptionAdmin (which supplies has_act_permission, message_user, _run)."""

    # --- operations (each one service call; a refusal is the service's message) ---------------------------

    def _resume(self, request: HttpRequest, subscription: Subscription) -> str:
        result = subscription_resume(subscription=subscription, actor=request.user)
        return gettext("Subscription %(id)s: resumed, now %(status)s.") % {
            "id": result.pk,
            "status": result.get_status_display(),
        }

    def _pause(self, request: HttpRequest, subscription: Subscription) -> str:
        result = subscription_pause(subscription=subscription, resume_on=None, actor=request.user)
        return gettext("Subscription %(id)s: paused until resumed.") % {"id": result.pk}

    def _drop_pending_change(self, request: HttpRequest, subscription: Subscription) -> str:
        if not subscription.has_pending_change:
            raise ApplicationError("nothing_pending", gettext("No change is pending."))
        result = pending_change_drop(subscription=subscription, actor=request.user)
        return gettext("Subscription %(id)s: the pending change is dropped.") % {"id": result.pk}

    @admin.action(description=_("Resume selected subscriptions"), permissions=["act"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "resume", queryset.order_by("pk"))  # type: ignore[attr-defined]

    @admin.action(description=_("Pause selected subscriptions until resumed"), permissions=["act"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "pause", queryset.order_by("pk"))  # type: ignore[attr-defined]

    @admin.action(description=_("Drop the pending change of selected subscriptions"), permissions=["act"])
    def drop_pending_change_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, "drop_pending_change", queryset.order_by("pk"))  # type: ignore[attr-defined]

    # --- pages with a form: pause until a date, seats -----------------------------------------------------

    def lifecycle_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("<int:subscription_id>/pause/", wrap(self.pause_view), name="billing_subscription_pause"),
            path("<int:subscription_id>/seats/", wrap(self.seats_view), name="billing_subscription_seats"),
        ]

    def lifecycle_links(self, subscription: Subscription) -> list[dict[str, str]]:
        links = []
        if can_pause(subscription):
            url = reverse("admin:billing_subscription_pause", args=[subscription.pk])
            links.append({"name": "pause", "label": gettext("Pause"), "url": url})
        if can_change_seats(subscription):
            url = reverse("admin:billing_subscription_seats", args=[subscription.pk])
            links.append({"name": "seats", "label": gettext("Change seats"), "url": url})
        return links

    def pause_view(self, request: HttpRequest, subscription_id: int) -> HttpResponse:
        def pause(subscription: Subscription, data: dict[str, Any]) -> str:
            result = subscription_pause(subscription=subscription, resume_on=data["resume_on"], actor=request.user)
            if data["resume_on"] is None:
                return gettext("Subscription %(id)s: paused until resumed.") % {"id": result.pk}
            return gettext("Subscription %(id)s: paused until %(day)s.") % {"id": result.pk, "day": data["resume_on"]}

        return self._form_page(
            request,
            subscription_id,
            form_class=PauseForm,
            title=gettext("Pause subscription %(id)s"),
            intro=gettext(
                "From today: no service and no invoice until it resumes. The paid days left come first at the resume."
            ),
            submit=gettext("Pause"),
            operation=pause,
        )

    def seats_view(self, request: HttpRequest, subscription_id: int) -> HttpResponse:
        def seats(subscription: Subscription, data: dict[str, Any]) -> str:
            started = subscription_quantity_change(
                subscription=subscription, quantity=data["quantity"], actor=request.user
            )
            result = started.subscription
            if started.scheduled:
                return gettext("Subscription %(id)s: %(quantity)s seats from %(day)s.") % {
                    "id": result.pk,
                    "quantity": result.pending_quantity,
                    "day": result.current_period_end,
                }
            text = gettext("Subscription %(id)s: %(quantity)s seats, %(price)s a period.") % {
                "id": result.pk,
                "quantity": result.quantity,
                "price": money(result.price_amount, result.currency),
            }
            if started.invoice is not None:
                text += " " + gettext("Invoice %(invoice)s for the added seats.") % {"invoice": started.invoice}
            return text

        return self._form_page(
            request,
            subscription_id,
            form_class=QuantityForm,
            title=gettext("Change the seats of subscription %(id)s"),
            intro=gettext(
                "More seats: now, with an invoice for the rest of the period. Fewer: at the end of the period."
            ),
            submit=gettext("Change seats"),
            operation=seats,
            initial=lambda subscription: {"quantity": subscription.quantity},
        )

    def _form_page(
        self,
        request: HttpRequest,
        subscription_id: int,
        *,
        form_class: type[forms.Form],
        title: str,
        intro: str,
        submit: str,
        operation: Any,
        initial: Any = None,
    ) -> HttpResponse:
        if not self.has_act_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        subscription = get_object_or_404(Subscription.objects.select_related("customer", "plan"), pk=subscription_id)
        back = reverse("admin:billing_subscription_change", args=[subscription.pk])
        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                try:
                    done = operation(subscription, form.cleaned_data)
                except ApplicationError as error:
                    message = gettext("%(object)s: refused: %(reason)s") % {
                        "object": subscription,
                        "reason": error.message,
                    }
                    self.message_user(request, message, messages.ERROR)  # type: ignore[attr-defined]
                else:
                    self.message_user(request, done, messages.SUCCESS)  # type: ignore[attr-defined]
                return HttpResponseRedirect(back)
        else:
            form = form_class(initial=initial(subscription) if initial else None)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title % {"id": subscription.pk},
            "opts": self.opts,  # type: ignore[attr-defined]
            "original": subscription,
            "form": form,
            "back": back,
            "intro": intro,
            "submit": submit,
        }
        return TemplateResponse(request, "admin/billing/subscription/lifecycle_form.html", context)
