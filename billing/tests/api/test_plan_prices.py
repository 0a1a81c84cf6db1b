"""GET /api/payment/plans?currency=: the plans sold in a currency at their prices in it; without it, as before plus
every currency's prices; an unsupported currency is 400, one no plan is sold in an empty list."""

import pytest
from rest_framework.test import APIClient

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.tests.factories import SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

SLUGS = ["free", "starter", "pro", "enterprise", "team", "payg"]


def plans_in(currency: str | None = None) -> list[dict]:
    query = {} if currency is None else {"currency": currency}
    response = APIClient().get("/api/payment/plans", query)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("currency", "monthly", "annual"),
    [("USD", 7_900, 79_000), ("EUR", 7_200, 72_000), ("JPY", 8_900, 89_000), ("KRW", 99_000, 990_000)],
)
def test_a_currency_shows_every_plan_at_its_price_in_it(plans, currency, monthly, annual):
    body = plans_in(currency)

    assert [plan["slug"] for plan in body] == SLUGS
    pro = body[2]
    assert (pro["currency"], pro["monthly_price"], pro["annual_price"]) == (currency, monthly, annual)
    # The *_krw mirrors are KRW amounts only.
    expected_krw = (monthly, annual) if currency == "KRW" else (None, None)
    assert (pro["monthly_price_krw"], pro["annual_price_krw"]) == expected_krw
    assert [price["currency"] for price in pro["prices"]] == ["EUR", "JPY", "KRW", "USD"]
    assert pro["features"][0] == "프로젝트 20개" and pro["name"] == "프로"


def test_per_seat_prices_are_per_seat_in_every_currency(plans):
    team = {plan["slug"]: plan for plan in plans_in("EUR")}["team"]

    assert (team["monthly_price"], team["annual_price"], team["per_seat"]) == (1_100, 11_000, True)


def test_without_a_currency_the_default_prices_are_shown_as_before(plans):
    default, krw = plans_in(), plans_in("KRW")

    assert default == krw
    assert {plan["currency"] for plan in default} == {"KRW"}


def test_only_plans_sold_in_the_currency_are_listed(plans):
    krw_only = SubscriptionPlanFactory.create(slug="local", monthly_price=5_000, display_order=1)
    in_dollars = SubscriptionPlanFactory.create(
        slug="dollars", currency="USD", monthly_price=1_000, annual_price=10_000, display_order=2
    )

    usd = [plan["slug"] for plan in plans_in("USD")]
    krw = [plan["slug"] for plan in plans_in("KRW")]

    assert usd == ["dollars", *SLUGS] and "local" not in usd
    assert krw == ["local", *SLUGS] and "dollars" not in krw
    dollars = plans_in()[1]
    assert (dollars["slug"], dollars["currency"], dollars["monthly_price"], dollars["monthly_price_krw"]) == (
        "dollars",
        "USD",
        1_000,
        None,
    )
    assert dollars["prices"] == [{"currency": "USD", "monthly_price": 1_000, "annual_price": 10_000}]
    assert krw_only.pk and in_dollars.pk


def test_a_supported_currency_no_plan_is_sold_in_is_an_empty_list(plans):
    assert plans_in("GBP") == []


def test_a_retired_plan_is_not_listed_in_any_currency(plans):
    SubscriptionPlan.objects.filter(slug="starter").update(is_active=False)

    assert "starter" not in [plan["slug"] for plan in plans_in("USD")]


@pytest.mark.parametrize("currency", ["XYZ", "usd", "", "US", "USDX", "₩"])
def test_an_unsupported_currency_is_400(plans, currency):
    response = APIClient().get("/api/payment/plans", {"currency": currency})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "currency" in error["fields"]


def test_the_plan_list_reads_prices_in_one_query_whatever_the_number_of_plans(plans, django_assert_num_queries):
    with django_assert_num_queries(2):  # the plans, then every plan's prices
        assert len(plans_in("USD")) == 6
    with django_assert_num_queries(2):
        assert len(plans_in()) == 6


def test_the_default_price_follows_the_plan_even_before_its_row_does(plans):
    # The admin edits the plan's own price; its currency's row is brought along by the admin (plan_default_price_sync).
    SubscriptionPlan.objects.filter(slug="pro").update(monthly_price=109_000)

    pro = plans_in()[2]

    assert pro["monthly_price"] == 109_000
    assert {"currency": "KRW", "monthly_price": 109_000, "annual_price": 990_000} in pro["prices"]
    assert PlanPrice.objects.get(plan__slug="pro", currency="KRW").monthly_price == 99_000


def test_the_schema_documents_the_currency_parameter_and_the_prices(plans):
    schema = APIClient().get("/api/schema?format=json").json()

    operation = schema["paths"]["/api/payment/plans"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "currency"]
    assert parameter["in"] == "query" and not parameter.get("required", False)
    assert set(parameter["schema"]["enum"]) >= {"KRW", "USD", "EUR", "JPY"}
    assert "400" in operation["responses"]
    assert "prices" in schema["components"]["schemas"]["Plan"]["required"]
