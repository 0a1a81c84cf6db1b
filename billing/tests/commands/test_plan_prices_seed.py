"""`manage.py seed_plans` with a currency dropped from a plan while subscriptions pay in it: the price is kept for
them, no longer sold, and the command says so; listed again, it is sold again."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.services.plans import PLAN_FILE
from billing.tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

PRO_JPY = "      JPY: {monthly: 8900, annual: 89000}\n"
PRO_JPY_CHARGE = "          JPY: {unit_amount: 90}\n"


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_plans", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_dropped_currency_paid_in_is_no_longer_sold_and_sold_again_when_listed(tmp_path: Path):
    seed()
    pro = SubscriptionPlan.objects.get(slug="pro")
    SubscriptionFactory(customer=CustomerFactory(currency="JPY"), plan=pro, currency="JPY", price_amount=8_900)
    text = PLAN_FILE.read_text(encoding="utf-8")
    assert PRO_JPY in text and PRO_JPY_CHARGE in text
    without = tmp_path / "plans.yaml"
    without.write_text(text.replace(PRO_JPY, "", 1).replace(PRO_JPY_CHARGE, "", 1), encoding="utf-8")

    dropped = seed(str(without))
    again = seed(str(without))
    listed = seed()

    assert "  - price pro/JPY: no longer sold (not in the file; its subscriptions keep it)" in dropped
    assert "! price pro/JPY is not in the file, but plan 'pro' has 1 subscription(s) in JPY: kept." in dropped
    assert "Prices: 0 created, 0 updated, 0 removed, 1 no longer sold." in dropped
    assert "No changes: every plan is up to date." in again
    assert "  ~ price pro/JPY: active False -> True" in listed
    assert "Prices: 0 created, 1 updated, 0 removed." in listed
    assert PlanPrice.objects.get(plan=pro, currency="JPY").active is True
