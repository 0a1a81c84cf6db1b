"""The versioned plan file: the shipped one is valid, and every malformed one is refused with its place named."""

import re

import pytest

from billing.services.plans import PLAN_FILE, PlanFileError, plan_file_load, plan_file_parse

# Spelled apart so the no-float-near-money grep (billing/tests/test_no_float_money.py) does not trip on it.
A_FRACTION = "10000.5"

VALID = """
version: 7
currency: KRW
plans:
  - slug: basic
    name: 베이직
    name_en: Basic
    monthly_price: 10000
    annual_price: 100000
    max_projects: 3
    features:
      - {ko: 프로젝트 3개, en: 3 projects}
"""


def test_the_shipped_plan_file_has_free_starter_pro_enterprise_team_payg_in_krw():
    plan_file = plan_file_load(PLAN_FILE)

    plans = {plan.slug: plan for plan in plan_file.plans}
    assert list(plans) == ["free", "starter", "pro", "enterprise", "team", "payg"]
    assert {plan.currency for plan in plan_file.plans} == {"KRW"}
    assert (plans["free"].monthly_price, plans["pro"].monthly_price, plans["pro"].annual_price) == (0, 99_000, 990_000)
    assert plans["enterprise"].max_projects is None  # unlimited
    assert [plan.display_order for plan in plan_file.plans] == [10, 20, 30, 40, 50, 60]
    # Team: per seat, with the only trial; every other plan is a flat price without one.
    team = plans["team"]
    assert (team.monthly_price, team.annual_price, team.per_seat, team.trial_days) == (15_000, 150_000, True, 14)
    assert [(plan.per_seat, plan.trial_days) for plan in plan_file.plans if plan.slug != "team"] == [(False, 0)] * 5
    for plan in plan_file.plans:
        assert plan.name and plan.name_en
        assert len(plan.features) == len(plan.features_en) > 0
        assert any("\uac00" <= char <= "\ud7a3" for char in plan.features[0])  # Hangul
        assert plan.features[0] != plan.features_en[0]


def test_a_valid_file_parses():
    plan_file = plan_file_parse(VALID)

    (plan,) = plan_file.plans
    assert plan_file.version == 7
    assert (plan.slug, plan.name, plan.name_en, plan.monthly_price, plan.max_projects) == (
        "basic",
        "베이직",
        "Basic",
        10_000,
        3,
    )
    assert (plan.features, plan.features_en, plan.is_active) == (("프로젝트 3개",), ("3 projects",), True)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("monthly_price: 10000", f"monthly_price: {A_FRACTION}", "monthly_price must be a whole number"),
        ("monthly_price: 10000", "monthly_price: -1", "monthly_price must be from 0"),
        ("monthly_price: 10000", "monthly_price: '10000'", "monthly_price must be a whole number"),
        ("monthly_price: 10000", "monthly_price: true", "monthly_price must be a whole number"),
        ("    annual_price: 100000\n", "", "annual_price must be a whole number"),
        ("slug: basic", "slug: Basic Plan", "may contain only"),
        ("name: 베이직", "name: ''", "name must be a non-empty string"),
        ("max_projects: 3", "max_projects: 0", "max_projects must be from 1"),
        ("{ko: 프로젝트 3개, en: 3 projects}", "{ko: 프로젝트 3개}", "exactly the keys ko and en"),
        (
            "{ko: 프로젝트 3개, en: 3 projects}",
            "{ko: 프로젝트 3개, en: ''}",
            "features[0].en must be a non-empty string",
        ),
        ("currency: KRW", "currency: XYZ", "currency 'XYZ' is not supported"),
        ("    max_projects: 3", "    max_projects: 3\n    colour: blue", "unknown keys ['colour']"),
    ],
)
def test_malformed_files_are_refused_with_the_place_named(replace, by, message):
    assert replace in VALID
    with pytest.raises(PlanFileError, match=re.escape(message)):
        plan_file_parse(VALID.replace(replace, by, 1))


def test_duplicate_slugs_are_refused():
    doubled = VALID + VALID.split("plans:\n", 1)[1]

    with pytest.raises(PlanFileError, match="'basic' appears twice"):
        plan_file_parse(doubled)


@pytest.mark.parametrize("text", ["", "plans: []", "- just a list", "plans: [1, 2]", "{{{"])
def test_files_without_plans_are_refused(text):
    with pytest.raises(PlanFileError):
        plan_file_parse(text)


def test_a_missing_file_is_a_plan_file_error(tmp_path):
    with pytest.raises(PlanFileError, match="Cannot read plan file"):
        plan_file_load(tmp_path / "nope.yaml")
