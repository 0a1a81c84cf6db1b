"""Plan writes and reads: the versioned plan file (billing/plans.yaml) parsed, diffed and applied by slug.

`plans_sync` is the one entry point of `manage.py seed_plans` (and of the admin, later): it creates or
updates plans by slug, deactivates those missing from the file when asked to prune, never deletes a plan,
and reports what it changed (or, in a dry run, what it would change). A plan's prices per currency are its
PlanPrice rows (billing.services.plan_prices), its usage charges its PlanCharge rows (billing.services.usage_plans).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.services.plan_file import PlanFileError, file_text, file_whole
from billing.services.plan_prices import PriceChange, PriceSpec, file_currency, prices_parse, prices_sync
from billing.services.usage_plans import (
    ChargeSpec,
    MetricSpec,
    UsageChange,
    charges_parse,
    charges_sync,
    metrics_parse,
    metrics_sync,
)

PLAN_FILE = Path(__file__).resolve().parent.parent / "plans.yaml"
SLUG_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# The fields a plan file sets; Stripe ids and timestamps are never touched by a sync.
SYNCED_FIELDS = (
    "name",
    "name_en",
    "currency",
    "monthly_price",
    "annual_price",
    "features",
    "features_en",
    "max_projects",
    "trial_days",
    "per_seat",
    "display_order",
    "is_active",
)


@dataclass(frozen=True)
class PlanSpec:
    """One plan as the file describes it."""

    slug: str
    name: str
    name_en: str
    currency: str
    monthly_price: int
    annual_price: int
    features: tuple[str, ...]
    features_en: tuple[str, ...]
    max_projects: int | None
    display_order: int
    is_active: bool = True
    trial_days: int = 0
    per_seat: bool = False
    charges: tuple[ChargeSpec, ...] = ()  # usage charges (billing.services.usage_plans), synced apart
    # Every currency the plan is sold in, the default one (`currency`, `monthly_price`, `annual_price`) first.
    prices: tuple[PriceSpec, ...] = ()

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "name_en": self.name_en,
            "currency": self.currency,
            "monthly_price": self.monthly_price,
            "annual_price": self.annual_price,
            "features": list(self.features),
            "features_en": list(self.features_en),
            "max_projects": self.max_projects,
            "trial_days": self.trial_days,
            "per_seat": self.per_seat,
            "display_order": self.display_order,
            "is_active": self.is_active,
        }


@dataclass(frozen=True)
class PlanFile:
    version: Any
    plans: tuple[PlanSpec, ...]
    metrics: tuple[MetricSpec, ...] = ()


# --- the file -----------------------------------------------------------------------------------------


def _features(value: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        return (), ()
    if not isinstance(value, list):
        raise PlanFileError(f"{where} must be a list of {{ko, en}} entries.")
    korean, english = [], []
    for index, entry in enumerate(value):
        place = f"{where}[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"ko", "en"}:
            raise PlanFileError(f"{place} must have exactly the keys ko and en (Korean and English text).")
        korean.append(file_text(entry["ko"], f"{place}.ko", max_length=200))
        english.append(file_text(entry["en"], f"{place}.en", max_length=200))
    return tuple(korean), tuple(english)


PLAN_KEYS = frozenset(
    {
        "slug",
        "name",
        "name_en",
        "monthly_price",
        "annual_price",
        "max_projects",
        "features",
        "active",
        "currency",
        "trial_days",
        "per_seat",
        "charges",
        "prices",
    }
)
# A trial longer than this is a typo (a year of free service).
MAX_TRIAL_DAYS = 90


def plan_file_parse(text: str, *, source: str = "plans.yaml") -> PlanFile:
    """The plans of a plan file, validated; the first problem found is a PlanFileError naming its place."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PlanFileError(f"{source} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("plans"), list) or not document["plans"]:
        raise PlanFileError(f"{source} must be a mapping with a non-empty `plans` list.")
    unknown_top = set(document) - {"version", "currency", "metrics", "plans"}
    if unknown_top:
        raise PlanFileError(f"{source}: unknown top-level keys {sorted(unknown_top)}.")
    metrics = metrics_parse(document.get("metrics"), source=source)
    default_currency = file_currency(document.get("currency", "KRW"), f"{source}: currency")
    specs: list[PlanSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["plans"]):
        where = f"{source}: plans[{index}]"
        if not isinstance(entry, dict):
            raise PlanFileError(f"{where} must be a mapping.")
        unknown = set(entry) - PLAN_KEYS
        if unknown:
            raise PlanFileError(f"{where}: unknown keys {sorted(unknown)}.")
        slug = file_text(entry.get("slug"), f"{where}.slug", max_length=50)
        if not set(slug) <= SLUG_CHARACTERS or slug.startswith("-"):
            raise PlanFileError(f"{where}.slug {slug!r} may contain only a-z, 0-9 and '-'.")
        if slug in seen:
            raise PlanFileError(f"{where}.slug {slug!r} appears twice.")
        seen.add(slug)
        where = f"{source}: plan {slug!r}"
        currency = file_currency(entry.get("currency", default_currency), f"{where}.currency")
        max_projects = entry.get("max_projects")
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise PlanFileError(f"{where}.active must be true or false.")
        per_seat = entry.get("per_seat", False)
        if not isinstance(per_seat, bool):
            raise PlanFileError(f"{where}.per_seat must be true or false.")
        features, features_en = _features(entry.get("features"), f"{where}.features")
        prices = prices_parse(entry, where=where, currency=currency)
        specs.append(
            PlanSpec(
                slug=slug,
                name=file_text(entry.get("name"), f"{where}.name", max_length=100),
                name_en=file_text(entry.get("name_en"), f"{where}.name_en", max_length=100, required=False),
                currency=currency,
                monthly_price=prices[0].monthly_price,
                annual_price=prices[0].annual_price,
                features=features,
                features_en=features_en,
                max_projects=None
                if max_projects is None
                else file_whole(max_projects, f"{where}.max_projects", minimum=1, maximum=2**31 - 1),
                # The file's order is the display order, with room to insert plans by hand in the admin.
                display_order=(index + 1) * 10,
                is_active=active,
                trial_days=file_whole(
                    entry.get("trial_days", 0), f"{where}.trial_days", minimum=0, maximum=MAX_TRIAL_DAYS
                ),
                per_seat=per_seat,
                charges=charges_parse(
                    entry.get("charges"),
                    where=where,
                    metrics=(m.code for m in metrics),
                    currencies=tuple(price.currency for price in prices),
                ),
                prices=prices,
            )
        )
    return PlanFile(version=document.get("version"), plans=tuple(specs), metrics=metrics)


def plan_file_load(path: Path | str = PLAN_FILE) -> PlanFile:
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanFileError(f"Cannot read plan file {file_path}: {error.strerror or error}.") from error
    return plan_file_parse(text, source=file_path.name)


# --- sync ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    slug: str
    action: str  # "create" | "update" | "deactivate"
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (before, after)
    subscriptions: int = 0


@dataclass(frozen=True)
class PlanSyncReport:
    version: Any
    dry_run: bool
    changes: tuple[PlanChange, ...]
    unchanged: tuple[str, ...]
    usage_changes: tuple[UsageChange, ...] = ()  # metrics and charges
    warnings: tuple[str, ...] = ()
    price_changes: tuple[PriceChange, ...] = ()  # prices per currency

    def price_count(self, action: str) -> int:
        return sum(1 for change in self.price_changes if change.action == action)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def usage_count(self, kind: str, action: str) -> int:
        return sum(1 for change in self.usage_changes if (change.kind, change.action) == (kind, action))

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.usage_changes or self.price_changes)


@transaction.atomic
def plans_sync(
    *,
    plan_file: PlanFile,
    prune: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> PlanSyncReport:
    """Make the plans table say what the file says: create or update by slug; with `prune`, deactivate the rest.
    Prices per currency (billing.services.plan_prices), metrics and usage charges (billing.services.usage_plans)
    follow the file too.

    Idempotent: a second run finds nothing to change. Never deletes a plan (subscriptions point at plans,
    and the database refuses the delete of one that has any). A dry run computes the same report and
    writes nothing. Existing rows are locked, so two syncs at once apply one after the other.
    """
    existing = {plan.slug: plan for plan in SubscriptionPlan.objects.select_for_update().order_by("id")}
    usage_changes = metrics_sync(metrics=plan_file.metrics, prune=prune, dry_run=dry_run)
    changes: list[PlanChange] = []
    unchanged: list[str] = []
    for spec in plan_file.plans:
        wanted = spec.values()
        current = existing.get(spec.slug)
        if current is None:
            changes.append(PlanChange(spec.slug, "create", {name: (None, value) for name, value in wanted.items()}))
            if not dry_run:
                SubscriptionPlan.objects.create(slug=spec.slug, **wanted)
        else:
            differences = {
                name: (getattr(current, name), value)
                for name, value in wanted.items()
                if getattr(current, name) != value
            }
            if differences:
                changes.append(PlanChange(spec.slug, "update", differences))
                if not dry_run:
                    for name, (_, value) in differences.items():
                        setattr(current, name, value)
                    current.save(update_fields=[*differences, "updated_at"])
            else:
                unchanged.append(spec.slug)
        if on_progress is not None:
            on_progress(spec.slug)
    listed = {spec.slug for spec in plan_file.plans}
    for slug, plan in existing.items():
        if slug in listed:
            continue
        if prune and plan.is_active:
            changes.append(
                PlanChange(slug, "deactivate", {"is_active": (True, False)}, subscriptions=plan.subscriptions.count())
            )
            if not dry_run:
                plan.is_active = False
                plan.save(update_fields=["is_active", "updated_at"])
        else:
            unchanged.append(slug)
    price_changes, price_warnings = prices_sync(
        prices={spec.slug: spec.prices for spec in plan_file.plans}, dry_run=dry_run
    )
    charge_changes, warnings = charges_sync(
        charges={spec.slug: spec.charges for spec in plan_file.plans}, dry_run=dry_run
    )
    return PlanSyncReport(
        version=plan_file.version,
        dry_run=dry_run,
        changes=tuple(changes),
        unchanged=tuple(unchanged),
        usage_changes=(*usage_changes, *charge_changes),
        warnings=(*price_warnings, *warnings),
        price_changes=tuple(price_changes),
    )


def plan_default_price_sync(*, plan: SubscriptionPlan) -> PlanPrice:
    """The plan's row in its own currency, made to say the plan's own monthly and annual price (the admin edits
    those on the plan; the row holds the currency's Stripe ids and is what the plan's price list shows). A plan is
    always sold in its default currency, so the row is active."""
    row, created = PlanPrice.objects.get_or_create(
        plan=plan,
        currency=plan.currency,
        defaults={"monthly_price": plan.monthly_price, "annual_price": plan.annual_price},
    )
    wanted = {"monthly_price": plan.monthly_price, "annual_price": plan.annual_price, "active": True}
    changed = [name for name, value in wanted.items() if getattr(row, name) != value]
    if not created and changed:
        for name in changed:
            setattr(row, name, wanted[name])
        row.save(update_fields=[*changed, "updated_at"])
    return row
