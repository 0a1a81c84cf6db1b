"""The resync's pull: the plans synced to Stripe, then products, prices, customers, subscriptions and invoices
pulled back through dj-stripe, and every refund (with its charge); billing.services.provider_sync makes our records
follow what was pulled."""

import logging
from collections.abc import Callable
from typing import Any

import stripe
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.models.plans import SubscriptionPlan
from billing.providers.base import RemoteRefund, ResyncPull
from billing_site.errors import ApplicationError

from .client import stripe_errors, stripe_options, stripe_reference, stripe_retrieve
from .invoices import remote_invoice
from .payments import remote_refund
from .plans import plan_stripe_sync
from .subscriptions import remote_subscription

logger = logging.getLogger(__name__)


def _pull(pull: ResyncPull, name: str, model: Any, listing: Any) -> list[Any]:
    """Every object of a Stripe list, each mirrored into dj-stripe's model; returns the Stripe objects."""
    api_key = djstripe_settings.STRIPE_SECRET_KEY
    objects = []
    for data in listing.auto_paging_iter():
        try:
            model.sync_from_stripe_data(data, api_key=api_key)
        except Exception as error:  # a mirror that fails must not stop the reconciliation of the rest
            logger.warning("dj-stripe could not mirror %s %s: %s", name, data.get("id"), error)
            pull.failures.append(f"mirror {name} {data.get('id')}: {error}")
        objects.append(data)
    pull.pulled[name] = len(objects)
    return objects


def _refunds_pull(pull: ResyncPull) -> list[RemoteRefund]:
    """Every refund in Stripe, grouped by its charge (read once each): those made while webhooks were down too.
    Not mirrored into dj-stripe (its Refund needs its charge mirrored first; nothing of ours reads it)."""
    by_charge: dict[str, list[Any]] = {}
    listing: Any = stripe.Refund.list(limit=100, **stripe_options())
    for data in listing.auto_paging_iter():
        by_charge.setdefault(stripe_reference(data.get("charge")), []).append(data)
    pull.pulled["refunds"] = sum(len(refunds) for refunds in by_charge.values())
    remotes = []
    for charge_id, refunds in by_charge.items():
        charge = stripe_retrieve(stripe.Charge, charge_id)
        if charge is None:
            pull.failures.append(f"charge {charge_id or '?'} of refund {refunds[0].id}: not found in Stripe")
            continue
        remotes.append(remote_refund(charge, refunds))
    return remotes


def stripe_resync_pull(
    *, on_step: Callable[[str, int], None] | None = None, on_progress: Callable[[], None] | None = None
) -> ResyncPull:
    """Sync the plans to Stripe and pull everything back through dj-stripe (the first half of the resync)."""
    pull = ResyncPull()
    with stripe_errors(action="resync with Stripe"):
        plans = list(SubscriptionPlan.objects.order_by("display_order", "id"))
        if on_step:
            on_step("plans", len(plans))
        for plan in plans:
            try:
                pull.changes += plan_stripe_sync(plan=plan)
            except ApplicationError as error:
                pull.failures.append(f"plan {plan.slug}: {error.message}")
            if on_progress:
                on_progress()
        options = stripe_options()
        _pull(pull, "products", djstripe_models.Product, stripe.Product.list(limit=100, **options))
        _pull(pull, "prices", djstripe_models.Price, stripe.Price.list(limit=100, **options))
        _pull(pull, "customers", djstripe_models.Customer, stripe.Customer.list(limit=100, **options))
        subscriptions = _pull(
            pull,
            "subscriptions",
            djstripe_models.Subscription,
            stripe.Subscription.list(status="all", limit=100, **options),
        )
        invoices = _pull(pull, "invoices", djstripe_models.Invoice, stripe.Invoice.list(limit=100, **options))
        pull.refunds = _refunds_pull(pull)
    pull.subscriptions = [remote_subscription(data) for data in subscriptions]
    pull.invoices = [remote_invoice(data) for data in invoices]
    return pull
