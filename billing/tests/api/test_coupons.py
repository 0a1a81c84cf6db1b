"""`"coupon": "CODE"` in the subscribe and checkout bodies: the discount line, refusals that write nothing, replays."""

from typing import Any

import pytest
from django.utils import timezone

from billing.enums import CouponDuration
from billing.models import Invoice, Order, SubscribeAttempt
from billing.models.coupons import Coupon, CouponRedemption, PromotionCode
from billing.models.subscriptions import Subscription
from billing.services.coupons import coupon_create, promotion_code_create

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/api/payment/subscribe"
CHECKOUT = "/api/payment/checkout"


@pytest.fixture
def welcome(db: None) -> Coupon:
    coupon = coupon_create(actor=None, name="Welcome", duration=CouponDuration.ONCE, percent_off=20)
    promotion_code_create(actor=None, coupon=coupon, code="WELCOME", max_redemptions=10)
    return coupon


def post(client: Any, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(path, body, format="json", **headers)


def discount_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in body["invoice"]["lines"] if line["amount"] < 0]


def test_subscribe_with_a_coupon_discounts_the_first_invoice(customer_client, plans, welcome):
    response = post(customer_client, SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "coupon": "welcome"})

    assert response.status_code == 201, response.json()
    invoice = response.json()["invoice"]
    assert [(line["description"], line["amount"]) for line in discount_lines(response.json())] == [
        ("할인: Welcome", -19_800)
    ]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (79_200, 7_920, 87_120)
    assert CouponRedemption.objects.get().subscription_id == response.json()["subscription_id"]


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [("NOPE", 400, "invalid_coupon"), ("", 201, None), ("x" * 41, 400, "validation_error")],
)
def test_a_bad_code_is_refused_with_nothing_written(
    customer_client, customer, plans, welcome, code, status, error_code
):
    response = post(customer_client, SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "coupon": code})

    assert response.status_code == status, response.json()
    if error_code:
        assert response.json()["error"]["code"] == error_code
        assert not Subscription.objects.exists()
        assert not Invoice.objects.exists()
    assert not CouponRedemption.objects.exists()


def test_a_code_used_up_says_so(customer_client, plans, welcome):
    PromotionCode.objects.filter(code="WELCOME").update(max_redemptions=1, times_redeemed=1)

    response = post(customer_client, SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "coupon": "WELCOME"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_coupon",
        "message": "The coupon WELCOME has been used up.",
        "fields": {"coupon": ["The coupon WELCOME has been used up."]},
    }
    assert not Subscription.objects.exists()


def test_a_replay_with_the_same_idempotency_key_does_not_redeem_twice(customer_client, plans, welcome):
    body = {"plan": "pro", "billing_period": "monthly", "coupon": "WELCOME"}

    first = post(customer_client, SUBSCRIBE, body, key="subscribe-1")
    replay = post(customer_client, SUBSCRIBE, body, key="subscribe-1")

    assert (first.status_code, replay.status_code, replay["Idempotent-Replayed"]) == (201, 201, "true")
    assert replay.json() == first.json()
    assert CouponRedemption.objects.count() == 1
    welcome.refresh_from_db()
    assert welcome.times_redeemed == PromotionCode.objects.get().times_redeemed == 1


def test_a_second_redemption_by_the_same_customer_is_409(customer_client, plans, welcome):
    first = post(customer_client, SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "coupon": "WELCOME"})
    assert first.status_code == 201
    Subscription.objects.filter(pk=first.json()["subscription_id"]).update(
        status="canceled", canceled_at=timezone.now(), ended_at=timezone.now()
    )

    again = post(customer_client, SUBSCRIBE, {"plan": "starter", "billing_period": "monthly", "coupon": "WELCOME"})

    assert (again.status_code, again.json()["error"]["code"]) == (409, "coupon_already_redeemed")


def test_a_customer_cannot_send_their_own_discount_or_tax(customer_client, plans):
    response = post(
        customer_client,
        SUBSCRIBE,
        {
            "plan": "pro",
            "billing_period": "monthly",
            "discount": 99_000,
            "percent_off": 100,
            "amount_off": 99_000,
            "tax": 0,
            "lines": [{"description": "free", "amount": -99_000, "kind": "discount"}],
        },
    )

    assert response.status_code == 201
    invoice = response.json()["invoice"]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (99_000, 9_900, 108_900)
    assert discount_lines(response.json()) == []
    assert not CouponRedemption.objects.exists()


def test_checkout_with_a_coupon_discounts_the_invoice(customer_client, plans, welcome):
    response = post(customer_client, CHECKOUT, {"plan": "pro", "billing_period": "monthly", "coupon": "WELCOME"})

    assert response.status_code == 201, response.json()
    body = response.json()
    invoice = Invoice.objects.get(pk=body["invoice_id"])
    assert [(line.kind, line.amount) for line in invoice.lines.order_by("position", "id")] == [
        ("item", 99_000),
        ("discount", -19_800),
    ]
    assert (invoice.total, body["payment"]["amount"]) == (87_120, 87_120)
    assert Order.objects.get().total == 87_120


def test_checkout_with_a_bad_code_writes_nothing(customer_client, plans, welcome):
    response = post(customer_client, CHECKOUT, {"plan": "pro", "billing_period": "monthly", "coupon": "NOPE"})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_coupon")
    assert not Subscription.objects.exists()
    assert not Order.objects.exists()
    assert not Invoice.objects.exists()


def test_checkout_of_items_takes_no_coupon(customer_client, welcome):
    response = post(
        customer_client,
        CHECKOUT,
        {"items": [{"description": "Setup", "quantity": 1, "unit_amount_krw": 50_000}], "coupon": "WELCOME"},
    )

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_coupon")
    assert not Order.objects.exists()


def test_a_card_subscribe_with_a_coupon_charges_the_discounted_total_in_stripe(
    stripe_plans, customer_client, card, stripe_api, welcome, django_capture_on_commit_callbacks
):
    import stripe

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            customer_client,
            SUBSCRIBE,
            {"plan": "pro", "billing_period": "monthly", "payment_method_id": card(), "coupon": "WELCOME"},
        )

    assert response.status_code == 201, response.json()
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    invoice = Invoice.objects.get(subscription_link__subscription=ours)
    theirs = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    stripe_invoice = stripe.Invoice.retrieve(theirs.latest_invoice, **stripe_api)
    assert (invoice.total, stripe_invoice.total, stripe_invoice.status, invoice.status) == (
        87_120,
        87_120,
        "paid",
        "paid",
    )
    assert CouponRedemption.objects.get().subscription == ours


RENEWALS_REFUSED = (
    "The coupon LOYAL applies to renewals, which card payments through Stripe do not discount yet; pay by bank "
    "transfer or use a one-time coupon."
)


@pytest.mark.parametrize(("duration", "months"), [(CouponDuration.FOREVER, None), (CouponDuration.REPEATING, 3)])
def test_a_card_subscribe_with_a_renewal_coupon_is_refused_before_stripe_is_asked(
    stripe_plans, customer_client, customer, card, duration, months
):
    """Stripe renews from its own price, which our coupon does not reach: it would charge more than we invoice."""
    from billing.providers.stripe.customers import customer_stripe_get

    coupon = coupon_create(actor=None, name="Loyal", duration=duration, duration_in_months=months, percent_off=10)
    promotion_code_create(actor=None, coupon=coupon, code="LOYAL")
    body = {"plan": "pro", "billing_period": "monthly", "payment_method_id": card(), "coupon": "LOYAL"}

    response = post(customer_client, SUBSCRIBE, body)

    assert response.status_code == 400, response.json()
    assert response.json()["error"] == {
        "code": "invalid_coupon",
        "message": RENEWALS_REFUSED,
        "fields": {"coupon": [RENEWALS_REFUSED]},
    }
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()
    assert not SubscribeAttempt.objects.exists()
    assert not CouponRedemption.objects.exists()
    assert customer_stripe_get(customer=customer) is None  # no Stripe customer made, no card attached

    by_bank_transfer = post(customer_client, SUBSCRIBE, {"plan": "pro", "billing_period": "monthly", "coupon": "LOYAL"})

    assert by_bank_transfer.status_code == 201, by_bank_transfer.json()
    assert [line["amount"] for line in discount_lines(by_bank_transfer.json())] == [-9_900]
    assert Subscription.objects.get().stripe_subscription_id == ""
