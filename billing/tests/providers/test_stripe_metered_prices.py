"""Metered prices and the harness's localstripe: what it accepts and refuses, and why plan charges are not mapped
onto Stripe prices (docs/stripe.md, "Usage-based billing"). Should the harness learn Billing Meters, the refusals
below fail and the mapping can be built and verified."""

from typing import Any

import pytest
import stripe

from billing.models.plans import SubscriptionPlan
from billing.models.usage import PlanCharge
from billing.providers.stripe.plans import plans_stripe_sync
from billing.tests.factories import PlanChargeFactory

pytestmark = pytest.mark.django_db

MONTHLY_METERED = {"interval": "month", "usage_type": "metered"}


@pytest.fixture
def product(stripe_api: dict[str, Any]) -> str:
    return str(stripe.Product.create(name="API 호출", **stripe_api).id)


def test_localstripe_makes_only_the_legacy_metered_prices_that_our_api_version_no_longer_allows(product, stripe_api):
    per_unit = stripe.Price.create(
        product=product, currency="krw", unit_amount=10, recurring=MONTHLY_METERED, **stripe_api
    )
    graduated = stripe.Price.create(
        product=product,
        currency="krw",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 100_000, "unit_amount": 0}, {"up_to": "inf", "unit_amount": 1}],
        recurring=MONTHLY_METERED,
        **stripe_api,
    )

    for price in (per_unit, graduated):
        recurring = stripe.Price.retrieve(price.id, **stripe_api).recurring
        # No meter: what Stripe calls a legacy usage-based price, refused since API version 2025-03-31.basil.
        assert (recurring.usage_type, recurring.meter) == ("metered", None)


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"unit_amount": 10, "recurring": {**MONTHLY_METERED, "meter": "mtr_api_calls"}}, "recurring[meter]"),
        ({"unit_amount": 10, "recurring": {**MONTHLY_METERED, "aggregate_usage": "max"}}, "recurring[aggregate_usage]"),
        (
            {
                "unit_amount": 1_000,
                "transform_quantity": {"divide_by": 1_000, "round": "up"},
                "recurring": MONTHLY_METERED,
            },
            "transform_quantity[divide_by]",
        ),
    ],
    ids=["meter", "max-or-last-aggregation", "package"],
)
def test_localstripe_refuses_meter_backed_max_and_package_prices(product, stripe_api, parameters, refused):
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe.Price.create(product=product, currency="krw", **parameters, **stripe_api)

    assert refused in str(error.value)


def test_localstripe_has_no_billing_meters_meter_events_or_usage_records(stripe_api, card):
    with pytest.raises(stripe.InvalidRequestError, match="billing/meters"):
        stripe.billing.Meter.create(
            display_name="API calls", event_name="api_calls", default_aggregation={"formula": "count"}, **stripe_api
        )
    with pytest.raises(stripe.InvalidRequestError, match="billing/meter_events"):
        stripe.billing.MeterEvent.create(
            event_name="api_calls", payload={"stripe_customer_id": "cus_1", "value": "1"}, **stripe_api
        )
    customer = stripe.Customer.create(**stripe_api)
    method = card()
    stripe.PaymentMethod.attach(method, customer=customer.id, **stripe_api)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": method}, **stripe_api)
    price = stripe.Price.create(
        product_data={"name": "API 호출"}, currency="krw", unit_amount=10, recurring=MONTHLY_METERED, **stripe_api
    )
    subscription = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}], **stripe_api)
    item = subscription["items"]["data"][0]
    client = stripe.StripeClient(stripe_api["api_key"], base_addresses={"api": stripe.api_base})
    with pytest.raises(stripe.InvalidRequestError, match="usage_records"):
        client.raw_request("post", f"/v1/subscription_items/{item.id}/usage_records", quantity=5, timestamp=1)


def test_plan_sync_keeps_plan_charges_out_of_stripe(stripe_plans, stripe_api):
    pro = SubscriptionPlan.objects.get(slug="pro")
    PlanChargeFactory(plan=pro, included_quantity=100_000, unit_amount=1)

    plans_stripe_sync()

    prices = list(stripe.Price.list(limit=100, **stripe_api).auto_paging_iter())
    assert prices and all(price.recurring.usage_type == "licensed" for price in prices)
    assert not PlanCharge.objects.exclude(stripe_price_id="").exists()
