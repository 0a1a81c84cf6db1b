"""GET /api/usage: the current period's usage per charged metric, the caller's own with a token, any customer's with
an API key holding entitlements:read; and the same `usage` in GET /api/payment/entitlements."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing.enums import ApiKeyScope, MetricAggregation
from billing.models.subscriptions import SubscriptionStatus
from billing.periods import billing_date, billing_day_start
from billing.services.api_keys import api_key_create, api_key_revoke
from billing.services.usage_reads import usage_current
from billing.tests.factories import (
    BillableMetricFactory,
    PlanChargeFactory,
    SubscriptionFactory,
    SubscriptionPlanFactory,
    UsageRollupFactory,
)

pytestmark = pytest.mark.django_db

USAGE = "/api/usage"
ENTITLEMENTS = "/api/payment/entitlements"
NO_USAGE: dict[str, Any] = {"period_start": None, "period_end": None, "currency": None, "metrics": []}


@pytest.fixture
def api_calls():
    return BillableMetricFactory.create(
        code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls"
    )


@pytest.fixture
def metered_plan(api_calls):
    """1,000 API calls included a period, ₩10 each beyond; and storage (largest value), 10 GB included, ₩500 per GB."""
    plan = SubscriptionPlanFactory.create(slug="metered", name="종량", name_en="Metered")
    storage = BillableMetricFactory.create(
        code="storage_gb", name="저장 공간", name_en="Storage", unit="GB", unit_en="GB", aggregation="max"
    )
    PlanChargeFactory.create(plan=plan, metric=api_calls, included_quantity=1_000, unit_amount=10, display_order=1)
    PlanChargeFactory.create(plan=plan, metric=storage, included_quantity=10, unit_amount=500, display_order=2)
    return plan


@pytest.fixture
def subscribed(customer, metered_plan):
    """The customer's subscription to the metered plan, its period starting today (Asia/Seoul)."""
    return SubscriptionFactory.create(customer=customer, plan=metered_plan)


def calls(customer, metric, count: int, **extra):
    """`count` events this hour (or at `hour=`), as the ingestion's rollup would hold them."""
    return UsageRollupFactory.create(customer=customer, metric=metric, event_count=count, **extra)


def key_client(*scopes: str, actor) -> APIClient:
    _, key = api_key_create(name="SaaS backend", scopes=list(scopes), expires_at=None, actor=actor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def reader(superuser) -> APIClient:
    return key_client(ApiKeyScope.ENTITLEMENTS_READ, actor=superuser)


def metric(body, code):
    (found,) = [entry for entry in body["metrics"] if entry["code"] == code]
    return found


# --- the customer's own -----------------------------------------------------------------------------------------


def test_the_current_period_per_charged_metric(customer_client, customer, subscribed, api_calls):
    calls(customer, api_calls, 1_200)

    response = customer_client.get(USAGE)

    assert response.status_code == 200
    assert response.json() == {
        "period_start": subscribed.current_period_start.isoformat(),
        "period_end": subscribed.current_period_end.isoformat(),
        "currency": "KRW",
        "metrics": [
            {
                "code": "api_calls",
                "name": "API 호출",
                "unit": "건",
                "quantity": 1_200,
                "included": 1_000,
                "billable": 200,
                "projected_amount": 2_000,
            },
            {
                "code": "storage_gb",
                "name": "저장 공간",
                "unit": "GB",
                "quantity": 0,
                "included": 10,
                "billable": 0,
                "projected_amount": 0,
            },
        ],
    }


def test_names_and_units_follow_the_language(customer_client, customer, subscribed, api_calls):
    body = customer_client.get(USAGE, headers={"Accept-Language": "en"}).json()

    assert (metric(body, "api_calls")["name"], metric(body, "api_calls")["unit"]) == ("API calls", "calls")


def test_only_the_current_period_counts(customer_client, customer, subscribed, api_calls):
    period_start = billing_day_start(subscribed.current_period_start)
    calls(customer, api_calls, 7, hour=period_start)  # the first hour of the period
    calls(customer, api_calls, 500, hour=period_start - timedelta(hours=1))  # the last hour before it

    assert metric(customer_client.get(USAGE).json(), "api_calls")["quantity"] == 7


def test_another_customers_usage_is_never_the_callers(
    customer_client, customer, subscribed, api_calls, other_customer, other_customer_client
):
    calls(customer, api_calls, 1_200)
    SubscriptionFactory.create(customer=other_customer, plan=subscribed.plan)
    calls(other_customer, api_calls, 3)

    mine = customer_client.get(USAGE).json()
    theirs = other_customer_client.get(USAGE, {"customer": customer.pk}).json()  # a token ignores ?customer=

    assert metric(mine, "api_calls")["quantity"] == 1_200
    assert metric(theirs, "api_calls")["quantity"] == 3


def test_without_a_subscription_or_a_profile_there_is_no_usage(
    customer_client, customer, api_calls, other_customer_client
):
    calls(customer, api_calls, 50)

    assert customer_client.get(USAGE).json() == NO_USAGE
    assert other_customer_client.get(USAGE).json() == NO_USAGE  # a login without a billing profile


def test_an_unpaid_checkout_prices_no_usage(customer_client, customer, metered_plan, api_calls):
    SubscriptionFactory.create(customer=customer, plan=metered_plan, status=SubscriptionStatus.INCOMPLETE)
    calls(customer, api_calls, 50)

    assert customer_client.get(USAGE).json() == NO_USAGE


def test_a_plan_without_charges_has_a_period_and_no_metrics(customer_client, customer):
    subscription = SubscriptionFactory.create(customer=customer)

    body = customer_client.get(USAGE).json()

    assert (body["period_start"], body["metrics"]) == (subscription.current_period_start.isoformat(), [])


def test_an_amount_beyond_what_an_invoice_holds_is_null_not_an_error(customer_client, customer, api_calls):
    plan = SubscriptionPlanFactory.create()
    PlanChargeFactory.create(plan=plan, metric=api_calls, included_quantity=0, unit_amount=10**9)
    SubscriptionFactory.create(customer=customer, plan=plan)
    calls(customer, api_calls, 10**7)

    (entry,) = customer_client.get(USAGE).json()["metrics"]

    assert (entry["billable"], entry["projected_amount"]) == (10**7, None)


def test_usage_needs_a_login(api_client):
    response = api_client.get(USAGE)

    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_current_usage_is_a_few_queries_whatever_the_history(
    customer_client, customer, metered_plan, api_calls, django_assert_max_num_queries
):
    today = billing_date(timezone.now())
    subscription = SubscriptionFactory.create(customer=customer, plan=metered_plan, started=today - timedelta(days=10))
    first_hour = billing_day_start(subscription.current_period_start)
    for hours in range(10 * 24):
        calls(customer, api_calls, 2, hour=first_hour + timedelta(hours=hours))

    # the user (JWT), the subscription found by the user (no read of the customer), its charges, the quantities
    with django_assert_max_num_queries(4):
        body = customer_client.get(USAGE).json()

    assert metric(body, "api_calls")["quantity"] == 10 * 24 * 2


def test_an_api_key_reads_current_usage_in_a_few_queries(
    reader, customer, subscribed, api_calls, django_assert_max_num_queries
):
    calls(customer, api_calls, 4)
    reader.get(USAGE, {"customer": customer.pk})  # the key's last use is written at most once a minute: not timed

    # the key, the subscription found by the customer id (no read of the customer), its charges, the quantities
    with django_assert_max_num_queries(4):
        body = reader.get(USAGE, {"customer": customer.pk}).json()

    assert metric(body, "api_calls")["quantity"] == 4


def test_usage_is_counted_up_to_the_end_of_today(customer, subscribed, api_calls):
    tomorrow = billing_day_start(billing_date(timezone.now()) + timedelta(days=1))
    calls(customer, api_calls, 5, hour=tomorrow - timedelta(hours=1))
    calls(customer, api_calls, 700, hour=tomorrow)  # stamped ahead of the clock: tomorrow's

    (api, _) = usage_current(customer=customer)

    assert api.quantity == 5


def test_usage_current_is_the_metrics_of_the_report(customer, subscribed, api_calls):
    calls(customer, api_calls, 900)
    unique = BillableMetricFactory.create(code="active_users", aggregation=MetricAggregation.UNIQUE_COUNT)
    PlanChargeFactory.create(plan=subscribed.plan, metric=unique, included_quantity=5, display_order=3)

    summaries = usage_current(customer=customer, now=timezone.now())

    assert [(s.code, s.quantity, s.included, s.currency) for s in summaries] == [
        ("api_calls", 900, 1_000, "KRW"),
        ("storage_gb", 0, 10, "KRW"),
        ("active_users", 0, 5, "KRW"),
    ]
    assert {s.period_start for s in summaries} == {billing_date(timezone.now())}


# --- a SaaS backend's API key -----------------------------------------------------------------------------------


def test_an_api_key_reads_the_customer_it_names(reader, customer, subscribed, api_calls, other_customer):
    calls(customer, api_calls, 1_200)
    calls(other_customer, api_calls, 99_999)

    response = reader.get(USAGE, {"customer": customer.pk})

    assert response.status_code == 200
    assert metric(response.json(), "api_calls")["quantity"] == 1_200
    assert reader.get(USAGE, {"customer": other_customer.pk}).json() == NO_USAGE


@pytest.mark.parametrize("value", [None, "", "abc", "1.0", "-1", " 1", "1" * 19, "1e3"])
def test_an_api_key_must_name_the_customer_by_id(reader, customer, value):
    response = reader.get(USAGE, {} if value is None else {"customer": value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "customer" in response.json()["error"]["fields"]


def test_an_unknown_customer_is_404(reader, customer):
    response = reader.get(USAGE, {"customer": customer.pk + 1000})

    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_key_without_entitlements_read_is_403(superuser, customer):
    writer = key_client(ApiKeyScope.USAGE_WRITE, actor=superuser)

    response = writer.get(USAGE, {"customer": customer.pk})

    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_a_revoked_key_is_401(superuser, customer):
    api_key, key = api_key_create(name="old", scopes=[ApiKeyScope.ENTITLEMENTS_READ], expires_at=None, actor=superuser)
    api_key_revoke(api_key_id=api_key.pk, actor=superuser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = client.get(USAGE, {"customer": customer.pk})

    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


# --- the entitlements' `usage` ----------------------------------------------------------------------------------


def test_the_entitlements_carry_the_same_usage(customer_client, customer, subscribed, api_calls):
    calls(customer, api_calls, 1_200)

    entitlements = customer_client.get(ENTITLEMENTS).json()

    assert entitlements["status"] == "active"
    assert entitlements["usage"] == customer_client.get(USAGE).json()["metrics"]
    assert entitlements["usage"][0]["projected_amount"] == 2_000


def test_new_usage_changes_the_entitlements_etag(customer_client, customer, subscribed, api_calls):
    etag = customer_client.get(ENTITLEMENTS)["ETag"]
    calls(customer, api_calls, 1)

    response = customer_client.get(ENTITLEMENTS, headers={"If-None-Match": etag})

    assert response.status_code == 200 and response.json()["usage"][0]["quantity"] == 1


def test_a_paused_subscription_has_no_usage_in_its_entitlements(customer_client, customer, metered_plan, api_calls):
    SubscriptionFactory.create(customer=customer, plan=metered_plan, status=SubscriptionStatus.PAUSED)
    calls(customer, api_calls, 10)

    assert customer_client.get(ENTITLEMENTS).json()["usage"] == []
    assert metric(customer_client.get(USAGE).json(), "api_calls")["quantity"] == 10


def test_entitlements_with_a_metered_plan_stay_a_few_queries(
    customer_client, customer, subscribed, api_calls, django_assert_max_num_queries
):
    calls(customer, api_calls, 5)

    # the user (JWT), the customer, the subscription with its plan, its charges, the rolled-up quantities
    with django_assert_max_num_queries(5):
        response = customer_client.get(ENTITLEMENTS)

    assert response.json()["usage"][0]["quantity"] == 5


def test_an_api_key_reads_a_customers_entitlements(reader, customer, subscribed, api_calls):
    calls(customer, api_calls, 3)

    response = reader.get(ENTITLEMENTS, {"customer": customer.pk})

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["plan"]["slug"], body["usage"][0]["quantity"]) == ("active", "metered", 3)


def test_an_api_key_reading_entitlements_must_name_a_known_customer(reader, customer):
    assert reader.get(ENTITLEMENTS).status_code == 400
    assert reader.get(ENTITLEMENTS, {"customer": "x"}).status_code == 400
    assert reader.get(ENTITLEMENTS, {"customer": customer.pk + 1000}).status_code == 404
    assert reader.get(ENTITLEMENTS, {"customer": customer.pk}).json()["status"] == "none"


def test_a_key_without_entitlements_read_cannot_read_entitlements(superuser, customer):
    writer = key_client(ApiKeyScope.USAGE_WRITE, actor=superuser)

    response = writer.get(ENTITLEMENTS, {"customer": customer.pk})

    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_a_customers_token_ignores_customer_in_the_entitlements(
    customer_client, customer, subscribed, other_customer_client, other_customer
):
    SubscriptionFactory.create(
        customer=other_customer, status=SubscriptionStatus.CANCELED, canceled_at=timezone.now(), ended_at=timezone.now()
    )

    assert other_customer_client.get(ENTITLEMENTS, {"customer": customer.pk}).json()["status"] == "canceled"


@pytest.mark.parametrize("path", [USAGE, ENTITLEMENTS])
def test_a_customer_token_with_a_malformed_customer_parameter_is_400(customer_client, path):
    """The schema says `customer` is digits: a customer's token ignores a valid one, but a malformed one is refused."""
    assert customer_client.get(path, {"customer": ""}).status_code == 400
    assert customer_client.get(path, {"customer": "x"}).status_code == 400
    assert customer_client.get(path, {"customer": "123"}).status_code == 200
