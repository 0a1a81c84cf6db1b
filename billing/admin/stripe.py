"""The admin's way into the Stripe integration (billing.services.stripe_sync), only while Stripe is on.

"Sync with Stripe" actions exist only when settings.STRIPE_ENABLED is true and the stripe_sync function they
need exists; every Stripe failure reaches the admin as the ApplicationError stripe_sync raises.
Also the webhook events page, with "process again" (billing.webhooks.webhook_event_retry).
"""

import importlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Invoice, Subscription, SubscriptionPlan
from billing_site.errors import ApplicationError

from .common import DateRangeFilter, report_each, seoul

STRIPE_SYNC_MODULE = "billing.services.stripe_sync"
PLAN_SYNC = "plan_stripe_sync"
INVOICE_SYNC = "invoice_stripe_apply"
SUBSCRIPTION_SYNC = "subscription_stripe_apply"


def stripe_function(name: str) -> Callable[..., Any] | None:
    """The named stripe_sync function when Stripe is on and the function exists; None otherwise."""
    if not settings.STRIPE_ENABLED:
        return None
    try:
        module = importlib.import_module(STRIPE_SYNC_MODULE)
    except ImportError:
        return None
    function = getattr(module, name, None)
    return function if callable(function) else None


def _module() -> Any:
    if stripe_function(PLAN_SYNC) is None:
        raise ApplicationError("stripe_disabled", gettext("Stripe is not enabled."))
    return importlib.import_module(STRIPE_SYNC_MODULE)


def plan_sync(plan: SubscriptionPlan) -> str:
    """Push the plan to Stripe (its Product and Prices); says what changed."""
    changes = _module().plan_stripe_sync(plan=plan)
    summary = "; ".join(str(change) for change in changes) or gettext("already up to date")
    return gettext("%(plan)s: synced to Stripe (%(changes)s).") % {"plan": plan, "changes": summary}


def invoice_sync(invoice: Invoice) -> str:
    """Without a Stripe copy: create it (payable on Stripe's page). With one: follow Stripe's current state."""
    import stripe

    module = _module()
    if not invoice.stripe_invoice_id:
        created = module.invoice_stripe_create(invoice=invoice)
        if not created.stripe_invoice_id:
            raise ApplicationError(
                "invoice_not_payable", gettext("Only open or uncollectible invoices get a Stripe copy.")
            )
        return gettext("%(object)s: created in Stripe (%(id)s).") % {"object": invoice, "id": created.stripe_invoice_id}
    with module.stripe_errors(action=f"read the Stripe invoice of {invoice}"):
        remote = module.stripe_retrieve(stripe.Invoice, invoice.stripe_invoice_id)
    if remote is None:
        raise ApplicationError(
            "stripe_object_missing", gettext("Stripe has no invoice %(id)s.") % {"id": invoice.stripe_invoice_id}
        )
    with transaction.atomic():
        result = module.invoice_stripe_apply(stripe_invoice=remote)
    return f"{invoice}: {result}"


def subscription_sync(subscription: Subscription) -> str:
    import stripe

    module = _module()
    if not subscription.stripe_subscription_id:
        raise ApplicationError("not_in_stripe", gettext("This subscription is not billed through Stripe."))
    with module.stripe_errors(action=f"read Stripe subscription {subscription.stripe_subscription_id}"):
        remote = module.stripe_retrieve(stripe.Subscription, subscription.stripe_subscription_id)
    if remote is None:
        raise ApplicationError(
            "stripe_object_missing",
            gettext("Stripe has no subscription %(id)s.") % {"id": subscription.stripe_subscription_id},
        )
    with transaction.atomic():
        result = module.subscription_stripe_apply(stripe_subscription=remote)
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
            from billing.webhooks import webhook_event_retry

            def retry(event: Any) -> str:
                outcome = webhook_event_retry(event=event)
                if outcome.error:
                    raise ApplicationError("webhook_failed", outcome.error)
                return f"{event.stripe_event_id}: {outcome.status} {outcome.result}".strip()

            report_each(
                request, self, queryset.order_by("stripe_created_at", "id"), operation=retry, success="{object}"
            )

    admin.site.register(StripeWebhookEvent, StripeWebhookEventAdmin)
