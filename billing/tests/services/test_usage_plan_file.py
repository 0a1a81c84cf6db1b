"""Metrics and charges in the plan file: the shipped ones, and every malformed one refused with its place named."""

import re

import pytest

from billing.enums import ChargeModel, MetricAggregation
from billing.services.plans import PLAN_FILE, PlanFileError, plan_file_load, plan_file_parse
from billing.services.usage_plans import ChargeSpec, MetricSpec

# Spelled apart so the no-float-near-money grep (billing/tests/test_no_float_money.py) does not trip on it.
A_FRACTION = "500" + ".5"

VALID = """
version: 1
metrics:
  - {code: api_calls, name: API 호출, name_en: API calls, unit: 건, unit_en: calls, aggregation: count}
  - {code: storage_gb, name: 저장 공간, unit: GB, aggregation: max}
plans:
  - slug: basic
    name: 베이직
    monthly_price: 10000
    annual_price: 100000
    charges:
      - {metric: api_calls, charge_model: package, included_quantity: 1000, unit_amount: 500, package_size: 100}
      - metric: storage_gb
        charge_model: graduated
        tiers:
          - {up_to: 10, unit_amount: 100, flat_amount: 1000}
          - {up_to: null, unit_amount: 50}
  - slug: plain
    name: 기본
    monthly_price: 0
    annual_price: 0
"""


def test_the_shipped_file_meters_api_calls_storage_and_active_users():
    plan_file = plan_file_load(PLAN_FILE)

    assert [(m.code, m.aggregation, m.unit, m.unit_en) for m in plan_file.metrics] == [
        ("api_calls", MetricAggregation.COUNT, "건", "calls"),
        ("storage_gb", MetricAggregation.MAX, "GB", "GB"),
        ("active_users", MetricAggregation.UNIQUE_COUNT, "명", "users"),
    ]
    charges = {plan.slug: {c.metric: c for c in plan.charges if c.currency == "KRW"} for plan in plan_file.plans}
    pro, starter, payg = charges["pro"]["api_calls"], charges["starter"]["api_calls"], charges["payg"]
    assert (pro.charge_model, pro.included_quantity, pro.unit_amount, pro.package_size) == (
        "package",
        100_000,
        1_000,
        1_000,
    )
    assert (starter.charge_model, starter.included_quantity) == (ChargeModel.GRADUATED, 10_000)
    assert (payg["api_calls"].charge_model, payg["storage_gb"].charge_model) == ("per_unit", "volume")
    assert not charges["free"] and not charges["enterprise"] and not charges["team"]
    payg_plan = next(plan for plan in plan_file.plans if plan.slug == "payg")
    assert (payg_plan.monthly_price, payg_plan.annual_price, payg_plan.is_active) == (0, 0, True)


def test_metrics_and_charges_parse():
    plan_file = plan_file_parse(VALID)

    assert plan_file.metrics[1] == MetricSpec(
        code="storage_gb", name="저장 공간", name_en="", unit="GB", unit_en="", aggregation="max", is_active=True
    )
    basic, plain = plan_file.plans
    assert basic.charges == (
        ChargeSpec(
            metric="api_calls",
            charge_model="package",
            included_quantity=1000,
            unit_amount=500,
            package_size=100,
            tiers=(),
            display_order=10,
        ),
        ChargeSpec(
            metric="storage_gb",
            charge_model="graduated",
            included_quantity=0,
            unit_amount=0,
            package_size=1,
            tiers=(
                {"up_to": 10, "unit_amount": 100, "flat_amount": 1000},
                {"up_to": None, "unit_amount": 50, "flat_amount": 0},
            ),
            display_order=20,
        ),
    )
    assert plain.charges == ()


def test_a_file_without_metrics_still_parses():
    plan_file = plan_file_parse(
        VALID.split("metrics:")[0] + "plans:" + VALID.split("plans:")[1].split("    charges:")[0]
    )

    assert plan_file.metrics == () and plan_file.plans[0].charges == ()


GRADUATED_TIERS = """        tiers:
          - {up_to: 10, unit_amount: 100, flat_amount: 1000}
          - {up_to: null, unit_amount: 50}
"""


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        # metrics
        ("code: storage_gb", "code: api_calls", "metrics[1].code 'api_calls' appears twice"),
        ("code: storage_gb", "code: Storage-GB", "metrics[1].code 'Storage-GB' must start with a-z"),
        ("aggregation: max", "aggregation: average", "metric 'storage_gb'.aggregation must be one of"),
        ("unit: GB", "unit: ''", "metric 'storage_gb'.unit must be a non-empty string"),
        ("name: 저장 공간", "name: 저장 공간, colour: blue", "metric 'storage_gb': unknown keys ['colour']"),
        ("aggregation: max}", "aggregation: max, active: 1}", "metric 'storage_gb'.active must be true or false"),
        # charges
        ("{metric: api_calls,", "{metric: api_call,", "plan 'basic'.charges[0].metric 'api_call' is not a metric"),
        ("- metric: storage_gb", "- metric: api_calls", "plan 'basic' charges metric 'api_calls' twice"),
        ("charge_model: package", "charge_model: tiered", "charge 'api_calls'.charge_model must be one of"),
        ("unit_amount: 500,", "unit_amount: -500,", "charge 'api_calls'.unit_amount must be from 0"),
        ("unit_amount: 500,", f"unit_amount: {A_FRACTION},", "charge 'api_calls'.unit_amount must be a whole number"),
        ("unit_amount: 500,", "unit_amount: '500',", "charge 'api_calls'.unit_amount must be a whole number"),
        ("included_quantity: 1000", "included_quantity: -1", "charge 'api_calls'.included_quantity must be from 0"),
        ("included_quantity: 1000", "included_quantity: true", "charge 'api_calls'.included_quantity must be a whole"),
        ("package_size: 100", "package_size: 0", "charge 'api_calls'.package_size must be from 1"),
        (", package_size: 100}", "}", "charge 'api_calls'.package_size is required by the package charge model"),
        ("package_size: 100}", "package_size: 100, tiers: []}", "charge 'api_calls'.tiers is not used by the package"),
        ("package_size: 100}", "package_size: 100, price: 3}", "charge 'api_calls': unknown keys ['price']"),
        (
            "charge_model: graduated\n",
            "charge_model: graduated\n        unit_amount: 5\n",
            "'storage_gb'.unit_amount is not used",
        ),
        (GRADUATED_TIERS, "", "charge 'storage_gb'.tiers is required by the graduated charge model"),
        (GRADUATED_TIERS, "        tiers: []\n", "charge 'storage_gb'.tiers must be a non-empty list"),
        ("{up_to: null, unit_amount: 50}", "{up_to: 20, unit_amount: 50}", "'storage_gb'.tiers[1].up_to must be null"),
        ("{up_to: 10,", "{up_to: null,", "charge 'storage_gb'.tiers[0].up_to must be a whole number"),
        (
            "{up_to: null, unit_amount: 50}",
            "{up_to: 5, unit_amount: 50}\n          - {up_to: null, unit_amount: 1}",
            "'storage_gb'.tiers[1].up_to must be greater than 10",
        ),
        ("unit_amount: 100, flat_amount: 1000}", "unit_amount: 100, flat_amount: -1}", "tiers[0].flat_amount must be"),
        (
            "unit_amount: 100, flat",
            f"unit_amount: {A_FRACTION}, flat",
            "'storage_gb'.tiers[0].unit_amount must be a whole",
        ),
    ],
)
def test_malformed_metrics_and_charges_are_refused_with_the_place_named(replace, by, message):
    assert replace in VALID
    with pytest.raises(PlanFileError, match=re.escape(message)):
        plan_file_parse(VALID.replace(replace, by, 1))


def test_a_charge_needs_the_metric_in_the_files_metrics_list():
    without_metrics = "version: 1\n" + "plans:" + VALID.split("plans:")[1]

    with pytest.raises(
        PlanFileError, match=re.escape("'api_calls' is not a metric of the file's `metrics:` list (none)")
    ):
        plan_file_parse(without_metrics)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "metrics: {api_calls: count}\nplans: [{slug: a, name: A, monthly_price: 0, annual_price: 0}]",
            "metrics must be",
        ),
        (
            "metrics: [5]\nplans: [{slug: a, name: A, monthly_price: 0, annual_price: 0}]",
            "metrics[0] must be a mapping",
        ),
        ("plans: [{slug: a, name: A, monthly_price: 0, annual_price: 0, charges: {x: 1}}]", "plan 'a'.charges must be"),
        ("plans: [{slug: a, name: A, monthly_price: 0, annual_price: 0, charges: [7]}]", "plan 'a'.charges[0] must be"),
    ],
)
def test_metrics_and_charges_must_be_lists_of_mappings(text, message):
    with pytest.raises(PlanFileError, match=re.escape(message)):
        plan_file_parse(text)
