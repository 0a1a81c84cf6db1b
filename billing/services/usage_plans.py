"""Usage in the plan file: the `metrics:` list and each plan's `charges:`, parsed, validated and synced to the
BillableMetric and PlanCharge tables (metrics by code, charges by plan, metric and currency) for `plans_sync`."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from billing.enums import ChargeModel, MetricAggregation
from billing.models.plans import SubscriptionPlan
from billing.models.usage import METRIC_CODE_PATTERN, BillableMetric, PlanCharge
from billing.money import MAX_AMOUNT
from billing.selectors.plans import plan_subscriptions_in
from billing.services.plan_file import PlanFileError, file_text, file_whole
from billing.services.usage_pricing import tiers_validate
from billing_site.errors import ApplicationError

METRIC_KEYS = frozenset({"code", "name", "name_en", "unit", "unit_en", "aggregation", "active"})
CHARGE_KEYS = frozenset(
    {"metric", "charge_model", "included_quantity", "unit_amount", "package_size", "tiers", "prices"}
)
# The price keys each charge model needs; the others are refused rather than silently ignored.
MODEL_KEYS: dict[str, frozenset[str]] = {
    ChargeModel.PER_UNIT: frozenset({"unit_amount"}),
    ChargeModel.PACKAGE: frozenset({"unit_amount", "package_size"}),
    ChargeModel.GRADUATED: frozenset({"tiers"}),
    ChargeModel.VOLUME: frozenset({"tiers"}),
}
PRICE_KEYS = frozenset({"unit_amount", "package_size", "tiers"})
# What one currency's entry of a charge's `prices` may give; amounts are never shared between currencies.
CURRENCY_PRICE_KEYS = frozenset({"charge_model", *PRICE_KEYS})
# Quantities are sums of event values (each at most MAX_USAGE_VALUE); an included quantity beyond this is a typo.
MAX_QUANTITY = 10**15


@dataclass(frozen=True)
class MetricSpec:
    """One metric as the file describes it."""

    code: str
    name: str
    name_en: str
    unit: str
    unit_en: str
    aggregation: str
    is_active: bool = True

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "name_en": self.name_en,
            "unit": self.unit,
            "unit_en": self.unit_en,
            "aggregation": self.aggregation,
            "is_active": self.is_active,
        }


@dataclass(frozen=True)
class ChargeSpec:
    """What one plan charges for one metric in one currency, as the file describes it (amounts in `currency`)."""

    metric: str
    charge_model: str
    included_quantity: int
    unit_amount: int
    package_size: int
    tiers: tuple[dict[str, Any], ...]
    display_order: int
    currency: str = "KRW"  # as PlanCharge's; the file always says which

    def values(self) -> dict[str, Any]:
        return {
            "charge_model": self.charge_model,
            "included_quantity": self.included_quantity,
            "unit_amount": self.unit_amount,
            "package_size": self.package_size,
            "tiers": [dict(tier) for tier in self.tiers],
            "display_order": self.display_order,
        }


# --- the file -----------------------------------------------------------------------------------------


def metrics_parse(value: Any, *, source: str) -> tuple[MetricSpec, ...]:
    """The file's `metrics:` list, validated (absent: no metrics)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PlanFileError(f"{source}: metrics must be a list.")
    specs: list[MetricSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"{source}: metrics[{index}]"
        if not isinstance(entry, dict):
            raise PlanFileError(f"{where} must be a mapping.")
        code = file_text(entry.get("code"), f"{where}.code", max_length=50)
        if not re.fullmatch(METRIC_CODE_PATTERN, code):
            raise PlanFileError(f"{where}.code {code!r} must start with a-z and contain only a-z, 0-9 and '_'.")
        if code in seen:
            raise PlanFileError(f"{where}.code {code!r} appears twice.")
        seen.add(code)
        where = f"{source}: metric {code!r}"
        unknown = set(entry) - METRIC_KEYS
        if unknown:
            raise PlanFileError(f"{where}: unknown keys {sorted(unknown)}.")
        aggregation = entry.get("aggregation")
        if aggregation not in MetricAggregation.values:
            raise PlanFileError(
                f"{where}.aggregation must be one of {', '.join(MetricAggregation.values)}, not {aggregation!r}."
            )
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise PlanFileError(f"{where}.active must be true or false.")
        specs.append(
            MetricSpec(
                code=code,
                name=file_text(entry.get("name"), f"{where}.name", max_length=100),
                name_en=file_text(entry.get("name_en"), f"{where}.name_en", max_length=100, required=False),
                unit=file_text(entry.get("unit"), f"{where}.unit", max_length=30),
                unit_en=file_text(entry.get("unit_en"), f"{where}.unit_en", max_length=30, required=False),
                aggregation=aggregation,
                is_active=active,
            )
        )
    return tuple(specs)


def _charge_price_parse(prices: dict[str, Any], *, place: str, model: Any) -> tuple[str, int, int, list[Any]]:
    """One currency's price of a charge: (charge model, unit amount, package size, tiers), validated."""
    if model not in MODEL_KEYS:
        raise PlanFileError(f"{place}.charge_model must be one of {', '.join(MODEL_KEYS)}, not {model!r}.")
    needed = MODEL_KEYS[model]
    missing = sorted(needed - set(prices))
    if missing:
        raise PlanFileError(f"{place}.{missing[0]} is required by the {model} charge model.")
    unused = sorted((set(prices) & PRICE_KEYS) - needed)
    if unused:
        raise PlanFileError(f"{place}.{unused[0]} is not used by the {model} charge model.")
    tiers: list[dict[str, Any]] = []
    if "tiers" in needed:
        try:
            tiers = tiers_validate(prices["tiers"])
        except ApplicationError as error:
            raise PlanFileError(f"{place}.{error.message}") from error
    return (
        model,
        file_whole(prices.get("unit_amount", 0), f"{place}.unit_amount", minimum=0, maximum=MAX_AMOUNT),
        file_whole(prices.get("package_size", 1), f"{place}.package_size", minimum=1, maximum=MAX_QUANTITY),
        tiers,
    )


def _charge_currencies(entry: dict[str, Any], *, place: str, currencies: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Each currency's price keys of a charge: its `prices`, or (older files, a plan sold in one currency) the
    price keys given on the charge itself. Every currency the plan is sold in, and no other, must be priced."""
    shared: dict[str, Any] = {key: entry[key] for key in ("charge_model", "package_size") if key in entry}
    listed = entry.get("prices")
    if listed is None:
        if len(currencies) > 1:
            raise PlanFileError(f"{place} needs `prices` per currency: the plan is sold in {', '.join(currencies)}.")
        return {currencies[0]: {**shared, **{key: entry[key] for key in PRICE_KEYS if key in entry}}}
    if not isinstance(listed, dict) or not listed:
        raise PlanFileError(f"{place}.prices must map each currency of the plan to its price keys.")
    amounts = sorted(set(entry) & {"unit_amount", "tiers"})
    if amounts:
        raise PlanFileError(f"{place}.{amounts[0]} goes under `prices`, per currency (amounts differ by currency).")
    by_currency: dict[str, dict[str, Any]] = {}
    for currency, prices in listed.items():
        if currency not in currencies:
            raise PlanFileError(f"{place}.prices.{currency}: the plan is not sold in {currency!r}.")
        if not isinstance(prices, dict):
            raise PlanFileError(f"{place}.prices.{currency} must be a mapping of price keys.")
        unknown = set(prices) - CURRENCY_PRICE_KEYS
        if unknown:
            raise PlanFileError(f"{place}.prices.{currency}: unknown keys {sorted(unknown)}.")
        uses = MODEL_KEYS.get(str(prices.get("charge_model", shared.get("charge_model"))), frozenset())
        # The shared package size is for the currencies priced per package; another model leaves it out.
        inherited = {key: value for key, value in shared.items() if key != "package_size" or key in uses}
        by_currency[currency] = {**inherited, **prices}
    missing = [currency for currency in currencies if currency not in by_currency]
    if missing:
        raise PlanFileError(f"{place} has no price in {missing[0]}, which the plan is sold in.")
    return by_currency


def _charge_parse(
    entry: Any, *, where: str, index: int, metrics: frozenset[str], currencies: tuple[str, ...]
) -> list[ChargeSpec]:
    if not isinstance(entry, dict):
        raise PlanFileError(f"{where}.charges[{index}] must be a mapping.")
    metric = entry.get("metric")
    if not isinstance(metric, str) or metric not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        raise PlanFileError(
            f"{where}.charges[{index}].metric {metric!r} is not a metric of the file's `metrics:` list ({known})."
        )
    place = f"{where} charge {metric!r}"
    unknown = set(entry) - CHARGE_KEYS
    if unknown:
        raise PlanFileError(f"{place}: unknown keys {sorted(unknown)}.")
    included = file_whole(
        entry.get("included_quantity", 0), f"{place}.included_quantity", minimum=0, maximum=MAX_QUANTITY
    )
    specs = []
    by_currency = _charge_currencies(entry, place=place, currencies=currencies)
    for currency, prices in by_currency.items():
        # An older file's one price is named as before; a price under `prices` by its currency.
        price_place = place if "prices" not in entry else f"{place}.prices.{currency}"
        model, unit_amount, package_size, tiers = _charge_price_parse(
            prices, place=price_place, model=prices.get("charge_model")
        )
        specs.append(
            ChargeSpec(
                metric=metric,
                charge_model=model,
                included_quantity=included,
                unit_amount=unit_amount,
                package_size=package_size,
                tiers=tuple(tiers),
                display_order=(index + 1) * 10,
                currency=currency,
            )
        )
    return specs


def charges_parse(
    value: Any, *, where: str, metrics: Iterable[str], currencies: tuple[str, ...] = ("KRW",)
) -> tuple[ChargeSpec, ...]:
    """A plan's `charges:` list, validated against the file's metric codes (absent: the plan charges no usage): one
    ChargeSpec per charge and currency of `currencies` (the plan's, its default first). `where` names the plan,
    e.g. "plans.yaml: plan 'pro'"."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PlanFileError(f"{where}.charges must be a list.")
    known = frozenset(metrics)
    specs: list[ChargeSpec] = []
    for index, entry in enumerate(value):
        parsed = _charge_parse(entry, where=where, index=index, metrics=known, currencies=currencies)
        if any(earlier.metric == parsed[0].metric for earlier in specs):
            raise PlanFileError(f"{where} charges metric {parsed[0].metric!r} twice.")
        specs.extend(parsed)
    return tuple(specs)


# --- sync ---------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} tier(s)]"
    return repr(value)


@dataclass(frozen=True)
class UsageChange:
    """One metric or charge created, updated, deactivated (metrics) or removed (charges) by a sync."""

    kind: str  # "metric" | "charge"
    key: str  # metric code, or "plan-slug/metric-code"
    action: str  # "create" | "update" | "deactivate" | "remove"
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (before, after)

    def describe(self) -> str:
        if self.action == "create":
            wanted = {name: after for name, (_, after) in self.fields.items()}
            if self.kind == "metric":
                return f"  + metric {self.key}: create {wanted['name']} ({wanted['aggregation']}, {wanted['unit']})"
            return f"  + charge {self.key}: create {wanted['charge_model']} ({wanted['included_quantity']} included)"
        if self.action == "deactivate":
            return f"  - metric {self.key}: deactivate (not in the file)"
        if self.action == "remove":
            return f"  - charge {self.key}: remove (not in the file)"
        details = ", ".join(f"{name} {_shown(old)} -> {_shown(new)}" for name, (old, new) in self.fields.items())
        return f"  ~ {self.kind} {self.key}: {details}"


def metrics_sync(*, metrics: tuple[MetricSpec, ...], prune: bool, dry_run: bool) -> list[UsageChange]:
    """Create or update metrics by code; with `prune`, deactivate those the file no longer lists (never delete one:
    events and invoice lines point at it). Runs inside `plans_sync`'s transaction."""
    existing = {metric.code: metric for metric in BillableMetric.objects.select_for_update().order_by("id")}
    changes: list[UsageChange] = []
    for spec in metrics:
        wanted = spec.values()
        current = existing.get(spec.code)
        if current is None:
            changes.append(UsageChange("metric", spec.code, "create", {k: (None, v) for k, v in wanted.items()}))
            if not dry_run:
                BillableMetric.objects.create(code=spec.code, **wanted)
            continue
        differences = {k: (getattr(current, k), v) for k, v in wanted.items() if getattr(current, k) != v}
        if differences:
            changes.append(UsageChange("metric", spec.code, "update", differences))
            if not dry_run:
                for name, (_, value) in differences.items():
                    setattr(current, name, value)
                current.save(update_fields=[*differences, "updated_at"])
    listed = {spec.code for spec in metrics}
    for code, metric in existing.items():
        if prune and code not in listed and metric.is_active:
            changes.append(UsageChange("metric", code, "deactivate", {"is_active": (True, False)}))
            if not dry_run:
                metric.is_active = False
                metric.save(update_fields=["is_active", "updated_at"])
    return changes


def charges_sync(*, charges: dict[str, tuple[ChargeSpec, ...]], dry_run: bool) -> tuple[list[UsageChange], list[str]]:
    """Make the charges of the plans the file lists (`charges` by plan slug) say what the file says: create or update
    by (plan, metric, currency); remove a charge the file dropped only while no subscription of the plan pays in its
    currency (one that does keeps it, and a warning says so). Returns the changes and the warnings. Runs after
    metrics and plans."""
    plans = {plan.slug: plan for plan in SubscriptionPlan.objects.filter(slug__in=list(charges))}
    metrics = {metric.code: metric for metric in BillableMetric.objects.all()}
    existing: dict[tuple[str, str, str], PlanCharge] = {
        (charge.plan.slug, charge.metric.code, charge.currency): charge
        for charge in PlanCharge.objects.select_for_update()
        .filter(plan__slug__in=list(charges))
        .select_related("plan", "metric")
        .order_by("id")
    }
    changes: list[UsageChange] = []
    warnings: list[str] = []
    for slug, specs in charges.items():
        for spec in specs:
            key = f"{slug}/{spec.metric}/{spec.currency}"
            wanted = spec.values()
            current = existing.pop((slug, spec.metric, spec.currency), None)
            if current is None:
                changes.append(UsageChange("charge", key, "create", {k: (None, v) for k, v in wanted.items()}))
                if not dry_run:  # in a dry run a new plan or metric does not exist yet
                    PlanCharge.objects.create(
                        plan=plans[slug], metric=metrics[spec.metric], currency=spec.currency, **wanted
                    )
                continue
            differences = {k: (getattr(current, k), v) for k, v in wanted.items() if getattr(current, k) != v}
            if differences:
                changes.append(UsageChange("charge", key, "update", differences))
                if not dry_run:
                    for name, (_, value) in differences.items():
                        setattr(current, name, value)
                    current.save(update_fields=[*differences, "updated_at"])
    for (slug, code, currency), charge in existing.items():
        subscriptions = plan_subscriptions_in(plan_id=charge.plan_id, currency=currency)
        if subscriptions:
            # Its subscribers' current period may already be metered under it; staff decide when it goes.
            warnings.append(
                f"charge {slug}/{code}/{currency} is not in the file, but plan {slug!r} has {subscriptions} "
                f"subscription(s) in {currency}: kept."
            )
            continue
        changes.append(UsageChange("charge", f"{slug}/{code}/{currency}", "remove"))
        if not dry_run:
            charge.delete()
    return changes, warnings
