"""Plans in Stripe: a Product per plan with a monthly and an annual KRW Price, price changes, idempotent reruns."""

from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from djstripe import models as djstripe_models

from billing.models.plans import SubscriptionPlan
from billing.providers.stripe.plans import plan_stripe_sync, plans_stripe_sync
from billing.services.plans import plan_file_load, plans_sync

pytestmark = pytest.mark.django_db


def stripe_prices(plan: SubscriptionPlan, stripe_api: dict) -> list:
    return list(stripe.Price.list(product=plan.stripe_product_id, limit=100, **stripe_api).auto_paging_iter())


def test_every_plan_becomes_a_product_with_monthly_and_annual_krw_prices(stripe_plans, stripe_api):
    pro = SubscriptionPlan.objects.get(slug="pro")

    product = stripe.Product.retrieve(pro.stripe_product_id, **stripe_api)
    monthly = stripe.Price.retrieve(pro.stripe_monthly_price_id, **stripe_api)
    annual = stripe.Price.retrieve(pro.stripe_annual_price_id, **stripe_api)

    assert product.metadata["billing_plan_id"] == str(pro.pk) and product.active is True
    # Zero-decimal: ₩99,000 is 99000 in Stripe, not 9900000 (and not 990).
    assert (monthly.unit_amount, monthly.currency, monthly.recurring.interval) == (99000, "krw", "month")
    assert (annual.unit_amount, annual.currency, annual.recurring.interval) == (pro.annual_price, "krw", "year")
    assert monthly.product == annual.product == product.id
    assert djstripe_models.Product.objects.filter(id=product.id).exists()
    mirrored = djstripe_models.Price.objects.get(id=monthly.id)
    assert (mirrored.unit_amount, mirrored.currency) == (99000, "krw")
    products = {plan.stripe_product_id for plan in SubscriptionPlan.objects.all()}
    assert len(products) == SubscriptionPlan.objects.count() == 6


def test_a_second_sync_changes_nothing_in_stripe(stripe_plans, stripe_api):
    before = [price.id for price in stripe.Price.list(limit=100, **stripe_api).auto_paging_iter()]

    report = plans_stripe_sync()

    after = [price.id for price in stripe.Price.list(limit=100, **stripe_api).auto_paging_iter()]
    assert report.changes == [] and report.plans == 6
    assert sorted(before) == sorted(after)
    assert len(list(stripe.Product.list(limit=100, **stripe_api).auto_paging_iter())) == 6


def test_a_changed_price_is_a_new_price_and_the_old_one_is_archived(stripe_plans, stripe_api):
    pro = SubscriptionPlan.objects.get(slug="pro")
    old_monthly, old_annual = pro.stripe_monthly_price_id, pro.stripe_annual_price_id
    SubscriptionPlan.objects.filter(pk=pro.pk).update(monthly_price=109000)
    pro.refresh_from_db()

    changes = plan_stripe_sync(plan=pro)

    pro.refresh_from_db()
    new_monthly = stripe.Price.retrieve(pro.stripe_monthly_price_id, **stripe_api)
    assert pro.stripe_monthly_price_id != old_monthly and new_monthly.unit_amount == 109000
    assert stripe.Price.retrieve(old_monthly, **stripe_api).active is False
    assert pro.stripe_annual_price_id == old_annual  # untouched
    assert [(change.what, change.action) for change in changes] == [("price", "created"), ("price", "archived")]
    assert djstripe_models.Price.objects.get(id=old_monthly).active is False


def test_going_back_to_an_earlier_price_brings_the_archived_price_back(stripe_plans, stripe_api):
    pro = SubscriptionPlan.objects.get(slug="pro")
    original = pro.stripe_monthly_price_id
    SubscriptionPlan.objects.filter(pk=pro.pk).update(monthly_price=109000)
    plan_stripe_sync(plan=SubscriptionPlan.objects.get(pk=pro.pk))
    SubscriptionPlan.objects.filter(pk=pro.pk).update(monthly_price=99000)

    changes = plan_stripe_sync(plan=SubscriptionPlan.objects.get(pk=pro.pk))

    pro.refresh_from_db()
    assert pro.stripe_monthly_price_id == original
    assert stripe.Price.retrieve(original, **stripe_api).active is True
    assert ("price", "reactivated") in [(change.what, change.action) for change in changes]
    won = [price for price in stripe_prices(pro, stripe_api) if price.currency == "krw"]  # (the others: USD, EUR, JPY)
    assert len(won) == 3  # the original, the 109,000 one, the annual: no duplicate


def test_a_plan_that_lost_its_stripe_ids_adopts_its_product_instead_of_making_a_second(stripe_plans, stripe_api):
    pro = SubscriptionPlan.objects.get(slug="pro")
    product_id = pro.stripe_product_id
    SubscriptionPlan.objects.filter(pk=pro.pk).update(stripe_product_id="", stripe_monthly_price_id="")

    changes = plan_stripe_sync(plan=SubscriptionPlan.objects.get(pk=pro.pk))

    pro.refresh_from_db()
    assert pro.stripe_product_id == product_id
    assert pro.stripe_monthly_price_id
    assert ("product", "adopted") in [(change.what, change.action) for change in changes]
    assert len(list(stripe.Product.list(limit=100, **stripe_api).auto_paging_iter())) == 6


def test_a_retired_plan_archives_its_product(stripe_plans, stripe_api):
    SubscriptionPlan.objects.filter(slug="starter").update(is_active=False)
    starter = SubscriptionPlan.objects.get(slug="starter")

    plan_stripe_sync(plan=starter)

    assert stripe.Product.retrieve(starter.stripe_product_id, **stripe_api).active is False


def test_seed_plans_syncs_stripe_and_says_so_then_finds_nothing_to_do(db, stripe_on, stripe_api):
    first, second = StringIO(), StringIO()

    call_command("seed_plans", "--no-progress", stdout=first)
    call_command("seed_plans", "--no-progress", stdout=second)

    assert "product" in first.getvalue() and "created" in first.getvalue()
    assert "Stripe: every plan's product and prices are up to date." in second.getvalue()
    for plan in SubscriptionPlan.objects.all():
        monthly = stripe.Price.retrieve(plan.stripe_monthly_price_id, **stripe_api)
        assert monthly.unit_amount == plan.monthly_price


def test_with_stripe_off_seed_plans_leaves_stripe_alone(db, settings):
    settings.STRIPE_ENABLED = False
    out = StringIO()

    call_command("seed_plans", "--no-progress", stdout=out)

    assert "Stripe" not in out.getvalue()
    assert not SubscriptionPlan.objects.exclude(stripe_product_id="").exists()


def test_plan_file_loading_is_unchanged_by_the_sync(stripe_plans):
    report = plans_sync(plan_file=plan_file_load())

    assert not report.changed  # the Stripe ids are not the plan file's business
