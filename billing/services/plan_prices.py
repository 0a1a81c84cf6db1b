"""A plan's prices per currency in the plan file (`prices: {KRW: {monthly, annual}, USD: ...}`), parsed, validated
and synced to the PlanPrice table (by plan and currency) for `plans_sync`."""

from dataclasses import dataclass, field
from typing import Any

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.money import MAX_AMOUNT, MINOR_DIGITS
from billing.selectors.plans import plan_subscriptions_in

from .plan_file import PlanFileError, file_whole

PRICE_PERIOD_KEYS = frozenset({"monthly", "annual"})


@dataclass(frozen=True)
class PriceSpec:
    """A plan's price in one currency as the file gives it: minor units per period, VAT excluded."""

    currency: str
    monthly_price: int
    annual_price: int

    def values(self) -> dict[str, Any]:
        return {"monthly_price": self.monthly_price, "annual_price": self.annual_price}


def file_currency(value: Any, where: str) -> str:
    """An ISO 4217 code we bill in, exactly as written (upper case): a typo must not become another currency."""
    if not isinstance(value, str) or value not in MINOR_DIGITS:
        raise PlanFileError(f"{where} {value!r} is not supported (one of {', '.join(sorted(MINOR_DIGITS))}).")
    return value


def _amount(value: Any, where: str) -> int:
    return file_whole(value, where, minimum=0, maximum=MAX_AMOUNT, unit="minor units")


def prices_parse(entry: dict[str, Any], *, where: str, currency: str) -> tuple[PriceSpec, ...]:
    """A plan's prices: its `prices` per currency and/or `monthly_price`/`annual_price` (the price in its default
    `currency`, as older files give it). The default currency must be priced, once; the default price comes first."""
    specs: dict[str, PriceSpec] = {}
    if "monthly_price" in entry or "annual_price" in entry or "prices" not in entry:
        specs[currency] = PriceSpec(
            currency=currency,
            monthly_price=_amount(entry.get("monthly_price"), f"{where}.monthly_price"),
            annual_price=_amount(entry.get("annual_price"), f"{where}.annual_price"),
        )
    listed = entry.get("prices")
    if "prices" in entry and (not isinstance(listed, dict) or not listed):
        raise PlanFileError(f"{where}.prices must map currencies to {{monthly, annual}}, e.g. KRW: {{monthly: 29000}}.")
    for code, price in (listed or {}).items():
        place = f"{where}.prices.{code}"
        file_currency(code, f"{where}.prices currency")
        if code in specs:
            raise PlanFileError(f"{place}: the {code} price is already given by monthly_price and annual_price.")
        if not isinstance(price, dict) or set(price) != PRICE_PERIOD_KEYS:
            raise PlanFileError(f"{place} must have exactly the keys monthly and annual (minor units of {code}).")
        specs[code] = PriceSpec(
            currency=code,
            monthly_price=_amount(price["monthly"], f"{place}.monthly"),
            annual_price=_amount(price["annual"], f"{place}.annual"),
        )
    if currency not in specs:
        raise PlanFileError(f"{where}.prices has no {currency} price, the plan's default currency.")
    return (specs.pop(currency), *specs.values())


# --- sync ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceChange:
    """One plan price created, updated, removed or no longer sold by a sync; `key` is "plan-slug/CUR"."""

    key: str
    action: str  # "create" | "update" | "remove" | "deactivate"
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (before, after)

    def describe(self) -> str:
        if self.action == "create":
            wanted = {name: after for name, (_, after) in self.fields.items()}
            return f"  + price {self.key}: create (monthly {wanted['monthly_price']}, annual {wanted['annual_price']})"
        if self.action == "remove":
            return f"  - price {self.key}: remove (not in the file)"
        if self.action == "deactivate":
            return f"  - price {self.key}: no longer sold (not in the file; its subscriptions keep it)"
        details = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in self.fields.items())
        return f"  ~ price {self.key}: {details}"


def prices_sync(*, prices: dict[str, tuple[PriceSpec, ...]], dry_run: bool) -> tuple[list[PriceChange], list[str]]:
    """Make the prices of the plans the file lists (`prices` by plan slug) say what the file says: create or update
    by (plan, currency); remove a currency the file dropped only while no subscription of the plan is in it (nor
    has a change to the plan scheduled in it). One that is keeps it, no longer sold (`active` false: new
    subscribers and plan changes are refused it, the plan list leaves it out, Stripe archives its Prices), and a
    warning says so; listed in the file again, it is sold again. The Stripe ids of a row are never touched. Runs
    after the plans, in `plans_sync`'s transaction. Returns the changes and the warnings."""
    plans = {plan.slug: plan for plan in SubscriptionPlan.objects.filter(slug__in=list(prices))}
    existing: dict[tuple[str, str], PlanPrice] = {
        (row.plan.slug, row.currency): row
        for row in PlanPrice.objects.select_for_update()
        .filter(plan__slug__in=list(prices))
        .select_related("plan")
        .order_by("id")
    }
    changes: list[PriceChange] = []
    warnings: list[str] = []
    for slug, specs in prices.items():
        for spec in specs:
            key = f"{slug}/{spec.currency}"
            wanted = spec.values() | {"active": True}
            current = existing.pop((slug, spec.currency), None)
            if current is None:
                changes.append(PriceChange(key, "create", {k: (None, v) for k, v in wanted.items()}))
                if not dry_run:  # in a dry run a new plan does not exist yet
                    PlanPrice.objects.create(plan=plans[slug], currency=spec.currency, **wanted)
                continue
            differences = {k: (getattr(current, k), v) for k, v in wanted.items() if getattr(current, k) != v}
            if differences:
                changes.append(PriceChange(key, "update", differences))
                if not dry_run:
                    for name, (_, value) in differences.items():
                        setattr(current, name, value)
                    current.save(update_fields=[*differences, "updated_at"])
    for (slug, currency), row in existing.items():
        paying = plan_subscriptions_in(plan_id=row.plan_id, currency=currency)
        if paying:
            # Its subscribers renew in that currency (and Stripe charges its price): staff decide when it goes.
            warnings.append(
                f"price {slug}/{currency} is not in the file, but plan {slug!r} has {paying} subscription(s) in "
                f"{currency}: kept."
            )
            if row.active:
                changes.append(PriceChange(f"{slug}/{currency}", "deactivate", {"active": (True, False)}))
                if not dry_run:
                    row.active = False
                    row.save(update_fields=["active", "updated_at"])
            continue
        changes.append(PriceChange(f"{slug}/{currency}", "remove"))
        if not dry_run:
            row.delete()
    return changes, warnings
