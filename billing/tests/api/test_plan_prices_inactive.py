"""A plan price no longer sold (PlanPrice.active false: dropped from the plan file, kept for the subscriptions in its
currency) through the API: GET /api/payment/plans leaves it out (no new field: customers only ever see prices on
sale) and POST /api/payment/subscribe refuses it with 409 `currency_mismatch`."""

import pytest
from rest_framework.test import APIClient

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription

pytestmark = pytest.mark.django_db

SLUGS = ["free", "starter", "pro", "enterprise", "team", "payg"]


@pytest.fixture
def pro_not_in_yen(plans: dict[str, SubscriptionPlan]) -> dict[str, SubscriptionPlan]:
    PlanPrice.objects.filter(plan__slug="pro", currency="JPY").update(active=False)
    return plans


def plans_in(currency: str | None = None) -> list[dict]:
    query = {} if currency is None else {"currency": currency}
    response = APIClient().get("/api/payment/plans", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_currency_list_leaves_out_a_plan_no_longer_sold_in_it(pro_not_in_yen):
    assert [plan["slug"] for plan in plans_in("JPY")] == [slug for slug in SLUGS if slug != "pro"]
    assert [plan["slug"] for plan in plans_in("USD")] == SLUGS


def test_the_default_list_shows_only_the_prices_still_sold_with_no_new_field(pro_not_in_yen):
    pro = {plan["slug"]: plan for plan in plans_in()}["pro"]
    starter = {plan["slug"]: plan for plan in plans_in()}["starter"]

    assert [price["currency"] for price in pro["prices"]] == ["EUR", "KRW", "USD"]
    assert [price["currency"] for price in starter["prices"]] == ["EUR", "JPY", "KRW", "USD"]
    assert {key for price in pro["prices"] for key in price} == {"currency", "monthly_price", "annual_price"}


def test_subscribing_in_a_currency_the_plan_is_no_longer_sold_in_is_409(pro_not_in_yen, customer_client, customer):
    response = customer_client.post(
        "/api/payment/subscribe", {"plan": "pro", "billing_period": "monthly", "currency": "JPY"}, format="json"
    )

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("currency_mismatch", "Plan pro is not sold in JPY any more.")
    assert not Subscription.objects.filter(customer=customer).exists()
    customer.refresh_from_db()
    assert customer.currency == "KRW"


def test_a_yen_subscriber_changing_to_it_is_409_and_keeps_its_plan(pro_not_in_yen, customer_client, customer):
    first = customer_client.post(
        "/api/payment/subscribe", {"plan": "starter", "billing_period": "monthly", "currency": "JPY"}, format="json"
    )
    assert first.status_code == 201, first.content

    response = customer_client.post(
        "/api/payment/subscribe", {"plan": "pro", "billing_period": "monthly"}, format="json"
    )

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "currency_mismatch"
    (subscription,) = Subscription.objects.filter(customer=customer)
    assert (subscription.plan.slug, subscription.currency) == ("starter", "JPY")
