"""A price no longer sold (review of issue 17): a change scheduled into it keeps the plan's usage charge in that
currency too, and a subscriber on it keeps changing seats and re-asking its own plan (it buys no new price)."""

from datetime import date
from typing import Any

import pytest

from billing.models import PlanCharge
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.services.plans import PlanSyncReport, plan_file_parse, plans_sync
from billing.services.subscriptions import subscription_create, subscription_quantity_change, subscription_renew
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

JAN_1, JAN_10, FEB_1 = date(2025, 1, 1), date(2025, 1, 10), date(2025, 2, 1)
PRO_JPY = "      JPY: {monthly: 8900, annual: 89000}\n"
PRO_JPY_CHARGE = "          JPY: {unit_amount: 90}\n"
TEAM_JPY = "      JPY: {monthly: 1500, annual: 15000}\n"
FILE = f"""
version: 1
currency: KRW
metrics:
  - code: api_calls
    name: API 호출
    unit: 건
    aggregation: count
plans:
  - slug: starter
    name: 스타터
    prices:
      KRW: {{monthly: 29000, annual: 290000}}
      JPY: {{monthly: 2600, annual: 26000}}
  - slug: team
    name: 팀
    per_seat: true
    prices:
      KRW: {{monthly: 15000, annual: 150000}}
{TEAM_JPY}  - slug: pro
    name: 프로
    prices:
      KRW: {{monthly: 99000, annual: 990000}}
{PRO_JPY}    charges:
      - metric: api_calls
        charge_model: package
        included_quantity: 100
        package_size: 10
        prices:
          KRW: {{unit_amount: 1000}}
{PRO_JPY_CHARGE}"""


def seed(text: str = FILE) -> PlanSyncReport:
    return plans_sync(plan_file=plan_file_parse(text))


def subscribe(customer: Any, slug: str, day: date = JAN_1, **options: Any) -> Any:
    plan = SubscriptionPlan.objects.get(slug=slug)
    return subscription_create(customer=customer, plan=plan, billing_period="monthly", now=seoul(day), **options)


def test_a_change_scheduled_into_a_dropped_currency_keeps_its_usage_charge():
    seed()
    customer = CustomerFactory.create()
    started = subscribe(customer, "starter", currency="JPY")
    pay(started.invoice)
    assert subscribe(customer, "pro", JAN_10, when="period_end").scheduled

    report = seed(FILE.replace(PRO_JPY, "").replace(PRO_JPY_CHARGE, ""))

    # Without its charge, the subscription would renew onto pro in JPY with every call above 100 free.
    assert "charge pro/api_calls/JPY is not in the file, but plan 'pro' has 1 subscription(s) in JPY: kept." in (
        report.warnings
    )
    assert sorted(PlanCharge.objects.filter(plan__slug="pro").values_list("currency", flat=True)) == ["JPY", "KRW"]
    subscription_renew(subscription=started.subscription, as_of=FEB_1, now=seoul(FEB_1))
    renewed = Subscription.objects.get(pk=started.subscription.pk)
    assert (renewed.plan.slug, renewed.currency, renewed.price_amount) == ("pro", "JPY", 8_900)


@pytest.fixture
def team_in_yen() -> Subscription:
    """Three seats of team in JPY (¥1,500 each, paid), then team's JPY price dropped from the file."""
    seed()
    started = subscribe(CustomerFactory.create(), "team", currency="JPY", quantity=3)
    pay(started.invoice)
    seed(FILE.replace(TEAM_JPY, ""))
    return Subscription.objects.get(pk=started.subscription.pk)


def test_fewer_seats_on_a_price_no_longer_sold_are_scheduled(team_in_yen):
    subscription_quantity_change(subscription=team_in_yen, quantity=2, now=seoul(JAN_10))

    fresh = Subscription.objects.get(pk=team_in_yen.pk)
    assert (fresh.quantity, fresh.pending_quantity, fresh.pending_plan_id) == (3, 2, fresh.plan_id)


def test_more_seats_on_a_price_no_longer_sold_are_added(team_in_yen):
    subscription_quantity_change(subscription=team_in_yen, quantity=4, now=seoul(JAN_10))

    fresh = Subscription.objects.get(pk=team_in_yen.pk)
    assert (fresh.quantity, fresh.price_amount, fresh.currency) == (4, 6_000, "JPY")


def test_re_asking_its_own_plan_with_more_seats_is_not_refused(team_in_yen):
    result = subscribe(team_in_yen.customer, "team", JAN_10, quantity=5)

    fresh = Subscription.objects.get(pk=result.subscription.pk)
    assert (fresh.plan.slug, fresh.currency, fresh.quantity, fresh.price_amount) == ("team", "JPY", 5, 7_500)


def test_another_billing_period_of_a_price_no_longer_sold_is_a_new_price(team_in_yen):
    with pytest.raises(ApplicationError) as error:
        subscription_create(
            customer=team_in_yen.customer,
            plan=team_in_yen.plan,
            billing_period="annual",
            now=seoul(JAN_10),
            when="period_end",
        )
    assert (error.value.code, error.value.status_code, error.value.message) == (
        "currency_mismatch",
        409,
        "Plan team is not sold in JPY any more.",
    )
    assert Subscription.objects.get(pk=team_in_yen.pk).pending_plan_id is None
