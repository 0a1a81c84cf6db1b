"""A plan price dropped from the plan file while subscriptions are in its currency (issue 17, review): seed_plans
keeps the row for them but marks it no longer sold (`PlanPrice.active`), so new subscribes, plan changes and the
plan list refuse or leave it out, while the subscriptions in it renew at the price they copied."""

from datetime import date
from typing import Any

import pytest

from billing.models import Customer
from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.selectors.plans import plan_list_active, plan_price_in, plan_prices
from billing.services.plans import PlanSyncReport, plan_default_price_sync, plan_file_parse, plans_sync
from billing.services.subscription_emails import next_terms
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_checkout,
    subscription_create,
    subscription_renew,
)
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY = "monthly"
JAN_1, JAN_10, FEB_1 = date(2025, 1, 1), date(2025, 1, 10), date(2025, 2, 1)
PRO_JPY = "      JPY: {monthly: 8900, annual: 89000}\n"
BASIC_JPY = "      JPY: {monthly: 3200, annual: 32000}\n"
FILE = f"""
version: 1
currency: KRW
plans:
  - slug: basic
    name: 베이직
    prices:
      KRW: {{monthly: 29000, annual: 290000}}
      USD: {{monthly: 2900, annual: 29000}}
{BASIC_JPY}  - slug: pro
    name: 프로
    prices:
      KRW: {{monthly: 99000, annual: 990000}}
      USD: {{monthly: 7900, annual: 79000}}
{PRO_JPY}"""
NOT_SOLD = "Plan pro is not sold in JPY any more."


def seed(text: str = FILE, **options: Any) -> PlanSyncReport:
    return plans_sync(plan_file=plan_file_parse(text), **options)


def plan(slug: str) -> SubscriptionPlan:
    return SubscriptionPlan.objects.get(slug=slug)


def subscribe(customer: Customer, slug: str, day: date = JAN_1, **options: Any) -> Any:
    return subscription_create(customer=customer, plan=plan(slug), billing_period=MONTHLY, now=seoul(day), **options)


def refused(call: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        call()
    return error.value


@pytest.fixture
def yen_subscriber() -> Subscription:
    """A customer paying pro in JPY (¥8,900 a month, paid), then pro's JPY price dropped from the file."""
    seed()
    started = subscribe(CustomerFactory.create(), "pro", currency="JPY")
    pay(started.invoice)
    seed(FILE.replace(PRO_JPY, ""))
    return Subscription.objects.get(pk=started.subscription.pk)


# --- seed_plans ----------------------------------------------------------------------------------------


def test_a_dropped_currency_with_a_subscription_stays_but_is_no_longer_sold():
    seed()
    subscribe(CustomerFactory.create(), "pro", currency="JPY")

    report = seed(FILE.replace(PRO_JPY, ""))
    again = seed(FILE.replace(PRO_JPY, ""))

    row = PlanPrice.objects.get(plan__slug="pro", currency="JPY")
    assert (row.active, row.monthly_price, row.annual_price) == (False, 8_900, 89_000)
    assert [change.describe() for change in report.price_changes] == [
        "  - price pro/JPY: no longer sold (not in the file; its subscriptions keep it)"
    ]
    assert report.price_count("deactivate") == 1
    assert "price pro/JPY is not in the file, but plan 'pro' has 1 subscription(s) in JPY: kept." in report.warnings
    assert again.price_changes == () and not again.changed  # idempotent; the warning stays
    assert PlanPrice.objects.filter(active=True).count() == 5


def test_an_unused_dropped_currency_is_still_removed():
    seed()

    report = seed(FILE.replace(PRO_JPY, ""))

    assert [change.describe() for change in report.price_changes] == ["  - price pro/JPY: remove (not in the file)"]
    assert not PlanPrice.objects.filter(plan__slug="pro", currency="JPY").exists()


def test_listed_again_the_price_is_sold_again(yen_subscriber):
    report = seed()

    assert [change.describe() for change in report.price_changes] == ["  ~ price pro/JPY: active False -> True"]
    assert PlanPrice.objects.get(plan__slug="pro", currency="JPY").active is True
    assert plan_price_in(plan=plan("pro"), currency="JPY").monthly_price == 8_900


def test_a_dry_run_marks_nothing(yen_subscriber):
    seed()
    report = seed(FILE.replace(PRO_JPY, ""), dry_run=True)

    assert [change.action for change in report.price_changes] == ["deactivate"]
    assert PlanPrice.objects.get(plan__slug="pro", currency="JPY").active is True


def test_a_change_scheduled_into_the_plan_keeps_its_price_which_applies_at_the_renewal():
    seed()
    customer = CustomerFactory.create()
    started = subscribe(customer, "pro", currency="JPY")
    pay(started.invoice)
    assert subscribe(customer, "basic", JAN_10).scheduled  # a downgrade: at the period end, at ¥3,200

    report = seed(FILE.replace(BASIC_JPY, ""))

    # Nobody is on basic in JPY, but the scheduled change is: the row stays, no longer sold.
    assert [change.action for change in report.price_changes] == ["deactivate"]
    assert PlanPrice.objects.get(plan__slug="basic", currency="JPY").active is False
    assert next_terms(Subscription.objects.get(pk=started.subscription.pk)).price_amount == 3_200
    (invoice,) = subscription_renew(subscription=started.subscription, as_of=FEB_1, now=seoul(FEB_1)).invoices
    renewed = Subscription.objects.get(pk=started.subscription.pk)
    assert (renewed.plan.slug, renewed.currency, renewed.price_amount) == ("basic", "JPY", 3_200)
    assert (invoice.currency, invoice.subtotal) == ("JPY", 3_200)


def test_the_default_currencys_row_is_always_sold():
    seed()
    pro = plan("pro")
    PlanPrice.objects.filter(plan=pro, currency="KRW").update(active=False)

    assert plan_price_in(plan=plan("pro"), currency="KRW").active is True
    assert plan_default_price_sync(plan=pro).active is True
    assert PlanPrice.objects.get(plan=pro, currency="KRW").active is True


# --- reads ---------------------------------------------------------------------------------------------


def test_plan_price_in_refuses_a_price_no_longer_sold_but_a_subscription_still_reads_it(yen_subscriber):
    error = refused(lambda: plan_price_in(plan=plan("pro"), currency="JPY"))

    assert (error.code, error.status_code, error.message) == ("currency_mismatch", 409, NOT_SOLD)
    kept = plan_price_in(plan=plan("pro"), currency="JPY", for_sale=False)
    assert (kept.currency, kept.monthly_price, kept.active) == ("JPY", 8_900, False)


def test_the_plan_list_shows_only_prices_still_sold(yen_subscriber, django_assert_num_queries):
    with django_assert_num_queries(2):
        listed = {p.slug: [row.currency for row in plan_prices(plan=p)] for p in plan_list_active()}
    in_yen = [p.slug for p in plan_list_active("JPY")]

    assert listed == {"basic": ["JPY", "KRW", "USD"], "pro": ["KRW", "USD"]}
    assert in_yen == ["basic"]
    assert [row.currency for row in plan_prices(plan=plan("pro"), unsold=True)] == ["JPY", "KRW", "USD"]


# --- new subscribers and plan changes ------------------------------------------------------------------


def test_a_new_subscriber_cannot_choose_a_price_no_longer_sold(yen_subscriber):
    buyer = CustomerFactory.create()

    error = refused(lambda: subscribe(buyer, "pro", currency="JPY"))

    assert (error.code, error.status_code, error.message) == ("currency_mismatch", 409, NOT_SOLD)
    buyer.refresh_from_db()
    assert buyer.currency == "KRW" and not Subscription.objects.filter(customer=buyer).exists()
    assert subscribe(buyer, "basic", currency="JPY").subscription.price_amount == 3_200  # basic still is


def test_without_a_currency_a_customer_whose_currency_is_not_sold_any_more_pays_the_default(yen_subscriber):
    # Not fixed yet (nothing billed): the currency staff chose, which pro is no longer sold in.
    buyer = CustomerFactory.create(currency="JPY")

    started = subscribe(buyer, "pro")

    assert (started.subscription.currency, started.subscription.price_amount) == ("KRW", 99_000)


def test_a_fixed_customer_cannot_check_out_a_price_no_longer_sold(yen_subscriber):
    buyer = CustomerFactory.create()
    first = subscribe(buyer, "basic", currency="JPY").subscription
    subscription_cancel(subscription=first, immediately=True, now=seoul(JAN_1))  # fixed in JPY all the same

    error = refused(
        lambda: subscription_checkout(customer=buyer, plan=plan("pro"), billing_period=MONTHLY, now=seoul(JAN_10))
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)


@pytest.mark.parametrize("when", ["now", "period_end"])
def test_a_plan_change_into_a_price_no_longer_sold_is_409(yen_subscriber, when):
    customer = CustomerFactory.create()
    started = subscribe(customer, "basic", currency="JPY")
    pay(started.invoice)

    error = refused(lambda: subscribe(customer, "pro", JAN_10, when=when))

    assert (error.code, error.status_code, error.message) == ("currency_mismatch", 409, NOT_SOLD)
    current = Subscription.objects.get(pk=started.subscription.pk)
    assert (current.status, current.plan.slug, current.has_pending_change) == ("active", "basic", False)


def test_staff_cannot_move_a_subscription_into_a_price_no_longer_sold(yen_subscriber, billing_staff_user):
    customer = CustomerFactory.create()
    started = subscribe(customer, "basic", currency="JPY")
    pay(started.invoice)

    error = refused(
        lambda: subscription_change_plan(
            subscription=started.subscription, plan=plan("pro"), now=seoul(JAN_10), actor=billing_staff_user
        )
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)


# --- existing subscriptions --------------------------------------------------------------------------


def test_a_subscription_in_a_price_no_longer_sold_renews_at_its_price(yen_subscriber):
    (invoice,) = subscription_renew(subscription=yen_subscriber, as_of=FEB_1, now=seoul(FEB_1)).invoices

    renewed = Subscription.objects.get(pk=yen_subscriber.pk)
    assert (renewed.plan.slug, renewed.currency, renewed.price_amount, renewed.current_period_start) == (
        "pro",
        "JPY",
        8_900,
        FEB_1,
    )
    assert (invoice.currency, invoice.subtotal) == ("JPY", 8_900)


def test_a_subscription_in_it_cannot_switch_to_the_annual_price_no_longer_sold(yen_subscriber):
    # Its own plan's annual price in JPY is a new purchase: refused like any plan change into it.
    error = refused(
        lambda: subscription_create(
            customer=yen_subscriber.customer, plan=plan("pro"), billing_period="annual", now=seoul(JAN_10), when="now"
        )
    )

    assert (error.code, error.status_code) == ("currency_mismatch", 409)
