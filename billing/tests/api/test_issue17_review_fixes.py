"""Issue 17 review, through the API and the admin: an amount coupon in another currency is 409 `currency_mismatch`
(subscribe, checkout, staff giving it), and the upcoming invoice says when the renewal issues no invoice (`issued`)."""

from typing import Any

import pytest
from django.urls import reverse

from billing.enums import CouponDuration
from billing.models import Customer, Invoice
from billing.models.coupons import Coupon, CouponRedemption
from billing.models.subscriptions import Subscription
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.customers import customer_currency_set
from billing.services.subscriptions import subscription_create
from billing.tests.factories import BillableMetricFactory, PlanChargeFactory, SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/api/payment/subscribe"
CHECKOUT = "/api/payment/checkout"


def amount_coupon(code: str, currency: str, amount_off: int) -> Coupon:
    coupon = coupon_create(
        actor=None, name=code, duration=CouponDuration.ONCE, amount_off=amount_off, currency=currency
    )
    promotion_code_create(actor=None, coupon=coupon, code=code)
    return coupon


def test_subscribe_in_dollars_with_a_won_coupon_is_409(customer_client, customer, plans):
    amount_coupon("WON", "KRW", 5_000)

    response = customer_client.post(
        SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "currency": "USD", "coupon": "won"}, format="json"
    )

    message = "The coupon WON is an amount in KRW; this plan is billed in USD."
    assert response.status_code == 409, response.json()
    assert response.json() == {
        "error": {"code": "currency_mismatch", "message": message, "fields": {"coupon": [message]}}
    }
    assert not Subscription.objects.exists() and not CouponRedemption.objects.exists()


def test_checkout_in_won_with_a_dollar_coupon_is_409(customer_client, customer, plans):
    amount_coupon("DOLLAR", "USD", 1_000)

    response = customer_client.post(
        CHECKOUT, {"plan": "pro", "billing_period": "monthly", "coupon": "DOLLAR"}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert not Invoice.objects.exists() and not CouponRedemption.objects.exists()


def test_the_schema_lists_409_currency_mismatch_where_a_coupon_is_sent(api_client):
    paths = api_client.get("/api/schema?format=json").json()["paths"]

    for path in (SUBSCRIBE, CHECKOUT):
        assert "currency_mismatch" in paths[path]["post"]["responses"]["409"]["description"], path


def test_staff_giving_a_won_coupon_to_a_dollar_customer_see_why_on_the_coupon_field(
    billing_staff_admin_client: Any, customer: Customer
) -> None:
    coupon = amount_coupon("WON", "KRW", 5_000)
    customer_currency_set(customer=customer, currency="USD", actor=None)

    response = billing_staff_admin_client.post(
        reverse("admin:billing_couponredemption_add"), {"customer": str(customer.pk), "coupon": str(coupon.pk)}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "coupon": ["The coupon WON is in KRW; the customer pays in USD."]
    }
    assert not CouponRedemption.objects.exists()


# --- the upcoming invoice ---------------------------------------------------------------------------------


def test_the_upcoming_invoice_of_a_usage_only_plan_with_nothing_used_is_not_issued(customer_client, customer):
    calls = BillableMetricFactory(code="api_calls")
    payg = SubscriptionPlanFactory(slug="payg", monthly_price=0, annual_price=0)
    PlanChargeFactory(plan=payg, metric=calls, included_quantity=0, unit_amount=3)
    subscription = subscription_create(customer=customer, plan=payg, billing_period="monthly").subscription

    body = customer_client.get(f"/api/payment/subscriptions/{subscription.pk}/upcoming").json()

    assert body == {
        "date": subscription.current_period_end.isoformat(),
        "currency": "KRW",
        "subtotal": 0,
        "tax": 0,
        "total": 0,
        "subtotal_krw": 0,
        "tax_krw": 0,
        "total_krw": 0,
        "proration": False,
        "issued": False,
        "lines": [],
    }


def test_any_other_upcoming_invoice_is_issued(customer_client, customer):
    pro = SubscriptionPlanFactory(slug="pro", monthly_price=99_000, annual_price=990_000)
    subscription = subscription_create(customer=customer, plan=pro, billing_period="monthly").subscription

    body = customer_client.get(f"/api/payment/subscriptions/{subscription.pk}/upcoming").json()

    assert (body["issued"], body["total"], [line["amount"] for line in body["lines"]]) == (True, 108_900, [99_000])
    assert body["date"] == subscription.current_period_end.isoformat()


def test_the_schema_documents_issued(api_client):
    schemas = api_client.get("/api/schema?format=json").json()["components"]["schemas"]

    assert schemas["UpcomingInvoice"]["properties"]["issued"]["type"] == "boolean"
    assert "issued" in schemas["UpcomingInvoice"]["required"]
