"""GET /api/payment/entitlements: what the caller may use now, cacheable (ETag, 304), in at most three queries."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from billing.periods import billing_date

pytestmark = pytest.mark.django_db

ENTITLEMENTS = "/api/payment/entitlements"
NOTHING: dict[str, Any] = {
    "features": [],
    "limits": {"max_projects": 0, "seats": 0},
    "until": None,
    "cancel_at_period_end": False,
    "usage": [],
}


def usage_nothing_yet(plan):
    """The `usage` of a new subscription to `plan`: each metric it charges, none used yet (Korean names)."""
    return [
        {
            "code": charge.metric.code,
            "name": charge.metric.name,
            "unit": charge.metric.unit,
            "quantity": 0,
            "included": charge.included_quantity,
            "billable": 0,
            "projected_amount": 0,
        }
        # The charges in the subscription's currency (these customers pay in won).
        for charge in plan.charges.filter(currency="KRW").select_related("metric").order_by("display_order", "id")
    ]


def subscribe(client, plan="pro", **extra):
    response = client.post(
        "/api/payment/subscribe", {"plan": plan, "billing_period": "monthly", **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["subscription"]


def test_a_caller_without_a_billing_profile_has_none(customer_client):
    response = customer_client.get(ENTITLEMENTS)

    assert response.status_code == 200
    assert response.json() == {"status": "none", "plan": None, **NOTHING}
    assert response["Cache-Control"] == "private, max-age=60"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    assert {"Accept-Language", "Authorization"} <= {name.strip() for name in response["Vary"].split(",")}


def test_an_active_subscription_grants_its_plan(customer_client, customer, plans):
    pro = subscribe(customer_client)

    body = customer_client.get(ENTITLEMENTS).json()

    assert body == {
        "status": "active",
        "plan": {"slug": "pro", "name": "프로"},
        "features": list(plans["pro"].features),
        "limits": {"max_projects": 20, "seats": 1},
        "until": pro["current_period_end"],
        "cancel_at_period_end": False,
        "usage": usage_nothing_yet(plans["pro"]),
    }


def test_a_trial_grants_its_seats_until_the_trial_ends(customer_client, customer, plans):
    subscribe(customer_client, "team", quantity=3)

    body = customer_client.get(ENTITLEMENTS, headers={"Accept-Language": "en"}).json()

    assert (body["status"], body["plan"]) == ("trialing", {"slug": "team", "name": "Team"})
    assert body["limits"] == {"max_projects": 10, "seats": 3}
    assert body["features"] == list(plans["team"].features_en)
    assert body["until"] == (billing_date(timezone.now()) + timedelta(days=14)).isoformat()


def test_a_cancel_at_period_end_still_grants_until_then(customer_client, customer, plans):
    pro = subscribe(customer_client)
    customer_client.delete(f"/api/payment/subscriptions/{pro['id']}")

    body = customer_client.get(ENTITLEMENTS).json()

    assert (body["status"], body["cancel_at_period_end"], body["until"]) == ("active", True, pro["current_period_end"])
    assert body["limits"]["max_projects"] == 20


def test_an_ended_subscription_grants_nothing_and_says_which_it_was(customer_client, customer, plans):
    pro = subscribe(customer_client)
    customer_client.delete(f"/api/payment/subscriptions/{pro['id']}?immediately=true")

    body = customer_client.get(ENTITLEMENTS).json()

    assert body == {"status": "canceled", "plan": {"slug": "pro", "name": "프로"}, **NOTHING}


def test_a_paused_subscription_grants_nothing(customer_client, customer, plans):
    pro = subscribe(customer_client)
    customer_client.post(f"/api/payment/subscriptions/{pro['id']}/pause", {}, format="json")

    body = customer_client.get(ENTITLEMENTS).json()

    assert body == {"status": "paused", "plan": {"slug": "pro", "name": "프로"}, **NOTHING}


def test_the_live_subscription_wins_over_the_ones_it_replaced(customer_client, customer, plans):
    subscribe(customer_client, "starter")
    subscribe(customer_client, "pro")  # an upgrade: starter ends now (canceled, replaced)

    assert customer_client.get(ENTITLEMENTS).json()["plan"]["slug"] == "pro"


def test_an_unpaid_checkout_grants_nothing(customer_client, customer, plans):
    response = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json"
    )
    assert response.json()["subscription"]["status"] == "incomplete"

    assert customer_client.get(ENTITLEMENTS).json() == {"status": "none", "plan": None, **NOTHING}


def test_another_customers_subscription_is_not_the_callers(customer_client, customer, other_customer_client, plans):
    subscribe(other_customer_client)

    assert customer_client.get(ENTITLEMENTS).json()["status"] == "none"


def test_if_none_match_answers_304_until_something_changes(customer_client, customer, plans):
    pro = subscribe(customer_client)
    first = customer_client.get(ENTITLEMENTS)
    etag = first["ETag"]

    same = customer_client.get(ENTITLEMENTS, headers={"If-None-Match": etag})
    weak = customer_client.get(ENTITLEMENTS, headers={"If-None-Match": f'"other", W/{etag}'})
    customer_client.delete(f"/api/payment/subscriptions/{pro['id']}")
    changed = customer_client.get(ENTITLEMENTS, headers={"If-None-Match": etag})

    assert (same.status_code, same.content, same["ETag"]) == (304, b"", etag)
    assert same["Cache-Control"] == "private, max-age=60"
    assert weak.status_code == 304
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["cancel_at_period_end"] is True


def test_the_etag_follows_the_language(customer_client, customer, plans):
    subscribe(customer_client)

    korean = customer_client.get(ENTITLEMENTS)
    english = customer_client.get(ENTITLEMENTS, headers={"Accept-Language": "en", "If-None-Match": korean["ETag"]})

    assert english.status_code == 200 and english["ETag"] != korean["ETag"]
    assert english.json()["plan"]["name"] == "Pro"


@pytest.mark.parametrize("header", ["garbage", '"', "W/", ",,,", "*" * 300])
def test_a_garbage_if_none_match_is_a_plain_answer(customer_client, customer, plans, header):
    response = customer_client.get(ENTITLEMENTS, headers={"If-None-Match": header})

    assert response.status_code == 200 and response.json()["status"] == "none"


def test_at_most_three_queries(customer_client, customer, plans, django_assert_max_num_queries):
    subscribe(customer_client, "team", quantity=2)

    with django_assert_max_num_queries(3):  # the user (JWT), the customer, the subscription with its plan
        response = customer_client.get(ENTITLEMENTS)

    assert response.json()["limits"]["seats"] == 2


def test_entitlements_need_a_login(api_client):
    response = api_client.get(ENTITLEMENTS)

    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
