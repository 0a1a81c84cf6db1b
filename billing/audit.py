"""The audit trail: which billing models django-auditlog records, and who the actor of a request is.

Every save and delete of an order, invoice, payment, subscription, plan, customer or exchange rate writes an
auditlog LogEntry with the changed fields (before and after), the time, and the actor: the staff user in the admin, the
customer or staff user of an API request (JWT included), and nobody ("system") for webhooks, renewals and
commands. The admin shows each object's entries on its change page (billing.admin.common.AuditTrailMixin).
"""

from typing import Any

from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog
from django.apps import apps
from django.utils.functional import SimpleLazyObject

# Order items are not listed: they are written once, with their order, by bulk_create (which sends no signals, so
# auditlog could not see them) and never change; the order's own entry records its totals.
AUDITED_MODELS = (
    "billing.Order",
    "billing.Invoice",
    "billing.Payment",
    "billing.Subscription",
    "billing.SubscriptionPlan",
    "billing.Customer",
    "billing.ExchangeRate",  # reports convert with it: who changed a rate, from what
)


def audit_register() -> None:
    """Register the audited models with auditlog (idempotent: called from BillingConfig.ready)."""
    for label in AUDITED_MODELS:
        model = apps.get_model(label)
        if not auditlog.contains(model):
            # updated_at changes with every save and says nothing by itself; related rows have their own entries.
            related = [field.name for field in model._meta.get_fields() if not field.concrete]
            auditlog.register(model, exclude_fields=["updated_at", *related])


class AuditActorMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the actor resolved when an entry is written rather than when the request starts.

    An API request authenticates its JWT inside the DRF view, after every middleware has run; DRF then sets
    the user on the Django request. Looking the user up lazily records that user, at no query cost to
    requests that change nothing.
    """

    @staticmethod
    def _get_actor(request: Any) -> Any:
        def resolve() -> Any:
            user = getattr(request, "user", None)
            return user if user is not None and user.is_authenticated else None

        return SimpleLazyObject(resolve)
