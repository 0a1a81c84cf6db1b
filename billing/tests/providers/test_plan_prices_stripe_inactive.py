"""A plan price no longer sold (PlanPrice.active false) at Stripe (localstripe): the plan sync archives its Prices
(offered to nobody new) while the Stripe subscriptions on them keep them; sold again, the same Prices come back. A
change scheduled into it keeps them active until it applied or was dropped (Stripe refuses an archived Price)."""

from typing import Any

import pytest
import stripe

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.providers.stripe.plans import plan_price_id, plan_stripe_sync, plans_stripe_sync
from billing.providers.stripe.subscriptions import subscription_stripe_follow
from billing.services.subscriptions import pending_change_drop, subscription_change_plan, subscription_renew
from billing.tests.helpers import seoul

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


def dollar_pro_with_a_change_to_starter_no_longer_sold(customer_client: Any, card: Any) -> Subscription:
    """A card subscription to pro in USD with a change scheduled into starter at its period end; then starter's USD
    price is no longer sold (the scheduled change keeps it, as seed_plans does)."""
    response = customer_client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "currency": "USD", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    ours = Subscription.objects.get(pk=response.json()["subscription_id"])
    starter = SubscriptionPlan.objects.get(slug="starter")
    subscription_change_plan(subscription=ours, plan=starter, billing_period="monthly", when="period_end")
    assert Subscription.objects.get(pk=ours.pk).pending_plan_id == starter.pk
    PlanPrice.objects.filter(plan=starter, currency="USD").update(active=False)
    return Subscription.objects.get(pk=ours.pk)


def starter_usd_active(stripe_api: dict[str, Any]) -> list[bool]:
    row = PlanPrice.objects.get(plan__slug="starter", currency="USD")
    return [
        stripe.Price.retrieve(price_id, **stripe_api).active
        for price_id in (row.stripe_monthly_price_id, row.stripe_annual_price_id)
    ]


def starter() -> SubscriptionPlan:
    return SubscriptionPlan.objects.prefetch_related("prices").get(slug="starter")


def test_a_price_with_a_change_scheduled_into_it_stays_active_until_the_change_applied(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any], customer_client: Any, card: Any
):
    ours = dollar_pro_with_a_change_to_starter_no_longer_sold(customer_client, card)
    usd = PlanPrice.objects.get(plan__slug="starter", currency="USD")

    kept = plan_stripe_sync(plan=starter())

    assert kept == [] and starter_usd_active(stripe_api) == [True, True]
    renewal = ours.current_period_end
    subscription_renew(subscription=ours, as_of=renewal, now=seoul(renewal))
    moved = Subscription.objects.get(pk=ours.pk)
    assert (moved.plan.slug, moved.currency, moved.price_amount, moved.pending_plan_id) == (
        "starter",
        "USD",
        2_300,
        None,
    )
    # The follow job moves Stripe's copy onto the Price: real Stripe refuses an archived one there.
    assert subscription_stripe_follow(subscription=moved) == "changed items"
    theirs = stripe.Subscription.retrieve(moved.stripe_subscription_id, **stripe_api)
    assert theirs["items"].data[0].price.id == usd.stripe_monthly_price_id

    archived = plan_stripe_sync(plan=starter())

    assert sorted((change.action, change.ref) for change in archived) == sorted(
        [("archived", usd.stripe_monthly_price_id), ("archived", usd.stripe_annual_price_id)]
    )
    assert starter_usd_active(stripe_api) == [False, False]
    theirs = stripe.Subscription.retrieve(moved.stripe_subscription_id, **stripe_api)
    assert (theirs.status, theirs["items"].data[0].price.id) == ("active", usd.stripe_monthly_price_id)


def test_a_price_whose_scheduled_change_was_dropped_is_archived_at_the_next_sync(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any], customer_client: Any, card: Any
):
    ours = dollar_pro_with_a_change_to_starter_no_longer_sold(customer_client, card)
    usd = PlanPrice.objects.get(plan__slug="starter", currency="USD")
    assert plans_stripe_sync().changes == [] and starter_usd_active(stripe_api) == [True, True]

    pending_change_drop(subscription=ours)
    changes = plan_stripe_sync(plan=starter())

    assert sorted((change.action, change.ref) for change in changes) == sorted(
        [("archived", usd.stripe_monthly_price_id), ("archived", usd.stripe_annual_price_id)]
    )
    assert starter_usd_active(stripe_api) == [False, False]
    assert plans_stripe_sync().changes == []


def test_a_price_archived_before_a_change_was_scheduled_into_it_is_brought_back(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any], customer_client: Any, card: Any
):
    # Archived by a sync that did not yet look at scheduled changes: the next sync makes it usable again.
    dollar_pro_with_a_change_to_starter_no_longer_sold(customer_client, card)
    usd = PlanPrice.objects.get(plan__slug="starter", currency="USD")
    for price_id in (usd.stripe_monthly_price_id, usd.stripe_annual_price_id):
        stripe.Price.modify(price_id, active=False, **stripe_api)

    changes = plan_stripe_sync(plan=starter())

    assert sorted((change.action, change.ref) for change in changes) == sorted(
        [("reactivated", usd.stripe_monthly_price_id), ("reactivated", usd.stripe_annual_price_id)]
    )
    assert starter_usd_active(stripe_api) == [True, True]
