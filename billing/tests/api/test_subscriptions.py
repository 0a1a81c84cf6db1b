"""The endpoints: public plans, subscribe, list, cancel, checkout; error shapes, ownership, Idempotency-Key."""

import pytest
from rest_framework.test import APIClient

from billing.models import Invoice, Order
from billing.models.subscriptions import Subscription
from billing.tests.subscription_support import pay

pytestmark = pytest.mark.django_db

LIVE = ("active", "past_due", "incomplete")


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def subscribe(client, plan="pro", billing_period="monthly", **headers):
    return client.post(
        "/api/payment/subscribe", {"plan": plan, "billing_period": billing_period}, format="json", headers=headers
    )


# --- plans ----------------------------------------------------------------------------------------------


def test_plans_are_public_in_display_order(plans):
    response = APIClient().get("/api/payment/plans")

    assert response.status_code == 200
    body = response.json()
    assert [plan["slug"] for plan in body] == ["free", "starter", "pro", "enterprise", "team", "payg"]
    pro = body[2]
    assert pro == {
        "name": "프로",
        "slug": "pro",
        "monthly_price_krw": 99_000,
        "annual_price_krw": 990_000,
        "currency": "KRW",
        "monthly_price": 99_000,
        "annual_price": 990_000,
        "features": [
            "프로젝트 20개",
            "저장 공간 200GB",
            "우선 지원 (영업일 1일 이내 답변)",
            "팀원 권한 관리",
            "연간 결제 시 2개월 무료",
        ],
        "max_projects": 20,
        "trial_days": 0,
        "per_seat": False,
        "prices": [
            {"currency": "EUR", "monthly_price": 7_200, "annual_price": 72_000},
            {"currency": "JPY", "monthly_price": 8_900, "annual_price": 89_000},
            {"currency": "KRW", "monthly_price": 99_000, "annual_price": 990_000},
            {"currency": "USD", "monthly_price": 7_900, "annual_price": 79_000},
        ],
    }
    assert body[3]["max_projects"] is None  # unlimited
    team = body[4]
    assert (team["name"], team["monthly_price"], team["annual_price"]) == ("팀", 15_000, 150_000)
    assert (team["per_seat"], team["trial_days"], team["max_projects"]) == (True, 14, 10)


def test_plans_in_english_and_with_a_stale_token_and_a_trailing_slash(plans):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer expired-or-garbage")

    response = client.get("/api/payment/plans/", headers={"Accept-Language": "en"})

    assert response.status_code == 200
    assert response.json()[2]["name"] == "Pro"
    assert response.json()[2]["features"][0] == "20 projects"


def test_retired_plans_are_not_listed(plans):
    plans["starter"].is_active = False
    plans["starter"].save()

    assert [plan["slug"] for plan in APIClient().get("/api/payment/plans").json()] == [
        "free",
        "pro",
        "enterprise",
        "team",
        "payg",
    ]


# --- subscribe -----------------------------------------------------------------------------------------


def test_subscribe_answers_201_with_the_subscription_and_its_finalized_invoice(customer_client, customer, plans):
    response = subscribe(customer_client)

    assert response.status_code == 201, response.content
    body = response.json()
    subscription = Subscription.objects.get(customer=customer)
    assert body["subscription_id"] == subscription.pk
    assert body["next_billing_date"] == subscription.current_period_end.isoformat()
    assert (body["amount_krw"], body["amount"], body["currency"], body["status"]) == (99_000, 99_000, "KRW", "active")
    assert body["subscription"]["plan"] == {"slug": "pro", "name": "프로"}
    invoice = body["invoice"]
    assert (invoice["status"], invoice["subtotal_krw"], invoice["tax_krw"], invoice["total_krw"]) == (
        "open",
        99_000,
        9_900,
        108_900,
    )
    assert invoice["number"] and invoice["lines"][0]["amount"] == 99_000
    assert body["proration"] is None
    assert "pdf_url" in body and "pdf_url_expires_at" in body


def test_subscribing_again_to_the_same_plan_is_409_already_subscribed(customer_client, customer, plans):
    subscribe(customer_client)

    error = error_of(subscribe(customer_client), 409, "already_subscribed")

    assert error["fields"]["subscription_id"]


def test_subscribing_to_another_plan_upgrades_with_proration(customer_client, customer, plans):
    first = subscribe(customer_client, "starter").json()
    pay(Invoice.objects.get(pk=first["invoice"]["id"]))  # only a paid period is credited

    body = subscribe(customer_client, "pro").json()

    assert body["proration"]["replaced_subscription_id"] == first["subscription_id"]
    assert body["proration"]["credit"] == 29_000  # same day: nothing used
    assert [line["amount"] for line in body["invoice"]["lines"]] == [99_000, -29_000]
    assert Subscription.objects.filter(customer=customer, status__in=LIVE).count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"billing_period": "monthly"}, "plan"),
        ({"plan": "pro"}, "billing_period"),
        ({"plan": "pro", "billing_period": "weekly"}, "billing_period"),
        ({"plan": ["pro"], "billing_period": "monthly"}, "plan"),
    ],
)
def test_subscribe_validates_the_body(customer_client, customer, plans, payload, field):
    error = error_of(customer_client.post("/api/payment/subscribe", payload, format="json"), 400, "validation_error")

    assert field in error["fields"]


def test_subscribing_to_an_unknown_plan_is_400_plan_not_available(customer_client, customer, plans):
    error = error_of(subscribe(customer_client, "platinum"), 400, "plan_not_available")

    assert "plan" in error["fields"]


def test_subscribe_with_a_card_while_stripe_is_off_is_400(customer_client, customer, plans):
    response = customer_client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "payment_method_id": "pm_card_visa"},
        format="json",
    )

    error_of(response, 400, "card_payments_unavailable")


def test_subscribe_needs_a_login(plans):
    error_of(subscribe(APIClient()), 401, "not_authenticated")


def test_subscribe_replays_an_idempotency_key_instead_of_subscribing_twice(customer_client, customer, plans):
    first = subscribe(customer_client, **{"Idempotency-Key": "sub-1"})
    replay = subscribe(customer_client, **{"Idempotency-Key": "sub-1"})

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Subscription.objects.filter(customer=customer).count() == 1
    assert Invoice.objects.filter(customer=customer).count() == 1
    error_of(subscribe(customer_client, "starter", **{"Idempotency-Key": "sub-1"}), 422, "idempotency_key_reused")


# --- list ----------------------------------------------------------------------------------------------


def test_list_shows_only_the_callers_subscriptions_with_filter_and_paging(
    customer_client, customer, other_customer_client, other_customer, plans
):
    subscribe(customer_client, "starter")
    subscribe(customer_client, "pro")
    subscribe(other_customer_client, "enterprise")

    everything = customer_client.get("/api/payment/subscriptions").json()
    active = customer_client.get("/api/payment/subscriptions/?status=active").json()
    page = customer_client.get("/api/payment/subscriptions?limit=1&offset=1").json()

    assert (everything["total"], [item["plan"]["slug"] for item in everything["results"]]) == (2, ["pro", "starter"])
    assert [(item["plan"]["slug"], item["status"]) for item in active["results"]] == [("pro", "active")]
    assert (page["total"], page["limit"], page["offset"], len(page["results"])) == (2, 1, 1, 1)
    assert everything["results"][1]["cancellation_reason"] == "replaced"
    assert everything["results"][0]["replaces_id"] == everything["results"][1]["id"]


@pytest.mark.parametrize("query", ["status=frozen", "status=", "limit=0"])
def test_list_refuses_an_unknown_or_empty_status_and_bad_paging(customer_client, customer, query):
    error = error_of(
        customer_client.get(f"/api/payment/subscriptions?{query}"),
        400,
        "validation_error" if query.startswith("status") else "invalid_pagination",
    )

    assert error["fields"]


def test_a_customer_without_a_billing_profile_has_no_subscriptions(customer_client):
    assert customer_client.get("/api/payment/subscriptions").json()["total"] == 0


# --- cancel ----------------------------------------------------------------------------------------------


def test_delete_cancels_at_period_end_by_default_and_is_idempotent(customer_client, customer, plans):
    subscription_id = subscribe(customer_client).json()["subscription_id"]

    first = customer_client.delete(f"/api/payment/subscriptions/{subscription_id}")
    second = customer_client.delete(f"/api/payment/subscriptions/{subscription_id}/")

    assert first.status_code == second.status_code == 200
    body = first.json()
    assert (body["status"], body["cancel_at_period_end"], body["next_billing_date"], body["ended_at"]) == (
        "active",
        True,
        None,
        None,
    )
    assert second.json() == body


def test_delete_immediately_ends_it_now(customer_client, customer, plans):
    subscription_id = subscribe(customer_client).json()["subscription_id"]

    response = customer_client.delete(f"/api/payment/subscriptions/{subscription_id}?immediately=true")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancellation_reason"]) == ("canceled", "requested")
    assert response.json()["ended_at"]
    assert (
        customer_client.delete(f"/api/payment/subscriptions/{subscription_id}?immediately=true").json()
        == response.json()
    )


def test_another_customers_subscription_is_404_and_untouched(
    customer_client, customer, other_customer_client, other_customer, plans
):
    subscription_id = subscribe(customer_client).json()["subscription_id"]

    error_of(
        other_customer_client.delete(f"/api/payment/subscriptions/{subscription_id}?immediately=true"), 404, "not_found"
    )

    assert Subscription.objects.get(pk=subscription_id).status == "active"
    error_of(customer_client.delete("/api/payment/subscriptions/999999"), 404, "not_found")


def test_delete_refuses_a_garbage_flag(customer_client, customer, plans):
    subscription_id = subscribe(customer_client).json()["subscription_id"]

    error_of(
        customer_client.delete(f"/api/payment/subscriptions/{subscription_id}?immediately=maybe"),
        400,
        "validation_error",
    )
    assert Subscription.objects.get(pk=subscription_id).cancel_at_period_end is False


# --- checkout --------------------------------------------------------------------------------------------


def test_checkout_of_a_plan_creates_an_order_an_open_invoice_and_an_incomplete_subscription(
    customer_client, customer, plans
):
    response = customer_client.post("/api/payment/checkout", {"plan": "pro", "billing_period": "annual"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(pk=body["order_id"])
    invoice = Invoice.objects.get(pk=body["invoice_id"])
    assert (order.customer_id, order.status, order.subtotal) == (customer.pk, "invoiced", 990_000)
    assert (invoice.order_id, invoice.status, invoice.total, body["total_krw"]) == (
        order.pk,
        "open",
        1_089_000,
        1_089_000,
    )
    assert body["subscription"]["status"] == "incomplete"
    assert body["invoice_number"] == invoice.number
    payment = body["payment"]
    assert (payment["method"], payment["amount_krw"], payment["reference"]) == (
        "bank_transfer",
        1_089_000,
        invoice.number,
    )
    assert (payment["bank_name"], payment["account_number"]) == ("국민은행", "123456-01-234567")
    assert payment["due_date"] == invoice.due_date.isoformat()
    assert "₩1,089,000" in payment["instructions"] and invoice.number in payment["instructions"]


def test_checkout_of_items_creates_a_one_off_order_and_invoice(customer_client, customer, plans):
    response = customer_client.post(
        "/api/payment/checkout",
        {"items": [{"description": "온보딩 컨설팅", "quantity": 2, "unit_amount_krw": 150_000}]},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"] is None
    assert (body["order"]["subtotal"], body["invoice"]["total"]) == (300_000, 330_000)
    assert body["payment"]["amount"] == 330_000
    assert not Subscription.objects.filter(customer=customer).exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"plan": "pro"},
        {"plan": "pro", "billing_period": "monthly", "items": [{"description": "x", "unit_amount_krw": 1}]},
        {"items": []},
        {"items": [{"description": "x", "unit_amount_krw": 1.5}]},
    ],
)
def test_checkout_validates_the_body(customer_client, customer, plans, payload):
    error_of(customer_client.post("/api/payment/checkout", payload, format="json"), 400, "validation_error")

    assert not Order.objects.exists()


def test_checkout_of_the_free_plan_is_400_nothing_to_pay(customer_client, customer, plans):
    error_of(
        customer_client.post("/api/payment/checkout", {"plan": "free", "billing_period": "monthly"}, format="json"),
        400,
        "nothing_to_pay",
    )


def test_checkout_with_a_live_subscription_is_409(customer_client, customer, plans):
    subscribe(customer_client, "pro")

    same = customer_client.post("/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json")
    other = customer_client.post(
        "/api/payment/checkout", {"plan": "starter", "billing_period": "monthly"}, format="json"
    )

    error_of(same, 409, "already_subscribed")
    error_of(other, 409, "subscription_exists")
    assert not Order.objects.exists()


def test_checkout_replays_an_idempotency_key(customer_client, customer, plans):
    headers = {"Idempotency-Key": "checkout-42"}
    first = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json", headers=headers
    )
    replay = customer_client.post(
        "/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json", headers=headers
    )

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert Order.objects.filter(customer=customer).count() == 1


def test_schema_documents_the_subscription_endpoints_and_their_errors(api_client):
    schema = api_client.get("/api/schema?format=json").json()

    paths = schema["paths"]
    assert {
        "/api/payment/plans",
        "/api/payment/subscribe",
        "/api/payment/subscriptions",
        "/api/payment/checkout",
    } <= set(paths)
    assert "already_subscribed" in paths["/api/payment/subscribe"]["post"]["responses"]["409"]["description"]
    assert "401" not in paths["/api/payment/plans"]["get"]["responses"]
    assert "404" in paths["/api/payment/subscriptions/{subscription_id}"]["delete"]["responses"]
