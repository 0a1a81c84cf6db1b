"""A plan price no longer sold (PlanPrice.active false) at Stripe (localstripe): the plan sync archives its Prices
(offered to nobody new) while the Stripe subscriptions on them keep them; sold again, the same Prices come back."""

from typing import Any

import pytest
import stripe

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.providers.stripe.plans import plan_price_id, plan_stripe_sync, plans_stripe_sync

pytestmark = pytest.mark.django_db


def pro() -> SubscriptionPlan:
    return SubscriptionPlan.objects.prefetch_related("prices").get(slug="pro")


def test_a_price_no_longer_sold_is_archived_and_its_subscription_keeps_it(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any], customer_client: Any, card: Any
):
    response = customer_client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "currency": "USD", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    usd = PlanPrice.objects.get(plan__slug="pro", currency="USD")
    others = {row.currency: row.stripe_monthly_price_id for row in PlanPrice.objects.filter(plan__slug="pro")}
    PlanPrice.objects.filter(pk=usd.pk).update(active=False)

    changes = plan_stripe_sync(plan=pro())
    again = plans_stripe_sync()

    assert sorted((change.what, change.action, change.ref) for change in changes) == sorted(
        [("price", "archived", usd.stripe_monthly_price_id), ("price", "archived", usd.stripe_annual_price_id)]
    )
    assert again.changes == []
    for price_id in (usd.stripe_monthly_price_id, usd.stripe_annual_price_id):
        assert stripe.Price.retrieve(price_id, **stripe_api).active is False
    for currency in ("KRW", "EUR", "JPY"):
        assert stripe.Price.retrieve(others[currency], **stripe_api).active is True
    theirs = stripe.Subscription.retrieve(ours.stripe_subscription_id, **stripe_api)
    (item,) = theirs["items"]["data"]
    assert (theirs.status, item["price"]["id"]) == ("active", usd.stripe_monthly_price_id)
    # The recorded ids stay: the subscription's provider copy still follows its (archived) Price, no new one made.
    assert PlanPrice.objects.get(pk=usd.pk).stripe_monthly_price_id == usd.stripe_monthly_price_id
    assert plan_price_id(pro(), "monthly", 7_900, "USD") == usd.stripe_monthly_price_id
    assert plans_stripe_sync().changes == []  # asking for it did not bring it back


def test_sold_again_the_same_prices_are_brought_back(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any]
):
    usd = PlanPrice.objects.get(plan__slug="pro", currency="USD")
    PlanPrice.objects.filter(pk=usd.pk).update(active=False)
    plan_stripe_sync(plan=pro())
    PlanPrice.objects.filter(pk=usd.pk).update(active=True)

    changes = plan_stripe_sync(plan=pro())

    assert sorted((change.action, change.ref) for change in changes) == sorted(
        [("reactivated", usd.stripe_monthly_price_id), ("reactivated", usd.stripe_annual_price_id)]
    )
    assert stripe.Price.retrieve(usd.stripe_monthly_price_id, **stripe_api).active is True
    assert PlanPrice.objects.get(pk=usd.pk).stripe_monthly_price_id == usd.stripe_monthly_price_id
