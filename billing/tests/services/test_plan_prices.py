"""A plan's prices per currency: the plan file's `prices` (and its charges' per currency), their sync to PlanPrice and
PlanCharge rows, `plan_price_in`, and usage priced by the charges in the subscription's currency."""

import re

import pytest
from django.utils import timezone

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.usage import PlanCharge
from billing.selectors.plans import plan_list_active, plan_price_in, plan_prices
from billing.services.plans import PlanFileError, plan_default_price_sync, plan_file_parse, plans_sync
from billing.services.usage_invoicing import plan_metered, usage_lines
from billing.services.usage_reads import usage_report_of
from billing.tests.factories import (
    BillableMetricFactory,
    CustomerFactory,
    PlanChargeFactory,
    SubscriptionFactory,
    SubscriptionPlanFactory,
    UsageRollupFactory,
)
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

FILE = """
version: 1
currency: KRW
metrics:
  - {code: api_calls, name: API 호출, unit: 건, aggregation: count}
plans:
  - slug: pro
    name: 프로
    prices:
      KRW: {monthly: 99000, annual: 990000}
      USD: {monthly: 7900, annual: 79000}
      JPY: {monthly: 8900, annual: 89000}
    charges:
      - metric: api_calls
        charge_model: package
        included_quantity: 1000
        package_size: 100
        prices:
          KRW: {unit_amount: 100}
          USD: {unit_amount: 8}
          JPY: {charge_model: per_unit, unit_amount: 1}
  - slug: dollars
    name: 달러
    currency: USD
    prices:
      USD: {monthly: 1000, annual: 10000}
"""


def parsed(text: str = FILE):
    return {plan.slug: plan for plan in plan_file_parse(text).plans}


# --- the file -----------------------------------------------------------------------------------------


def test_prices_per_currency_parse_with_the_default_first_and_its_price_on_the_plan():
    plans = parsed()

    pro, dollars = plans["pro"], plans["dollars"]
    assert [(p.currency, p.monthly_price, p.annual_price) for p in pro.prices] == [
        ("KRW", 99_000, 990_000),
        ("USD", 7_900, 79_000),
        ("JPY", 8_900, 89_000),
    ]
    assert (pro.currency, pro.monthly_price, pro.annual_price) == ("KRW", 99_000, 990_000)
    assert (dollars.currency, dollars.monthly_price, [p.currency for p in dollars.prices]) == ("USD", 1_000, ["USD"])


def test_a_charge_is_one_spec_per_currency_sharing_what_is_not_money():
    charges = {charge.currency: charge for charge in parsed()["pro"].charges}

    assert set(charges) == {"KRW", "USD", "JPY"}
    assert (charges["KRW"].charge_model, charges["KRW"].unit_amount, charges["KRW"].package_size) == (
        "package",
        100,
        100,
    )
    assert (charges["USD"].charge_model, charges["USD"].unit_amount, charges["USD"].package_size) == ("package", 8, 100)
    assert (charges["JPY"].charge_model, charges["JPY"].unit_amount, charges["JPY"].package_size) == ("per_unit", 1, 1)
    assert {c.included_quantity for c in charges.values()} == {1000}
    assert {c.display_order for c in charges.values()} == {10}


def test_an_older_file_with_one_price_per_plan_still_loads():
    plans = parsed(
        """
version: 3
currency: KRW
metrics:
  - {code: api_calls, name: API 호출, unit: 건, aggregation: count}
plans:
  - slug: old
    name: 예전
    monthly_price: 29000
    annual_price: 290000
    charges:
      - {metric: api_calls, charge_model: per_unit, unit_amount: 2}
  - slug: mixed
    name: 섞음
    monthly_price: 10000
    annual_price: 100000
    prices:
      USD: {monthly: 800, annual: 8000}
"""
    )

    assert [(p.currency, p.monthly_price) for p in plans["old"].prices] == [("KRW", 29_000)]
    (charge,) = plans["old"].charges
    assert (charge.currency, charge.charge_model, charge.unit_amount) == ("KRW", "per_unit", 2)
    assert [(p.currency, p.monthly_price) for p in plans["mixed"].prices] == [("KRW", 10_000), ("USD", 800)]


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("      JPY: {monthly: 8900, annual: 89000}\n", "      jpy: {monthly: 8900, annual: 89000}\n", "'jpy' is not"),
        ("      JPY: {monthly: 8900, annual: 89000}\n", "      XYZ: {monthly: 8900, annual: 89000}\n", "'XYZ' is not"),
        ("{monthly: 7900, annual: 79000}", "{monthly: 7900}", "plan 'pro'.prices.USD must have exactly the keys"),
        ("{monthly: 7900, annual: 79000}", "{monthly: -1, annual: 79000}", "plan 'pro'.prices.USD.monthly must be"),
        ("{monthly: 7900, annual: 79000}", "{monthly: '7900', annual: 79000}", ".prices.USD.monthly must be a whole"),
        ("      KRW: {monthly: 99000, annual: 990000}\n", "", "plan 'pro'.prices has no KRW price"),
        ("    name: 프로\n", "    name: 프로\n    monthly_price: 99000\n    annual_price: 990000\n", "already given"),
        ("      USD: {monthly: 1000, annual: 10000}\n", "      {}\n", "plan 'dollars'.prices must map currencies"),
        ("          USD: {unit_amount: 8}\n", "", "charge 'api_calls' has no price in USD, which the plan is sold in"),
        (
            "          USD: {unit_amount: 8}\n",
            "          USD: {unit_amount: 8}\n          EUR: {unit_amount: 7}\n",
            "not sold in 'EUR'",
        ),
        (
            "        package_size: 100\n",
            "        package_size: 100\n        unit_amount: 100\n",
            "unit_amount goes under `prices`",
        ),
        (
            "          USD: {unit_amount: 8}",
            "          USD: {unit_amount: 8, colour: blue}",
            "prices.USD: unknown keys ['colour']",
        ),
        ("          USD: {unit_amount: 8}", "          USD: {charge_model: graduated}", "prices.USD.tiers is required"),
        (
            "          USD: {unit_amount: 8}",
            "          USD: {unit_amount: 8, tiers: []}",
            "prices.USD.tiers is not used",
        ),
    ],
)
def test_malformed_prices_are_refused_with_the_place_named(replace, by, message):
    assert replace in FILE

    with pytest.raises(PlanFileError, match=re.escape(message)):
        plan_file_parse(FILE.replace(replace, by, 1))


def test_an_older_charge_on_a_plan_sold_in_several_currencies_must_give_its_prices_per_currency():
    text = FILE.replace(
        """        package_size: 100
        prices:
          KRW: {unit_amount: 100}
          USD: {unit_amount: 8}
          JPY: {charge_model: per_unit, unit_amount: 1}
""",
        "        package_size: 100\n        unit_amount: 100\n",
    )

    with pytest.raises(
        PlanFileError, match=re.escape("needs `prices` per currency: the plan is sold in KRW, USD, JPY")
    ):
        plan_file_parse(text)


# --- the sync ------------------------------------------------------------------------------------------


def test_the_sync_writes_a_row_per_currency_and_a_charge_per_currency_then_changes_nothing():
    first = plans_sync(plan_file=plan_file_parse(FILE))
    second = plans_sync(plan_file=plan_file_parse(FILE))

    rows = set(PlanPrice.objects.values_list("plan__slug", "currency", "monthly_price", "annual_price"))
    assert rows == {
        ("pro", "KRW", 99_000, 990_000),
        ("pro", "USD", 7_900, 79_000),
        ("pro", "JPY", 8_900, 89_000),
        ("dollars", "USD", 1_000, 10_000),
    }
    charges = set(PlanCharge.objects.values_list("plan__slug", "currency", "charge_model", "unit_amount"))
    assert charges == {("pro", "KRW", "package", 100), ("pro", "USD", "package", 8), ("pro", "JPY", "per_unit", 1)}
    assert first.price_count("create") == 4 and first.price_changes[0].describe() == (
        "  + price pro/KRW: create (monthly 99000, annual 990000)"
    )
    assert not second.changed and second.warnings == ()
    assert SubscriptionPlan.objects.get(slug="dollars").currency == "USD"


def test_a_changed_price_updates_its_row_and_keeps_its_stripe_ids():
    plans_sync(plan_file=plan_file_parse(FILE))
    PlanPrice.objects.filter(plan__slug="pro", currency="USD").update(
        stripe_monthly_price_id="price_usd_m", stripe_annual_price_id="price_usd_y"
    )

    report = plans_sync(plan_file=plan_file_parse(FILE.replace("monthly: 7900", "monthly: 8900")))

    usd = PlanPrice.objects.get(plan__slug="pro", currency="USD")
    assert (usd.monthly_price, usd.stripe_monthly_price_id, usd.stripe_annual_price_id) == (
        8_900,
        "price_usd_m",
        "price_usd_y",
    )
    assert [c.describe() for c in report.price_changes] == ["  ~ price pro/USD: monthly_price 7900 -> 8900"]
    assert report.changes == ()  # the plan's own (KRW) price did not change


def test_a_dry_run_writes_no_price():
    report = plans_sync(plan_file=plan_file_parse(FILE), dry_run=True)

    assert report.price_count("create") == 4
    assert not PlanPrice.objects.exists() and not PlanCharge.objects.exists()


def test_a_dropped_currency_goes_unless_a_subscription_pays_in_it():
    plans_sync(plan_file=plan_file_parse(FILE))
    pro = SubscriptionPlan.objects.get(slug="pro")
    SubscriptionFactory(customer=CustomerFactory(currency="JPY"), plan=pro, currency="JPY", price_amount=8_900)
    without = FILE.replace("      USD: {monthly: 7900, annual: 79000}\n", "").replace(
        "      JPY: {monthly: 8900, annual: 89000}\n", ""
    )
    without = without.replace("          USD: {unit_amount: 8}\n", "").replace(
        "          JPY: {charge_model: per_unit, unit_amount: 1}\n", ""
    )

    report = plans_sync(plan_file=plan_file_parse(without))

    assert set(PlanPrice.objects.filter(plan=pro).values_list("currency", flat=True)) == {"KRW", "JPY"}
    assert set(PlanCharge.objects.filter(plan=pro).values_list("currency", flat=True)) == {"KRW", "JPY"}
    assert [c.describe() for c in report.price_changes] == [
        "  - price pro/USD: remove (not in the file)",
        "  - price pro/JPY: no longer sold (not in the file; its subscriptions keep it)",
    ]
    assert PlanPrice.objects.get(plan=pro, currency="JPY").active is False  # kept for them, sold to nobody new
    assert "price pro/JPY is not in the file, but plan 'pro' has 1 subscription(s) in JPY: kept." in report.warnings
    assert (
        "charge pro/api_calls/JPY is not in the file, but plan 'pro' has 1 subscription(s) in JPY: kept."
        in report.warnings
    )


def test_the_admins_default_price_sync_brings_the_row_along():
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, annual_price=100_000)
    plan.monthly_price = 12_000
    plan.save()

    row = plan_default_price_sync(plan=plan)

    assert (row.currency, row.monthly_price, row.annual_price) == ("KRW", 12_000, 100_000)
    assert PlanPrice.objects.filter(plan=plan).count() == 1
    PlanPrice.objects.filter(plan=plan).delete()
    assert plan_default_price_sync(plan=plan).pk is not None  # a plan without one gets it


# --- reads ---------------------------------------------------------------------------------------------


def test_plan_price_in_answers_the_row_or_currency_mismatch():
    plan = SubscriptionPlanFactory.create(slug="basic", monthly_price=10_000, prices={"USD": (800, 8_000)})

    usd = plan_price_in(plan=plan, currency="USD")
    krw = plan_price_in(plan=plan, currency="KRW")
    with pytest.raises(ApplicationError) as refused:
        plan_price_in(plan=plan, currency="JPY")

    assert (usd.currency, usd.monthly_price, usd.annual_price, usd.price_for("annual")) == ("USD", 800, 8_000, 8_000)
    assert (krw.currency, krw.monthly_price) == ("KRW", 10_000)
    assert (refused.value.code, refused.value.status_code) == ("currency_mismatch", 409)
    assert refused.value.message == "Plan basic has no price in JPY."


def test_the_default_price_is_the_plans_own_with_or_without_its_row():
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, annual_price=100_000)
    SubscriptionPlan.objects.filter(pk=plan.pk).update(monthly_price=11_000)
    plan.refresh_from_db()

    assert plan_price_in(plan=plan, currency="KRW").monthly_price == 11_000
    PlanPrice.objects.filter(plan=plan).delete()
    plan = SubscriptionPlan.objects.get(pk=plan.pk)
    assert plan_price_in(plan=plan, currency="KRW").monthly_price == 11_000
    assert [(p.currency, p.monthly_price) for p in plan_prices(plan=plan)] == [("KRW", 11_000)]


def test_plan_list_active_prefetches_prices_and_filters_by_currency(django_assert_num_queries):
    SubscriptionPlanFactory.create(slug="a", prices={"USD": (800, 8_000)})
    SubscriptionPlanFactory.create(slug="b")

    with django_assert_num_queries(2):
        listed = {plan.slug: [p.currency for p in plan_prices(plan=plan)] for plan in plan_list_active("USD")}

    assert listed == {"a": ["KRW", "USD"]}
    assert [plan.slug for plan in plan_list_active("KRW")] == ["a", "b"]


# --- usage in the subscription's currency ---------------------------------------------------------------


@pytest.fixture
def metered_in_two_currencies():
    """A plan charging API calls in KRW (₩10 each) and USD (1 cent each), both over 1,000 included."""
    plan = SubscriptionPlanFactory.create(prices={"USD": (800, 8_000)})
    metric = BillableMetricFactory.create(code="calls")
    PlanChargeFactory.create(plan=plan, metric=metric, currency="KRW", unit_amount=10)
    PlanChargeFactory.create(plan=plan, metric=metric, currency="USD", unit_amount=1)
    return plan, metric


@pytest.mark.parametrize(("currency", "amount"), [("KRW", 5_000 * 10), ("USD", 5_000 * 1)])
def test_usage_is_priced_by_the_charges_in_the_subscriptions_currency(metered_in_two_currencies, currency, amount):
    plan, metric = metered_in_two_currencies
    customer = CustomerFactory(currency=currency)
    subscription = SubscriptionFactory(
        customer=customer,
        plan=plan,
        currency=currency,
        price_amount=plan_price_in(plan=plan, currency=currency).monthly_price,
    )
    UsageRollupFactory(customer=customer, metric=metric, event_count=6_000)

    (line,) = usage_lines(subscription=subscription, period=subscription.current_period, language="en")
    report = usage_report_of(subscription=subscription, language="en", now=timezone.now())

    assert line.unit_amount == amount and line.usage["quantity"] == 6_000
    assert report.currency == currency
    (summary,) = report.metrics
    assert (summary.currency, summary.projected_amount, summary.charge.currency) == (currency, amount, currency)
    assert plan_metered(plan.pk, currency=currency)


def test_a_subscription_in_a_currency_the_plan_charges_nothing_in_is_not_metered(metered_in_two_currencies):
    plan, metric = metered_in_two_currencies
    PlanPrice.objects.create(plan=plan, currency="EUR", monthly_price=700, annual_price=7_000)
    customer = CustomerFactory(currency="EUR")
    subscription = SubscriptionFactory(customer=customer, plan=plan, currency="EUR", price_amount=700)
    UsageRollupFactory(customer=customer, metric=metric, event_count=6_000)

    assert usage_lines(subscription=subscription, period=subscription.current_period, language="en") == []
    assert usage_report_of(subscription=subscription, language="en").metrics == []
    assert not plan_metered(plan.pk, currency="EUR")
