"""Plan prices per currency in Stripe (localstripe): a monthly and an annual Price per currency on the plan's one
Product, amounts in Stripe's smallest unit (KRW and JPY zero-decimal, USD and EUR cents), the subscription's Price
the one of its currency."""

from typing import Any

import pytest
import stripe
from django.core.exceptions import ImproperlyConfigured
from djstripe.settings import djstripe_settings

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.providers.stripe.client import stripe_amount
from billing.providers.stripe.plans import plan_price_id, plan_stripe_sync, plans_stripe_sync
from billing.providers.stripe.subscriptions import subscription_stripe_prepare
from billing.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# What Stripe must show for pro: ₩99,000 is 99000 (not 9900000), $79.00 is 7900 cents, ¥8,900 is 8900 (not 890000).
PRO = {"KRW": (99_000, 990_000), "USD": (7_900, 79_000), "EUR": (7_200, 72_000), "JPY": (8_900, 89_000)}


@pytest.mark.parametrize(("currency", "amount"), [("KRW", 99_000), ("JPY", 8_900), ("USD", 7_900), ("EUR", 7_200)])
def test_our_minor_units_are_stripes_smallest_unit_in_every_currency_we_sell_in(currency, amount):
    assert stripe_amount(amount=amount, currency=currency) == amount


def test_a_currency_stripe_counts_differently_from_us_is_refused_not_converted(monkeypatch):
    without_yen = [code for code in djstripe_settings.ZERO_DECIMAL_CURRENCIES if code != "jpy"]
    monkeypatch.setattr(djstripe_settings, "ZERO_DECIMAL_CURRENCIES", without_yen)

    with pytest.raises(ImproperlyConfigured, match="JPY"):
        stripe_amount(amount=8_900, currency="JPY")


def test_every_currency_of_a_plan_is_a_monthly_and_an_annual_price_on_its_product(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any]
):
    pro = SubscriptionPlan.objects.get(slug="pro")
    rows = {row.currency: row for row in PlanPrice.objects.filter(plan=pro)}

    assert set(rows) == set(PRO)
    for currency, (monthly_amount, annual_amount) in PRO.items():
        monthly = stripe.Price.retrieve(rows[currency].stripe_monthly_price_id, **stripe_api)
        annual = stripe.Price.retrieve(rows[currency].stripe_annual_price_id, **stripe_api)
        assert monthly.recurring is not None and annual.recurring is not None
        assert (monthly.unit_amount, monthly.currency, monthly.recurring.interval) == (
            monthly_amount,
            currency.lower(),
            "month",
        )
        assert (annual.unit_amount, annual.currency, annual.recurring.interval) == (
            annual_amount,
            currency.lower(),
            "year",
        )
        assert monthly.product == annual.product == pro.stripe_product_id
        assert monthly.active and annual.active
    # The default currency's Prices are the plan's own, as before there were other currencies.
    assert (rows["KRW"].stripe_monthly_price_id, rows["KRW"].stripe_annual_price_id) == (
        pro.stripe_monthly_price_id,
        pro.stripe_annual_price_id,
    )
    products = list(stripe.Product.list(limit=100, **stripe_api).auto_paging_iter())
    assert len(products) == SubscriptionPlan.objects.count()  # one per plan, whatever its currencies


def test_a_second_sync_changes_nothing_in_any_currency(stripe_plans: dict[str, SubscriptionPlan]):
    before = set(PlanPrice.objects.values_list("stripe_monthly_price_id", "stripe_annual_price_id"))

    report = plans_stripe_sync()

    assert report.changes == []
    assert set(PlanPrice.objects.values_list("stripe_monthly_price_id", "stripe_annual_price_id")) == before


def test_a_changed_price_in_one_currency_is_a_new_price_in_that_currency_only(
    stripe_plans: dict[str, SubscriptionPlan], stripe_api: dict[str, Any]
):
    pro = SubscriptionPlan.objects.get(slug="pro")
    before = {row.currency: row.stripe_monthly_price_id for row in PlanPrice.objects.filter(plan=pro)}
    PlanPrice.objects.filter(plan=pro, currency="USD").update(monthly_price=8_900)

    changes = plan_stripe_sync(plan=SubscriptionPlan.objects.get(pk=pro.pk))

    after = {row.currency: row.stripe_monthly_price_id for row in PlanPrice.objects.filter(plan=pro)}
    assert [(change.what, change.action) for change in changes] == [("price", "created"), ("price", "archived")]
    assert after["USD"] != before["USD"]
    assert {currency: after[currency] for currency in ("KRW", "EUR", "JPY")} == {
        currency: before[currency] for currency in ("KRW", "EUR", "JPY")
    }
    new = stripe.Price.retrieve(after["USD"], **stripe_api)
    assert (new.unit_amount, new.currency) == (8_900, "usd")
    assert stripe.Price.retrieve(before["USD"], **stripe_api).active is False


def test_the_price_id_asked_for_is_the_one_of_that_currency(stripe_plans: dict[str, SubscriptionPlan]):
    pro = SubscriptionPlan.objects.get(slug="pro")
    jpy = PlanPrice.objects.get(plan=pro, currency="JPY")

    assert plan_price_id(pro, "annual", 89_000, "JPY") == jpy.stripe_annual_price_id
    assert plan_price_id(pro, "monthly", 99_000) == pro.stripe_monthly_price_id  # default: the plan's currency


def test_a_card_subscription_in_dollars_is_prepared_with_the_dollar_price(
    stripe_plans: dict[str, SubscriptionPlan], card: Any
):
    customer = CustomerFactory.create(currency="USD")
    pro = stripe_plans["pro"]

    setup = subscription_stripe_prepare(
        customer=customer, plan=pro, billing_period="monthly", payment_method_id=card(), replacing=None
    )

    assert setup.price_reference == PlanPrice.objects.get(plan=pro, currency="USD").stripe_monthly_price_id
    assert stripe.Price.retrieve(setup.price_reference, api_key=djstripe_settings.STRIPE_SECRET_KEY).currency == "usd"
