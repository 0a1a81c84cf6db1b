"""Our plans in Stripe: one Product per plan, a monthly and an annual recurring Price per currency the plan is sold
in, and our VAT as a TaxRate."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import stripe
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.enums import TaxTreatment
from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES, Subscription
from billing.providers.base import PlansSyncReport, ProviderChange
from billing.selectors.plans import plan_prices
from billing.tax import vat_rate_now

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
    plan: SubscriptionPlan, price_row: PlanPrice, billing_period: str, product: Any, changes: list[ProviderChange]
) -> tuple[Any, Any | None]:
    """The Price of the plan's period in one currency (`price_row`'s), and the Price it replaces (archived), if any."""
    currency = price_row.currency.lower()
    # Our minor units are Stripe's smallest unit in every currency we bill in (KRW and JPY are zero-decimal at
    # Stripe, USD and EUR are cents); stripe_amount refuses a currency where they would differ.
    amount = stripe_amount(amount=price_row.price_for(billing_period), currency=price_row.currency)
    interval = INTERVALS[billing_period]
    wanted: dict[str, Any] = {"product_id": product.id, "amount": amount, "currency": currency, "interval": interval}
    label = f"{plan.slug} {billing_period} {currency.upper()}"
    current = stripe_retrieve(stripe.Price, getattr(price_row, PRICE_ID_FIELDS[billing_period]))
    if current is not None and _price_matches(current, **wanted):
        if not current.get("active"):
            current = stripe.Price.modify(current.id, active=True, **stripe_options())
            changes.append(ProviderChange("price", "reactivated", current.id, label))
        return current, None
    # Prices are immutable: a changed amount is a new Price (or an archived one of the same amount, brought back).
    prices: Any = stripe.Price.list(product=product.id, limit=100, **stripe_options())
    existing = [price for price in prices.auto_paging_iter() if _price_matches(price, **wanted)]
    existing.sort(key=lambda price: (bool(price.get("active")), price.get("created") or 0), reverse=True)
    price: Any
    if existing:
        price = existing[0]
        if not price.get("active"):
            price = stripe.Price.modify(price.id, active=True, **stripe_options())
            changes.append(ProviderChange("price", "reactivated", price.id, f"{label} {amount}"))
    else:
        params = {
            "product": product.id,
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": interval},
            "nickname": label,
            "metadata": {META_PLAN: str(plan.pk), "billing_period": billing_period, "currency": currency.upper()},
        }
        key = stripe_idempotency_key("plan", plan.pk, f"price-{billing_period}-{currency}", params)
        price = stripe.Price.create(**params, **stripe_options(idempotency_key=key))
        changes.append(ProviderChange("price", "created", price.id, f"{label} {amount}"))
    replaced = None
    if current is not None and current.id != price.id and current.get("active"):
        replaced = stripe.Price.modify(current.id, active=False, **stripe_options())
        changes.append(ProviderChange("price", "archived", current.id, label))
    return price, replaced


def _changes_scheduled_into(price_row: PlanPrice) -> bool:
    """Whether a subscription that can still renew has a change scheduled into the row's plan in its currency."""
    return Subscription.objects.filter(
        pending_plan_id=price_row.plan_id, currency=price_row.currency, status__in=sorted(LIVE_STATUSES)
    ).exists()


def _price_archive(plan: SubscriptionPlan, price_row: PlanPrice, changes: list[ProviderChange]) -> list[Any]:
    """The Prices of a currency the plan is no longer sold in (`price_row` inactive), archived: Stripe offers them to
    nobody new, and the subscriptions on them keep them (an archived Price still renews). None is created.

    Not while a change is scheduled into them: at its renewal the follow job moves the Stripe subscription onto
    the Price, and Stripe refuses an archived one in `items[].price` (an earlier archive is undone). A later sync
    archives them once no change is scheduled any more."""
    keep = _changes_scheduled_into(price_row)
    archived = []
    for billing_period, field_name in PRICE_ID_FIELDS.items():
        price = stripe_retrieve(stripe.Price, getattr(price_row, field_name))
        if price is None:
            continue  # never synced: nobody at Stripe pays it
        if keep:
            if not price.get("active"):
                price = stripe.Price.modify(price.id, active=True, **stripe_options())
                label = f"{plan.slug} {billing_period} {price_row.currency} (a change is scheduled into it)"
                changes.append(ProviderChange("price", "reactivated", price.id, label))
        elif price.get("active"):
            price = stripe.Price.modify(price.id, active=False, **stripe_options())
            label = f"{plan.slug} {billing_period} {price_row.currency} (no longer sold)"
            changes.append(ProviderChange("price", "archived", price.id, label))
        archived.append(price)
    return archived


def _price_ids_record(plan: SubscriptionPlan, price_row: PlanPrice, ids: dict[str, str]) -> None:
    """Store a currency's Price ids on its row, and for the default currency on the plan too (as before issue 17)."""
    changed = {name: value for name, value in ids.items() if getattr(price_row, name) != value}
    if changed and price_row.pk is not None:
        PlanPrice.objects.filter(pk=price_row.pk).update(**changed, updated_at=timezone.now())
    for name, value in changed.items():
        setattr(price_row, name, value)


def plan_stripe_sync(*, plan: SubscriptionPlan) -> list[ProviderChange]:
    """Make Stripe show the plan: one Product, and per currency it is sold in (plan_prices: its default one at the
    plan's own price) a monthly and an annual recurring Price in that currency.

    A changed price is a new Price and the old one is archived (existing subscriptions keep it); an inactive plan
    archives its Product; a currency no longer sold (PlanPrice.active false) has its Prices archived once no change
    is scheduled into them, sold again they are brought back. Idempotent: a second run finds nothing to change.
    Mirrored into dj-stripe's models.
    """
    changes: list[ProviderChange] = []
    price_rows = plan_prices(plan=plan, unsold=True)
    sold = [row for row in price_rows if row.active]
    with stripe_errors(action=f"sync plan {plan.slug}"):
        product = _product_ensure(plan, changes)
        prices = {
            (row.currency, period): _price_ensure(plan, row, period, product, changes)
            for row in sold
            for period in INTERVALS
        }
        archived = [price for row in price_rows if not row.active for price in _price_archive(plan, row, changes)]
        api_key = djstripe_settings.STRIPE_SECRET_KEY
        djstripe_models.Product.sync_from_stripe_data(product, api_key=api_key)
        for price, replaced in prices.values():
            djstripe_models.Price.sync_from_stripe_data(price, api_key=api_key)
            if replaced is not None:
                djstripe_models.Price.sync_from_stripe_data(replaced, api_key=api_key)
        for price in archived:
            djstripe_models.Price.sync_from_stripe_data(price, api_key=api_key)
    for row in sold:
        _price_ids_record(
            plan, row, {PRICE_ID_FIELDS[period]: prices[(row.currency, period)][0].id for period in INTERVALS}
        )
    default_ids = {PRICE_ID_FIELDS[period]: prices[(plan.currency, period)][0].id for period in INTERVALS}
    ids = {"stripe_product_id": product.id} | default_ids
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
    everything = SubscriptionPlan.objects.prefetch_related("prices").order_by("display_order", "id")
    for plan in plans if plans is not None else everything:
        report.changes += plan_stripe_sync(plan=plan)
        report.plans += 1
        if on_progress is not None:
            on_progress(plan.slug)
    return report


def _stripe_price_id(plan: SubscriptionPlan, billing_period: str, currency: str) -> tuple[str, bool]:
    """The recorded Price id of the plan's period in `currency`, and whether the plan is sold in it."""
    if currency == plan.currency:
        return str(getattr(plan, PRICE_ID_FIELDS[billing_period])), True
    row = PlanPrice.objects.filter(plan_id=plan.pk, currency=currency).first()
    return ("", False) if row is None else (str(getattr(row, PRICE_ID_FIELDS[billing_period])), row.active)


def plan_price_id(plan: SubscriptionPlan, billing_period: str, amount: int, currency: str | None = None) -> str:
    """The Stripe Price of the plan's period in `currency` (default: the plan's own) at `amount`, syncing the plan
    first when it has none (or another). A currency no longer sold keeps its archived Price (a sync would not
    bring it back)."""
    currency = currency or plan.currency
    price_id, sold = _stripe_price_id(plan, billing_period, currency)
    price = stripe_retrieve(stripe.Price, price_id)
    if (
        price is None
        or price.get("unit_amount") != stripe_amount(amount=amount, currency=currency)
        or (price.get("currency") or "").lower() != currency.lower()
        or (sold and not price.get("active"))
    ):
        plan_stripe_sync(plan=plan)
        price_id, _ = _stripe_price_id(plan, billing_period, currency)
    return price_id


def vat_tax_rate_ensure(basis_points: int | None = None) -> str:
    """The Stripe TaxRate of a VAT rate (exclusive; default: today's taxable rate, billing.tax), one per rate, found
    by its metadata or created: a scheduled rate change gets a TaxRate of its own, an untaxed customer the 0 % one."""
    if basis_points is None:
        basis_points = vat_rate_now(tax_treatment=TaxTreatment.TAXABLE)
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


def stripe_vat_amount(amount: int, basis_points: int | None = None) -> int:
    """VAT as Stripe computes it for one line at a rate (default: today's taxable rate), rounded half up; ours
    truncates, and a line adjusts the difference."""
    if basis_points is None:
        basis_points = vat_rate_now(tax_treatment=TaxTreatment.TAXABLE)
    quotient, remainder = divmod(abs(amount) * basis_points, 10_000)
    rounded = quotient + (1 if remainder * 2 >= 10_000 else 0)
    return -rounded if amount < 0 else rounded
