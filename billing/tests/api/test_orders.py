"""POST/GET /api/orders and GET /api/orders/{id}."""

import pytest
from rest_framework.test import APIClient

from billing.models import Order
from billing.tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db
ORDERS = "/api/orders"


def test_create_order_with_items(customer_client):
    payload = {
        "items": [
            {"description": "Pro 플랜", "quantity": 2, "unit_amount_krw": 99_000},
            {"description": "설치비", "unit_amount_krw": 50_000},
        ],
        "description": "연간 계약",
    }
    response = customer_client.post(ORDERS + "/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["currency"], body["subtotal_krw"], body["tax_krw"], body["total_krw"]) == (
        "pending",
        "KRW",
        248_000,
        24_800,
        272_800,
    )
    assert [(item["description"], item["amount"]) for item in body["items"]] == [
        ("Pro 플랜", 198_000),
        ("설치비", 50_000),
    ]


def test_order_in_a_two_digit_currency(customer_client):
    response = customer_client.post(
        ORDERS,
        {"currency": "USD", "items": [{"description": "Seat", "quantity": 3, "unit_amount": 1999}]},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["total"], response.json()["total_krw"]) == (6596, None)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"items": []}, "validation_error"),
        ({"items": [{"description": "x", "unit_amount_krw": 0}]}, "invalid_amount"),
        ({"items": [{"description": "x", "unit_amount_krw": 10.5}]}, "validation_error"),
        ({"items": [{"description": "x", "quantity": 0, "unit_amount_krw": 10}]}, "validation_error"),
        ({"items": [{"description": "x"}]}, "validation_error"),
        ({"currency": "USD", "items": [{"description": "x", "unit_amount_krw": 10}]}, "validation_error"),
    ],
)
def test_invalid_orders_are_400(customer_client, payload, code):
    response = customer_client.post(ORDERS, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not Order.objects.exists()


def test_list_and_detail_are_the_callers_own(customer_client, other_customer_client):
    created = [
        customer_client.post(
            ORDERS, {"items": [{"description": f"o{i}", "unit_amount_krw": 1000}]}, format="json"
        ).json()
        for i in range(3)
    ]
    listed = customer_client.get(ORDERS).json()
    assert listed["total"] == 3
    assert [row["id"] for row in listed["results"]] == [order["id"] for order in reversed(created)]
    assert customer_client.get(f"{ORDERS}/{created[0]['id']}").json()["items"][0]["description"] == "o0"
    assert customer_client.get(f"{ORDERS}?status=paid").json()["total"] == 0

    assert other_customer_client.get(ORDERS).json()["total"] == 0
    response = other_customer_client.get(f"{ORDERS}/{created[0]['id']}/")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_anonymous_is_401():
    assert APIClient().get(ORDERS).status_code == 401
    assert APIClient().post(ORDERS, {}, format="json").status_code == 401


def test_won_amounts_for_an_account_billed_in_another_currency_are_409(customer, customer_client):
    # Without a currency, `unit_amount_krw` items make a won order: an account fixed in USD must not take ₩150,000 as
    # $1,500.00 of its own.
    customer.currency = "USD"
    customer.save(update_fields=["currency"])
    InvoiceFactory.create(customer=customer, currency="USD")
    response = customer_client.post(
        ORDERS, {"items": [{"description": "설치비", "unit_amount_krw": 150_000}]}, format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert not Order.objects.exists()
