"""Usage pricing: what a plan charge costs for a period's quantity of a metric, in integer minor units."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billing.enums import ChargeModel
from billing.models.usage import PlanCharge
from billing.money import MAX_AMOUNT
from billing_site.errors import ApplicationError

TIER_KEYS = frozenset({"up_to", "unit_amount", "flat_amount"})


@dataclass(frozen=True)
class TierSlice:
    """The part of the billable quantity one tier priced: units `first`..`last` (None: no upper bound)."""

    first: int
    last: int | None
    quantity: int
    unit_amount: int
    flat_amount: int
    amount: int

    def as_json(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "last": self.last,
            "quantity": self.quantity,
            "unit_amount": self.unit_amount,
            "flat_amount": self.flat_amount,
            "amount": self.amount,
        }


@dataclass(frozen=True)
class ChargeResult:
    """A charge priced for a quantity. `amount` is always the sum of the slices' amounts.

    `included` is what the plan includes (not capped at the quantity); `billable` is what is left to price. The
    trailing fields describe the charge so that the stored JSON explains itself after the plan changes.
    """

    quantity: int
    included: int
    billable: int
    amount: int
    slices: tuple[TierSlice, ...]
    charge_model: str = ""
    unit_amount: int = 0
    package_size: int = 1

    def as_json(self) -> dict[str, Any]:
        """What InvoiceLine.usage stores."""
        return {
            "quantity": self.quantity,
            "included": self.included,
            "billable": self.billable,
            "charge_model": self.charge_model,
            "unit_amount": self.unit_amount,
            "package_size": self.package_size,
            "amount": self.amount,
            "slices": [piece.as_json() for piece in self.slices],
        }


def _whole(value: object, where: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    # bool is an int in Python and a float is not money: both are refused.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApplicationError(
            "invalid_tiers", f"{where} must be a whole number >= 0, not {value!r}.", fields={"tiers": [where]}
        )
    return value


def tiers_validate(tiers: object) -> list[dict[str, Any]]:
    """Tiers as stored: a non-empty list of {up_to, unit_amount, flat_amount}, `up_to` strictly ascending and
    positive, None on the last tier only; amounts whole numbers >= 0 (flat_amount defaults to 0)."""
    if not isinstance(tiers, Sequence) or isinstance(tiers, str) or not tiers:
        raise ApplicationError("invalid_tiers", "tiers must be a non-empty list.", fields={"tiers": ["Required."]})
    cleaned: list[dict[str, Any]] = []
    previous = 0
    for index, tier in enumerate(tiers):
        where = f"tiers[{index}]"
        if not isinstance(tier, dict):
            raise ApplicationError("invalid_tiers", f"{where} must be a mapping.", fields={"tiers": [where]})
        unknown = set(tier) - TIER_KEYS
        if unknown or "up_to" not in tier or "unit_amount" not in tier:
            raise ApplicationError(
                "invalid_tiers",
                f"{where} must have up_to and unit_amount (and optionally flat_amount); unknown keys "
                f"{sorted(unknown)}.",
                fields={"tiers": [where]},
            )
        is_last = index == len(tiers) - 1
        up_to = _whole(tier["up_to"], f"{where}.up_to", nullable=is_last)
        if up_to is not None and up_to <= previous:
            raise ApplicationError(
                "invalid_tiers",
                f"{where}.up_to must be greater than {previous} (tiers ascend), not {up_to}.",
                fields={"tiers": [where]},
            )
        if is_last and up_to is not None:
            raise ApplicationError(
                "invalid_tiers", f"{where}.up_to must be null: the last tier has no bound.", fields={"tiers": [where]}
            )
        unit_amount = _whole(tier["unit_amount"], f"{where}.unit_amount")
        flat_amount = _whole(tier.get("flat_amount", 0), f"{where}.flat_amount")
        assert unit_amount is not None and flat_amount is not None  # not nullable
        if unit_amount > MAX_AMOUNT or flat_amount > MAX_AMOUNT:
            raise ApplicationError(
                "invalid_tiers", f"{where} amounts must be at most {MAX_AMOUNT}.", fields={"tiers": [where]}
            )
        cleaned.append({"up_to": up_to, "unit_amount": unit_amount, "flat_amount": flat_amount})
        previous = up_to or previous
    return cleaned


def _graduated(billable: int, tiers: list[dict[str, Any]]) -> list[TierSlice]:
    slices: list[TierSlice] = []
    lower = 0  # units below this are priced by earlier tiers
    for tier in tiers:
        if billable <= lower:
            break
        upper = tier["up_to"]
        top = billable if upper is None else min(billable, upper)
        quantity = top - lower
        amount = quantity * tier["unit_amount"] + tier["flat_amount"]
        slices.append(TierSlice(lower + 1, upper, quantity, tier["unit_amount"], tier["flat_amount"], amount))
        lower = top
    return slices


def _volume(billable: int, tiers: list[dict[str, Any]]) -> list[TierSlice]:
    lower = 0
    for tier in tiers:
        upper = tier["up_to"]
        # A quantity of exactly `up_to` belongs to that tier.
        if upper is None or billable <= upper:
            amount = billable * tier["unit_amount"] + tier["flat_amount"]
            return [TierSlice(lower + 1, upper, billable, tier["unit_amount"], tier["flat_amount"], amount)]
        lower = upper
    raise AssertionError("validated tiers end with an unbounded tier")


def charge_compute(*, charge: PlanCharge, quantity: int) -> ChargeResult:
    """Price `quantity` of a period under `charge`: the included quantity is free, the rest priced by the model.

    No billable quantity costs nothing (no flat amount either). Raises `usage_amount_too_large` above MAX_AMOUNT.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ApplicationError("invalid_quantity", f"Usage quantity must be a whole number >= 0, not {quantity!r}.")
    included = charge.included_quantity
    billable = max(0, quantity - included)
    slices: list[TierSlice] = []
    if billable > 0:
        model = charge.charge_model
        if model == ChargeModel.PER_UNIT:
            amount = billable * charge.unit_amount
            slices = [TierSlice(1, None, billable, charge.unit_amount, 0, amount)]
        elif model == ChargeModel.PACKAGE:
            packages = -(-billable // charge.package_size)  # started packages: ceiling division on integers
            slices = [TierSlice(1, None, billable, charge.unit_amount, 0, packages * charge.unit_amount)]
        elif model == ChargeModel.GRADUATED:
            slices = _graduated(billable, tiers_validate(charge.tiers))
        elif model == ChargeModel.VOLUME:
            slices = _volume(billable, tiers_validate(charge.tiers))
        else:
            raise ApplicationError("invalid_charge_model", f"Unknown charge model {model!r}.")
    amount = sum(piece.amount for piece in slices)
    if amount > MAX_AMOUNT:
        raise ApplicationError(
            "usage_amount_too_large",
            f"The usage charge for {charge.metric_id} on plan {charge.plan_id} ({amount}) exceeds {MAX_AMOUNT}.",
            status_code=422,
        )
    return ChargeResult(
        quantity=quantity,
        included=included,
        billable=billable,
        amount=amount,
        slices=tuple(slices),
        charge_model=charge.charge_model,
        unit_amount=charge.unit_amount,
        package_size=charge.package_size,
    )
