"""Our plans in Stripe: one Product per plan, a monthly and an annual recurring Price, and our VAT as a TaxRate."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import stripe
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.models.plans import SubscriptionPlan
from billing.money import vat_rate_basis_points
from billing.providers.base import PlansSyncReport, ProviderChange

from .client import (
    INTERVALS,
    META_PLAN,
    META_VAT,
    PRICE_ID_FIELDS,
    stripe_amount,
    stripe_errors,
    stripe_idempotency_key,
    stripe_options,
    stripe_retrieve,
)


def _product_ensure(plan: SubscriptionPlan, changes: list[ProviderChange]) -> Any:
    wanted: dict[str, Any] = {
        "name": plan.name if not plan.name_en or plan.name_en == plan.name else f"{plan.name} ({plan.name_en})",
        "active": plan.is_active,
        "metadata": {META_PLAN: str(plan.pk), "billing_plan_slug": plan.slug},
    }
    product = stripe_retrieve(stripe.Product, plan.stripe_product_id)
    if product is None:
        # A product an earlier run created and could not record (our write failed) is adopted, not duplicated.
        listing: Any = stripe.Product.list(limit=100, **stripe_options())
        product = next(
            (
                candidate
                for candidate in listing.auto_paging_iter()
                if (candidate.get("metadata") or {}).get(META_PLAN) == str(plan.pk)
            ),
            None,
        )
        if product is not None:
            changes.append(ProviderChange("product", "adopted", product.id, plan.slug))
    if product is None:
        product = stripe.Product.create(
            **wanted, **stripe_options(idempotency_key=stripe_idempotency_key("plan", plan.pk, "product", wanted))
        )
        changes.append(ProviderChange("product", "created", product.id, plan.slug))
        return product
    differences = {
        name: value
        for name, value in wanted.items()
        if (name != "metadata" and product.get(name) != value)
        or (name == "metadata" and any((product.get("metadata") or {}).get(k) != v for k, v in value.items()))
    }
    if differences:
        product = stripe.Product.modify(product.id, **differences, **stripe_options())
        changes.append(ProviderChange("product", "updated", product.id, ", ".join(sorted(differences))))
    return product


def _price_matches(price: Any, *, product_id: str, amount: int, currency: str, interval: str) -> bool:
    recurring = price.get("recurring") or {}
    return bool(
        price.get("product") == product_id
        and price.get("unit_amount") == amount
        and (price.get("currency") or "").lower() == currency
        and recurring.get("interval") == interval
        and int(recurring.get("interval_count") or 1) == 1
    )


def _price_ensure(
    plan: SubscriptionPlan, billing_period: str, product: Any, changes: list[ProviderChange]
) -> tuple[Any, Any | None]:
    """The plan's current Price for the period, and the Price it replaces (archived), if any."""
    currency = plan.currency.lower()
    amount = stripe_amount(amount=plan.price_for(billing_period), currency=plan.currency)
    interval = INTERVALS[billing_period]
    wanted: dict[str, Any] = {"product_id": product.id, "amount": amount, "currency": currency, "interval": interval}
    current = stripe_retrieve(stripe.Price, getattr(plan, PRICE_ID_FIELDS[billing_period]))
    if current is not None and _price_matches(current, **wanted):
        if not current.get("active"):
            current = stripe.Price.modify(current.id, active=True, **stripe_options())
            changes.append(ProviderChange("price", "reactivated", current.id, f"{plan.slug} {billing_period}"))
        return current, None
    # Prices are immutable: a changed amount is a new Price (or an archived one of the same amount, brought back).
    prices: Any = stripe.Price.list(product=product.id, limit=100, **stripe_options())
    existing = [price for price in prices.auto_paging_iter() if _price_matches(price, **wanted)]
    existing.sort(key=lambda price: (bool(price.get("active")), price.get("created") or 0), reverse=True)
    label = f"{plan.slug} {billing_period} {amount} {currency.upper()}"
    price: Any
    if existing:
        price = existing[0]
        if not price.get("active"):
            price = stripe.Price.modify(price.id, active=True, **stripe_options())
            changes.append(ProviderChange("price", "reactivated", price.id, label))
    else:
        params = {
            "product": product.id,
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": interval},
            "nickname": f"{plan.slug} {billing_period}",
            "metadata": {META_PLAN: str(plan.pk), "billing_period": billing_period},
        }
        key = stripe_idempotency_key("plan", plan.pk, f"price-{billing_period}", params)
        price = stripe.Price.create(**params, **stripe_options(idempotency_key=key))
        changes.append(ProviderChange("price", "created", price.id, label))
    replaced = None
    if current is not None and current.id != price.id and current.get("active"):
        replaced = stripe.Price.modify(current.id, active=False, **stripe_options())
        changes.append(ProviderChange("price", "archived", current.id, f"{plan.slug} {billing_period}"))
    return price, replaced


def plan_stripe_sync(*, plan: SubscriptionPlan) -> list[ProviderChange]:
    """Make Stripe show the plan: one Product, a monthly and an annual Price (recurring, in the plan's currency).

    A changed price is a new Price and the old one is archived (existing subscriptions keep it); an inactive plan
    archives its Product. Idempotent: a second run finds nothing to change. Mirrored into dj-stripe's models.
    """
    changes: list[ProviderChange] = []
    with stripe_errors(action=f"sync plan {plan.slug}"):
        product = _product_ensure(plan, changes)
        prices = {period: _price_ensure(plan, period, product, changes) for period in INTERVALS}
        api_key = djstripe_settings.STRIPE_SECRET_KEY
        djstripe_models.Product.sync_from_stripe_data(product, api_key=api_key)
        for price, replaced in prices.values():
            djstripe_models.Price.sync_from_stripe_data(price, api_key=api_key)
            if replaced is not None:
                djstripe_models.Price.sync_from_stripe_data(replaced, api_key=api_key)
    ids = {"stripe_product_id": product.id} | {PRICE_ID_FIELDS[p]: price.id for p, (price, _) in prices.items()}
    changed = {name: value for name, value in ids.items() if getattr(plan, name) != value}
    if changed:
        SubscriptionPlan.objects.filter(pk=plan.pk).update(**changed, updated_at=timezone.now())
        for name, value in changed.items():
            setattr(plan, name, value)
    return changes


def plans_stripe_sync(
    *, plans: list[SubscriptionPlan] | None = None, on_progress: Callable[[str], None] | None = None
) -> PlansSyncReport:
    """Sync every plan (active or not: a retired plan's Product is archived) or the given ones."""
    report = PlansSyncReport()
    for plan in plans if plans is not None else SubscriptionPlan.objects.order_by("display_order", "id"):
        report.changes += plan_stripe_sync(plan=plan)
        report.plans += 1
        if on_progress is not None:
            on_progress(plan.slug)
    return report


def plan_price_id(plan: SubscriptionPlan, billing_period: str, amount: int) -> str:
    """The Stripe Price of the plan's period at `amount`, syncing the plan first when it has none (or another)."""
    price_id = getattr(plan, PRICE_ID_FIELDS[billing_period])
    price = stripe_retrieve(stripe.Price, price_id)
    if price is None or price.get("unit_amount") != amount or not price.get("active"):
        plan_stripe_sync(plan=plan)
        price_id = getattr(plan, PRICE_ID_FIELDS[billing_period])
    return str(price_id)


def vat_tax_rate_ensure() -> str:
    """The Stripe TaxRate of our VAT (exclusive, BILLING_VAT_RATE_BASIS_POINTS), found by its metadata or created."""
    basis_points = vat_rate_basis_points()
    tax_rates: Any = stripe.TaxRate.list(limit=100, **stripe_options())
    for tax_rate in tax_rates.auto_paging_iter():
        metadata = tax_rate.get("metadata") or {}
        if metadata.get(META_VAT) == str(basis_points) and tax_rate.get("active") and not tax_rate.get("inclusive"):
            return str(tax_rate.id)
    params: dict[str, Any] = {
        "display_name": "부가세 VAT",
        "description": "Korean VAT (부가가치세)",
        "jurisdiction": "KR",
        "inclusive": False,
        # Basis points as a decimal string (1000 -> "10"): no float.
        "percentage": str(Decimal(basis_points) / 100),
        "metadata": {META_VAT: str(basis_points)},
    }
    tax_rate = stripe.TaxRate.create(
        **params, **stripe_options(idempotency_key=stripe_idempotency_key("vat", basis_points, "tax-rate", params))
    )
    return str(tax_rate.id)


def stripe_vat_amount(amount: int) -> int:
    """VAT as Stripe computes it for one line (rounded half up); ours truncates, and a line adjusts the difference."""
    basis_points = vat_rate_basis_points()
    quotient, remainder = divmod(abs(amount) * basis_points, 10_000)
    rounded = quotient + (1 if remainder * 2 >= 10_000 else 0)
    return -rounded if amount < 0 else rounded
