"""The admin's way into the payment provider's mirror (Stripe), only while one is configured.

"Sync with Stripe" actions exist only when the configured provider (billing.providers.payment_provider) keeps a
mirror and offers the operation they need; every provider failure reaches the admin as the ApplicationError it
raises. What the provider reads back is applied by the same services its webhooks use
(billing.services.provider_sync). Also the webhook events page, with "process again"
(billing.services.webhook_events.webhook_event_retry), and the permission check dj-stripe's own admin action view lacks
(djstripe_custom_actions_guard).
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Invoice, Subscription, SubscriptionPlan
from billing.providers import payment_provider
from billing.services.provider_sync import invoice_remote_apply, subscription_remote_apply
from billing.services.webhook_events import webhook_event_retry
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_allowed, permission_require

from .common import DateRangeFilter, report_each, seoul

PLAN_SYNC = "plan_sync"
INVOICE_SYNC = "invoice_read"
SUBSCRIPTION_SYNC = "subscription_read"


def stripe_function(name: str) -> Callable[..., Any] | None:
    """The provider's named operation when the configured provider keeps a mirror (Stripe); None otherwise."""
    provider = payment_provider()
    if not provider.mirrors:
        return None
    function = getattr(provider, name, None)
    return function if callable(function) else None


def _provider() -> Any:
    if stripe_function(PLAN_SYNC) is None:
        raise ApplicationError("stripe_disabled", gettext("Stripe is not enabled."))
    return payment_provider()


def plan_sync(plan: SubscriptionPlan, *, actor: Any) -> str:
    """Push the plan to Stripe (its Product and Prices); says what changed. Needs billing.change_subscriptionplan."""
    permission_require(actor=actor, permission="billing.change_subscriptionplan")
    changes = _provider().plan_sync(plan=plan)
    summary = "; ".join(str(change) for change in changes) or gettext("already up to date")
    return gettext("%(plan)s: synced to Stripe (%(changes)s).") % {"plan": plan, "changes": summary}


def invoice_sync(invoice: Invoice, *, actor: Any) -> str:
    """Without a Stripe copy: create it (payable on Stripe's page). With one: follow Stripe's current state.

    Needs billing.change_invoice.
    """
    permission_require(actor=actor, permission="billing.change_invoice")
    provider = _provider()
    if not invoice.stripe_invoice_id:
        created = provider.invoice_mirror(invoice=invoice)
        if not created.stripe_invoice_id:
            raise ApplicationError(
                "invoice_not_payable", gettext("Only open or uncollectible invoices get a Stripe copy.")
            )
        return gettext("%(object)s: created in Stripe (%(id)s).") % {"object": invoice, "id": created.stripe_invoice_id}
    remote = provider.invoice_read(invoice=invoice)
    if remote is None:
        raise ApplicationError(
            "stripe_object_missing", gettext("Stripe has no invoice %(id)s.") % {"id": invoice.stripe_invoice_id}
        )
    with transaction.atomic():
        result = invoice_remote_apply(remote=remote)
    return f"{invoice}: {result}"


def subscription_sync(subscription: Subscription, *, actor: Any) -> str:
    """Follow Stripe's current state of the subscription. Needs billing.change_subscription."""
    permission_require(actor=actor, permission="billing.change_subscription")
    provider = _provider()
    if not subscription.stripe_subscription_id:
        raise ApplicationError("not_in_stripe", gettext("This subscription is not billed through Stripe."))
    remote = provider.subscription_read(subscription=subscription)
    if remote is None:
        raise ApplicationError(
            "stripe_object_missing",
            gettext("Stripe has no subscription %(id)s.") % {"id": subscription.stripe_subscription_id},
        )
    with transaction.atomic():
        result = subscription_remote_apply(remote=remote)
    return gettext("Subscription %(id)s: %(result)s") % {"id": subscription.pk, "result": result}


def webhook_event_admin_register() -> None:
    """The Stripe webhook events page, when the Stripe work's model exists."""
    try:
        from billing.models.stripe import StripeWebhookEvent
    except ImportError:  # pragma: no cover - the Stripe work is not merged
        return
    if StripeWebhookEvent in admin.site._registry:
        return

    class StripeWebhookEventAdmin(admin.ModelAdmin):
        list_display = [
            "stripe_event_id",
            "event_type",
            "status",
            "attempts",
            "deliveries",
            "received",
            "next_retry_at",
            "result",
        ]
        list_filter = ["status", "event_type", "livemode", ("received_at", DateRangeFilter)]
        search_fields = ["=stripe_event_id", "object_id", "event_type"]
        ordering = ["-received_at", "-id"]
        actions = ["retry_selected"]
        exclude = ["last_delivery"]

        def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
            return [field.name for field in self.model._meta.concrete_fields if field.name != "last_delivery"]

        def has_add_permission(self, request: HttpRequest) -> bool:
            return False

        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return obj is None and super().has_change_permission(request)

        def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return False

        @admin.display(description=_("received at"), ordering="received_at")
        def received(self, event: Any) -> str:
            return seoul(event.received_at)

        @admin.action(description=_("Process selected events again"), permissions=["change"])
        def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
            def retry(event: Any) -> str:
                outcome = webhook_event_retry(event=event, actor=request.user)
                if outcome.error:
                    raise ApplicationError("webhook_failed", outcome.error)
                return f"{event.stripe_event_id}: {outcome.status} {outcome.result}".strip()

            report_each(
                request, self, queryset.order_by("stripe_created_at", "id"), operation=retry, success="{object}"
            )

    admin.site.register(StripeWebhookEvent, StripeWebhookEventAdmin)


def djstripe_custom_actions_guard() -> None:
    """dj-stripe's action view needs the model's change permission, not only is_staff.

    dj-stripe adds `admin/djstripe/<model>/action/<action>/<model name>/` to each of its admins, wrapped only in
    `admin_view` (any staff user): with the right POST it syncs every object from Stripe, or cancels Stripe
    subscriptions and schedules (`_cancel`), for whichever dj-stripe model the URL names. Here the view first
    wants djstripe.change_<model name> (superusers only, by default), so support and billing staff get 403.
    """
    try:
        from djstripe.admin.actions import CustomActionMixin
    except ImportError:  # pragma: no cover - dj-stripe without its admin actions
        return
    for model_admin in admin.site._registry.values():
        if isinstance(model_admin, CustomActionMixin) and not getattr(model_admin, "_billing_guarded", False):
            model_admin._billing_guarded = True
            model_admin.get_urls = partial(_guarded_urls, model_admin.get_urls)


def _guarded_urls(get_urls: Callable[[], list[Any]]) -> list[Any]:
    patterns = get_urls()
    for index, pattern in enumerate(patterns):
        if getattr(pattern, "name", None) == "djstripe_custom_action":
            patterns[index] = path(str(pattern.pattern), partial(_custom_action, pattern.callback), name=pattern.name)
    return patterns


def _custom_action(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    if not request.user.is_authenticated or not request.user.is_staff:
        return view(request, *args, **kwargs)  # the admin's own login redirect
    if not permission_allowed(actor=request.user, permission=f"djstripe.change_{kwargs.get('model_name', '')}"):
        raise PermissionDenied
    return view(request, *args, **kwargs)
