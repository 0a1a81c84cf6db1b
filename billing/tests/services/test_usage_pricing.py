"""charge_compute and tiers_validate: exact prices of every charge model, and the invariants that hold for all."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.enums import ChargeModel
from billing.models.usage import PlanCharge
from billing.money import MAX_AMOUNT
from billing.services.usage_pricing import ChargeResult, TierSlice, charge_compute, tiers_validate
from billing_site.errors import ApplicationError

# The charges of billing/plans.yaml, and two with flat amounts.
STARTER_GRADUATED = [{"up_to": 100_000, "unit_amount": 2, "flat_amount": 0}, {"up_to": None, "unit_amount": 1}]
PAYG_STORAGE_VOLUME = [
    {"up_to": 100, "unit_amount": 500, "flat_amount": 0},
    {"up_to": 1000, "unit_amount": 400, "flat_amount": 0},
    {"up_to": None, "unit_amount": 300, "flat_amount": 0},
]
FLAT_TIERS = [
    {"up_to": 10, "unit_amount": 0, "flat_amount": 500},
    {"up_to": None, "unit_amount": 100, "flat_amount": 1000},
]


def charge(model: str, *, included: int = 0, unit: int = 0, package: int = 1, tiers: Any = ()) -> PlanCharge:
    # Unsaved: charge_compute reads only the charge's fields.
    return PlanCharge(
        charge_model=model, included_quantity=included, unit_amount=unit, package_size=package, tiers=list(tiers)
    )


def amount_of(priced: PlanCharge, quantity: int) -> int:
    return charge_compute(charge=priced, quantity=quantity).amount


# --- exact examples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "billable", "amount"),
    [(0, 0, 0), (999, 0, 0), (1_000, 0, 0), (1_001, 1, 10), (1_500, 500, 5_000)],
)
def test_per_unit_prices_each_unit_above_the_included_quantity(quantity, billable, amount):
    result = charge_compute(charge=charge(ChargeModel.PER_UNIT, included=1_000, unit=10), quantity=quantity)

    assert (result.quantity, result.included, result.billable, result.amount) == (quantity, 1_000, billable, amount)


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        (100_000, 0),
        (100_001, 1_000),  # one call starts a package
        (101_000, 1_000),
        (101_001, 2_000),
        (250_000, 150_000),
        (250_001, 151_000),
    ],
)
def test_package_charges_every_started_package(quantity, amount):
    pro = charge(ChargeModel.PACKAGE, included=100_000, unit=1_000, package=1_000)

    assert amount_of(pro, quantity) == amount


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        (10_000, 0),
        (10_001, 2),
        (110_000, 200_000),  # the first tier, exactly full
        (110_001, 200_001),
        (1_110_000, 1_200_000),
    ],
)
def test_graduated_prices_each_slice_by_its_own_tier(quantity, amount):
    starter = charge(ChargeModel.GRADUATED, included=10_000, tiers=STARTER_GRADUATED)

    assert amount_of(starter, quantity) == amount


def test_graduated_slices_name_their_units():
    starter = charge(ChargeModel.GRADUATED, included=10_000, tiers=STARTER_GRADUATED)

    result = charge_compute(charge=starter, quantity=1_110_000)

    assert result.slices == (
        TierSlice(first=1, last=100_000, quantity=100_000, unit_amount=2, flat_amount=0, amount=200_000),
        TierSlice(first=100_001, last=None, quantity=1_000_000, unit_amount=1, flat_amount=0, amount=1_000_000),
    )


@pytest.mark.parametrize(
    ("quantity", "amount", "slices"),
    [
        (0, 0, 0),  # nothing billable: no flat amount either
        (1, 500, 1),
        (10, 500, 1),
        (11, 500 + 100 + 1_000, 2),  # the second tier's flat amount once its slice is not empty
        (20, 500 + 1_000 + 1_000, 2),
    ],
)
def test_graduated_flat_amounts_apply_to_non_empty_slices(quantity, amount, slices):
    result = charge_compute(charge=charge(ChargeModel.GRADUATED, tiers=FLAT_TIERS), quantity=quantity)

    assert (result.amount, len(result.slices)) == (amount, slices)


@pytest.mark.parametrize(
    ("quantity", "amount", "tier_last"),
    [
        (1, 500, 100),
        (100, 50_000, 100),  # exactly up_to: still the first tier
        (101, 40_400, 1000),  # one more: every unit at the second tier's price
        (1_000, 400_000, 1000),
        (1_001, 300_300, None),
    ],
)
def test_volume_prices_the_whole_quantity_at_the_tier_it_falls_in(quantity, amount, tier_last):
    result = charge_compute(charge=charge(ChargeModel.VOLUME, tiers=PAYG_STORAGE_VOLUME), quantity=quantity)

    (piece,) = result.slices
    assert (result.amount, piece.quantity, piece.last) == (amount, quantity, tier_last)


@pytest.mark.parametrize(("quantity", "amount"), [(0, 0), (10, 100 * 10 + 500), (11, 100 * 11 + 1_000)])
def test_volume_adds_its_tiers_flat_amount(quantity, amount):
    tiers = [
        {"up_to": 10, "unit_amount": 100, "flat_amount": 500},
        {"up_to": None, "unit_amount": 100, "flat_amount": 1000},
    ]

    assert amount_of(charge(ChargeModel.VOLUME, tiers=tiers), quantity) == amount


def test_volume_boundaries_start_after_the_previous_tier():
    result = charge_compute(charge=charge(ChargeModel.VOLUME, included=5, tiers=PAYG_STORAGE_VOLUME), quantity=305)

    assert result.slices == (
        TierSlice(first=101, last=1000, quantity=300, unit_amount=400, flat_amount=0, amount=120_000),
    )


def test_as_json_is_what_the_invoice_line_stores():
    pro = charge(ChargeModel.PACKAGE, included=100_000, unit=1_000, package=1_000)

    assert charge_compute(charge=pro, quantity=102_500).as_json() == {
        "quantity": 102_500,
        "included": 100_000,
        "billable": 2_500,
        "charge_model": "package",
        "unit_amount": 1_000,
        "package_size": 1_000,
        "amount": 3_000,
        "slices": [
            {"first": 1, "last": None, "quantity": 2_500, "unit_amount": 1_000, "flat_amount": 0, "amount": 3_000}
        ],
    }


def test_nothing_billable_is_an_empty_result():
    result = charge_compute(charge=charge(ChargeModel.GRADUATED, included=10, tiers=FLAT_TIERS), quantity=3)

    assert result == ChargeResult(
        quantity=3, included=10, billable=0, amount=0, slices=(), charge_model="graduated", package_size=1
    )
    assert result.as_json()["slices"] == []


@pytest.mark.parametrize(
    ("priced", "quantity"),
    [
        (charge(ChargeModel.PER_UNIT, unit=MAX_AMOUNT), 2),
        (charge(ChargeModel.PACKAGE, unit=MAX_AMOUNT // 2 + 1, package=10), 11),
        (
            charge(
                ChargeModel.GRADUATED,
                tiers=[
                    {"up_to": 1, "unit_amount": 0, "flat_amount": MAX_AMOUNT},
                    {"up_to": None, "unit_amount": 0, "flat_amount": 1},
                ],
            ),
            2,
        ),
        (charge(ChargeModel.VOLUME, tiers=[{"up_to": None, "unit_amount": 1_000, "flat_amount": 0}]), 10**12 + 1),
    ],
)
def test_an_amount_above_max_amount_is_refused(priced, quantity):
    with pytest.raises(ApplicationError) as error:
        charge_compute(charge=priced, quantity=quantity)

    assert error.value.code == "usage_amount_too_large"


def test_exactly_max_amount_is_allowed():
    assert amount_of(charge(ChargeModel.PER_UNIT, unit=MAX_AMOUNT), 1) == MAX_AMOUNT


@pytest.mark.parametrize("quantity", [-1, True, "5", 1.5])
def test_a_quantity_must_be_a_whole_number_of_at_least_zero(quantity):
    with pytest.raises(ApplicationError) as error:
        charge_compute(charge=charge(ChargeModel.PER_UNIT, unit=1), quantity=quantity)

    assert error.value.code == "invalid_quantity"


# --- tiers_validate ---------------------------------------------------------------------------------------


def test_tiers_validate_fills_flat_amount():
    assert tiers_validate([{"up_to": 5, "unit_amount": 1}, {"up_to": None, "unit_amount": 0}]) == [
        {"up_to": 5, "unit_amount": 1, "flat_amount": 0},
        {"up_to": None, "unit_amount": 0, "flat_amount": 0},
    ]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "non-empty list"),
        ("tiers", "non-empty list"),
        ({"up_to": None, "unit_amount": 1}, "non-empty list"),
        ([5], "tiers[0] must be a mapping"),
        ([{"up_to": 5, "unit_amount": 1}], "tiers[0].up_to must be null"),
        ([{"up_to": 0, "unit_amount": 1}, {"up_to": None, "unit_amount": 1}], "greater than 0"),
        (
            [{"up_to": 5, "unit_amount": 1}, {"up_to": 5, "unit_amount": 1}, {"up_to": None, "unit_amount": 1}],
            "tiers[1].up_to must be greater than 5",
        ),
        (
            [{"up_to": 9, "unit_amount": 1}, {"up_to": 5, "unit_amount": 1}, {"up_to": None, "unit_amount": 1}],
            "tiers[1].up_to must be greater than 9",
        ),
        ([{"up_to": None, "unit_amount": 1}, {"up_to": None, "unit_amount": 1}], "tiers[0].up_to must be a whole"),
        ([{"up_to": None, "unit_amount": -1}], "tiers[0].unit_amount must be a whole number >= 0"),
        ([{"up_to": None, "unit_amount": 1, "flat_amount": -5}], "tiers[0].flat_amount must be"),
        ([{"up_to": None, "unit_amount": 1.5}], "tiers[0].unit_amount must be a whole"),
        ([{"up_to": None, "unit_amount": True}], "tiers[0].unit_amount must be a whole"),
        ([{"up_to": 2.0, "unit_amount": 1}, {"up_to": None, "unit_amount": 1}], "tiers[0].up_to must be a whole"),
        ([{"up_to": None, "unit_amount": "3"}], "tiers[0].unit_amount must be a whole"),
        ([{"up_to": None}], "must have up_to and unit_amount"),
        ([{"unit_amount": 1}], "must have up_to and unit_amount"),
        ([{"up_to": None, "unit_amount": 1, "price": 2}], "unknown keys ['price']"),
        ([{"up_to": None, "unit_amount": MAX_AMOUNT + 1}], f"at most {MAX_AMOUNT}"),
    ],
)
def test_tiers_validate_refuses_bad_tiers_naming_the_tier(tiers, message):
    with pytest.raises(ApplicationError) as error:
        tiers_validate(tiers)

    assert error.value.code == "invalid_tiers"
    assert message in error.value.message


def test_charge_compute_refuses_stored_tiers_that_are_not_valid():
    broken = charge(ChargeModel.GRADUATED, tiers=[{"up_to": 5, "unit_amount": 1}])

    with pytest.raises(ApplicationError) as error:
        charge_compute(charge=broken, quantity=10)

    assert error.value.code == "invalid_tiers"


# --- invariants -------------------------------------------------------------------------------------------

AMOUNTS = st.integers(min_value=0, max_value=10_000)
QUANTITIES = st.integers(min_value=0, max_value=10**7)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=10**6), max_size=4)))
    return [{"up_to": up_to, "unit_amount": draw(AMOUNTS), "flat_amount": draw(AMOUNTS)} for up_to in [*bounds, None]]


@st.composite
def charges(draw: st.DrawFn) -> PlanCharge:
    model = draw(st.sampled_from(ChargeModel.values))
    return charge(
        model,
        included=draw(st.integers(min_value=0, max_value=10**6)),
        unit=draw(AMOUNTS),
        package=draw(st.integers(min_value=1, max_value=10_000)),
        tiers=draw(tier_lists()) if model in (ChargeModel.GRADUATED, ChargeModel.VOLUME) else [],
    )


@given(priced=charges(), quantity=QUANTITIES)
def test_the_amount_is_the_sum_of_the_slices_and_they_cover_the_billable_quantity(priced, quantity):
    result = charge_compute(charge=priced, quantity=quantity)

    assert result.amount == sum(piece.amount for piece in result.slices) >= 0
    assert sum(piece.quantity for piece in result.slices) == result.billable
    assert result.billable == max(0, quantity - priced.included_quantity)
    assert all(piece.quantity > 0 for piece in result.slices)


@given(priced=charges(), quantity=QUANTITIES)
def test_the_included_quantity_is_never_billed(priced, quantity):
    result = charge_compute(charge=priced, quantity=quantity)
    nothing_included = charge(
        priced.charge_model, unit=priced.unit_amount, package=priced.package_size, tiers=priced.tiers
    )

    if quantity <= priced.included_quantity:
        assert (result.amount, result.slices) == (0, ())
    # What is billed is exactly the same charge without an allowance, priced on the billable quantity alone.
    assert result.amount == amount_of(nothing_included, result.billable)


@given(tiers=tier_lists(), included=st.integers(0, 1_000), first=QUANTITIES, second=QUANTITIES)
def test_graduated_amounts_never_fall_as_the_quantity_grows(tiers, included, first, second):
    graduated = charge(ChargeModel.GRADUATED, included=included, tiers=tiers)
    low, high = sorted((first, second))

    assert amount_of(graduated, low) <= amount_of(graduated, high)


@given(tiers=tier_lists(), quantity=st.integers(min_value=1, max_value=2 * 10**6))
def test_volume_uses_exactly_the_one_tier_holding_the_quantity(tiers, quantity):
    result = charge_compute(charge=charge(ChargeModel.VOLUME, tiers=tiers), quantity=quantity)

    holding = next(tier for tier in tiers if tier["up_to"] is None or quantity <= tier["up_to"])
    (piece,) = result.slices
    assert (piece.quantity, piece.last, piece.unit_amount, piece.flat_amount) == (
        quantity,
        holding["up_to"],
        holding["unit_amount"],
        holding["flat_amount"],
    )
    assert result.amount == quantity * holding["unit_amount"] + holding["flat_amount"]


@given(
    unit=st.integers(min_value=0, max_value=MAX_AMOUNT),
    package=st.integers(min_value=1, max_value=10**6),
    quantity=st.integers(min_value=0, max_value=10**12),
    model=st.sampled_from([ChargeModel.PER_UNIT, ChargeModel.PACKAGE]),
)
def test_an_amount_is_never_above_max_amount(unit, package, quantity, model):
    priced = charge(model, unit=unit, package=package)
    expected = quantity * unit if model == ChargeModel.PER_UNIT else -(-quantity // package) * unit

    if expected > MAX_AMOUNT:
        with pytest.raises(ApplicationError, match="exceeds"):
            charge_compute(charge=priced, quantity=quantity)
    else:
        assert amount_of(priced, quantity) == expected
