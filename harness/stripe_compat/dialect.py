"""Translation between the Stripe API dialect and localstripe's: answers, request parameters, prices as plans."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

JSON = Any
Pairs = list[tuple[str, str]]


class CompatError(Exception):
    """A request the layer refuses; answered as a Stripe `invalid_request_error` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# Price attributes that plans lack are kept in the plan's metadata under this prefix and hidden again on the way out.
HIDDEN_METADATA_PREFIX = "harness_price_"
PRICE_TO_PLAN_FIELDS = {
    "unit_amount": "amount",
    "recurring[interval]": "interval",
    "recurring[interval_count]": "interval_count",
    "recurring[usage_type]": "usage_type",
    "recurring[trial_period_days]": "trial_period_days",
}
PRICE_FIELDS_IN_METADATA = ("lookup_key", "tax_behavior")
PRICE_UPDATABLE_FIELDS = ("active", "nickname")
# Fields localstripe does not have, so expanding them makes it answer 400 "Bad expand".
UNEXPANDABLE_FIELDS = {"discounts", "currency_options", "applies_to"}
# Fields Stripe always sends as lists, which localstripe sometimes leaves null or out.
LIST_FIELDS_BY_OBJECT = {
    "subscription": ("default_tax_rates", "discounts"),
    "subscription_item": ("tax_rates", "discounts"),
    "invoice": ("default_tax_rates", "discounts", "total_discount_amounts", "total_tax_amounts"),
    "line_item": ("discounts", "discount_amounts", "tax_amounts", "tax_rates"),
    "invoiceitem": ("discounts", "tax_rates"),
}
SUBSCRIPTION_ITEM_KEY = re.compile(r"^(items|subscription_items)\[(\d+)\]\[price\]$")
EXPAND_KEY = re.compile(r"^expand\[\d*\]$")


# --- translation of JSON answers into the Stripe API dialect -------------------------------------------------------


def price_from_plan(plan: dict[str, JSON]) -> dict[str, JSON]:
    """The price object Stripe would show for this localstripe plan."""
    metadata = dict(plan.get("metadata") or {})
    hidden = {
        key[len(HIDDEN_METADATA_PREFIX) :]: metadata.pop(key)
        for key in list(metadata)
        if key.startswith(HIDDEN_METADATA_PREFIX)
    }
    one_time = hidden.get("type") == "one_time"
    recurring = None
    if not one_time:
        recurring = {
            "interval": plan["interval"],
            "interval_count": plan["interval_count"],
            "usage_type": plan.get("usage_type", "licensed"),
            "trial_period_days": plan.get("trial_period_days"),
            "aggregate_usage": None,
            "meter": None,
        }
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan["active"],
        "billing_scheme": plan.get("billing_scheme", "per_unit"),
        "created": plan["created"],
        "currency": plan["currency"],
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": hidden.get("lookup_key"),
        "metadata": metadata,
        "nickname": plan.get("nickname"),
        "product": to_stripe_dialect(plan["product"]),
        "recurring": recurring,
        "tax_behavior": hidden.get("tax_behavior", "unspecified"),
        "tiers_mode": plan.get("tiers_mode"),
        "tiers": plan.get("tiers"),
        "transform_quantity": None,
        "type": "one_time" if one_time else "recurring",
        "unit_amount": plan["amount"],
        "unit_amount_decimal": None if plan["amount"] is None else str(plan["amount"]),
    }


def to_stripe_dialect(value: JSON, subscription_id: str | None = None) -> JSON:
    """A copy of a localstripe JSON answer with the fields Stripe (and dj-stripe) expect; idempotent."""
    if isinstance(value, list):
        return [to_stripe_dialect(item, subscription_id) for item in value]
    if not isinstance(value, dict):
        return value
    # An event's `data` holds the object itself under "object".
    kind = value["object"] if isinstance(value.get("object"), str) else ""
    if kind == "subscription":
        subscription_id = value["id"]
    result = {key: to_stripe_dialect(item, subscription_id) for key, item in value.items()}
    for field in LIST_FIELDS_BY_OBJECT.get(kind, ()):
        if result.get(field) is None:
            result[field] = []
    if kind in ("subscription_item", "line_item", "invoiceitem") and isinstance(result.get("plan"), dict):
        result["price"] = price_from_plan(result["plan"])
    if kind == "subscription_item" and subscription_id is not None:
        result.setdefault("subscription", subscription_id)
    if kind == "subscription":
        for item in result.get("items", {}).get("data", []):
            item.setdefault("current_period_start", result.get("current_period_start"))
            item.setdefault("current_period_end", result.get("current_period_end"))
    return result


# --- translation of requests into what localstripe accepts ---------------------------------------------------------


def drop_unexpandable(pairs: Pairs) -> Pairs:
    """Remove `expand` paths that go through a field localstripe lacks, renumbering the rest."""
    kept, expands = [], []
    for key, value in pairs:
        if EXPAND_KEY.match(key):
            if not UNEXPANDABLE_FIELDS.intersection(value.split(".")):
                expands.append(value)
        else:
            kept.append((key, value))
    return kept + [(f"expand[{index}]", path) for index, path in enumerate(expands)]


def prices_as_plans(path: str, pairs: Pairs) -> Pairs:
    """Rename `price` to `plan` where subscriptions and their items take one."""
    renamed = []
    for key, value in pairs:
        match = SUBSCRIPTION_ITEM_KEY.match(key)
        if match:
            key = f"{match.group(1)}[{match.group(2)}][plan]"
        elif key == "price" and path.startswith("/v1/subscription_items"):
            key = "plan"
        renamed.append((key, value))
    return renamed


def plan_fields_from_price(pairs: Pairs) -> Pairs:
    """Translate `POST /v1/prices` parameters into `POST /v1/plans` ones."""
    plan: Pairs = []
    recurring = False
    for key, value in pairs:
        if key.startswith("recurring["):
            recurring = True
            if key not in PRICE_TO_PLAN_FIELDS:
                raise CompatError(400, f"localstripe cannot store the price parameter {key!r}")
        if key in PRICE_TO_PLAN_FIELDS:
            plan.append((PRICE_TO_PLAN_FIELDS[key], value))
        elif key in PRICE_FIELDS_IN_METADATA:
            plan.append((f"metadata[{HIDDEN_METADATA_PREFIX}{key}]", value))
        elif key.startswith("product_data["):
            plan.append(("product[" + key[len("product_data[") :], value))
        elif key in ("currency", "product", "nickname", "active", "billing_scheme", "tiers_mode") or key.startswith(
            ("metadata[", "tiers[", "expand[")
        ):
            plan.append((key, value))
        else:
            raise CompatError(400, f"localstripe cannot store the price parameter {key!r}")
    if not recurring:
        # localstripe plans always recur; the marker makes the price read back as one-time.
        plan += [("interval", "month"), (f"metadata[{HIDDEN_METADATA_PREFIX}type]", "one_time")]
    return [("id", "price_" + random_token(24)), *plan]


def plan_update_from_price(pairs: Pairs) -> Pairs:
    plan: Pairs = []
    for key, value in pairs:
        if key in PRICE_UPDATABLE_FIELDS or key.startswith(("metadata[", "expand[")):
            plan.append((key, value))
        elif key in PRICE_FIELDS_IN_METADATA:
            plan.append((f"metadata[{HIDDEN_METADATA_PREFIX}{key}]", value))
        else:
            raise CompatError(400, f"localstripe cannot update the price parameter {key!r}")
    return plan


def random_token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
