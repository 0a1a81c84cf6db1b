"""`manage.py seed_plans` with metrics and usage charges: created by code and by (plan, metric, currency), then
nothing changes; updates say what changed; a dry run writes nothing; dropped charges leave only plans nobody
subscribed to in their currency."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.usage import BillableMetric, PlanCharge
from billing.services.plans import PLAN_FILE, plan_file_load, plans_sync
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

PRO_CHARGE = """    charges:
      # 100,000 calls a period included; then ₩1,000 ($0.80, €0.75, ¥90) per started 1,000 calls.
      - metric: api_calls
        charge_model: package
        included_quantity: 100000
        package_size: 1000
        prices:
          KRW: {unit_amount: 1000}
          USD: {unit_amount: 80}
          EUR: {unit_amount: 75}
          JPY: {unit_amount: 90}
"""
CURRENCIES = {"KRW", "USD", "EUR", "JPY"}
ACTIVE_USERS = """  - code: active_users
    name: 활성 사용자
    name_en: Active users
    unit: 명
    unit_en: users
    aggregation: unique_count
"""


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_plans", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def usage_snapshot() -> list[tuple]:
    metrics = BillableMetric.objects.order_by("code").values_list(
        "code", "name", "name_en", "unit", "unit_en", "aggregation", "is_active", "updated_at"
    )
    charges = PlanCharge.objects.order_by("plan__slug", "metric__code", "currency").values_list(
        "plan__slug",
        "metric__code",
        "currency",
        "charge_model",
        "included_quantity",
        "unit_amount",
        "package_size",
        "tiers",
        "display_order",
        "updated_at",
    )
    return [*metrics, *charges]


@pytest.fixture
def edited_plan_file(tmp_path: Path):
    def edit(*replacements: tuple[str, str]) -> str:
        text = PLAN_FILE.read_text(encoding="utf-8")
        for old, new in replacements:
            assert text.count(old) == 1, old
            text = text.replace(old, new, 1)
        path = tmp_path / "plans.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return edit


def test_first_run_creates_metrics_and_charges_and_a_second_run_changes_nothing():
    first = seed()
    after_first = usage_snapshot()
    second = seed()

    assert "+ metric api_calls: create API 호출 (count, 건)" in first
    assert "+ metric active_users: create 활성 사용자 (unique_count, 명)" in first
    assert "+ charge pro/api_calls/KRW: create package (100000 included)" in first
    assert "+ charge pro/api_calls/USD: create package (100000 included)" in first
    assert "+ charge payg/storage_gb/KRW: create volume (0 included)" in first
    assert "Metrics: 3 created, 0 updated, 0 deactivated. Charges: 16 created, 0 updated, 0 removed." in first
    assert "No changes: every plan is up to date." in second
    assert usage_snapshot() == after_first  # not even updated_at moved
    charges = {(c.plan.slug, c.metric.code, c.currency): c for c in PlanCharge.objects.select_related("plan", "metric")}
    assert set(charges) == {
        (slug, code, currency)
        for slug, code in [
            ("starter", "api_calls"),
            ("pro", "api_calls"),
            ("payg", "api_calls"),
            ("payg", "storage_gb"),
        ]
        for currency in CURRENCIES
    }
    starter = charges[("starter", "api_calls", "KRW")]
    assert (starter.charge_model, starter.included_quantity, starter.tiers) == (
        "graduated",
        10_000,
        [{"up_to": 100_000, "unit_amount": 2, "flat_amount": 0}, {"up_to": None, "unit_amount": 1, "flat_amount": 0}],
    )
    # A cent is worth more than ₩2: the other currencies price calls per started 1,000, with the same included calls.
    starter_usd = charges[("starter", "api_calls", "USD")]
    assert (starter_usd.charge_model, starter_usd.included_quantity, starter_usd.unit_amount) == (
        "package",
        10_000,
        160,
    )
    assert (starter_usd.package_size, starter_usd.tiers) == (1_000, [])
    pro_jpy = charges[("pro", "api_calls", "JPY")]
    assert (pro_jpy.charge_model, pro_jpy.unit_amount, pro_jpy.package_size) == ("package", 90, 1_000)
    assert charges[("payg", "storage_gb", "EUR")].tiers[0] == {"up_to": 100, "unit_amount": 36, "flat_amount": 0}
    payg_krw = PlanCharge.objects.filter(plan__slug="payg", currency="KRW").order_by("metric__code")
    assert [c.display_order for c in payg_krw] == [10, 20]


def test_dry_run_on_an_empty_database_lists_metrics_and_charges_and_writes_nothing():
    out = seed("--dry-run")

    assert "+ charge payg/api_calls/KRW: create per_unit (0 included)" in out
    assert "+ charge payg/api_calls/EUR: create package (0 included)" in out
    assert "Metrics: 3 created" in out and "Nothing was written (--dry-run)" in out
    assert not BillableMetric.objects.exists() and not PlanCharge.objects.exists()


def test_a_changed_charge_updates_that_charge_only_and_a_dry_run_first_writes_nothing(edited_plan_file):
    seed()
    before = usage_snapshot()
    starter_updated_at = PlanCharge.objects.get(plan__slug="starter", currency="KRW").updated_at
    pro_usd_updated_at = PlanCharge.objects.get(plan__slug="pro", currency="USD").updated_at
    path = edited_plan_file(("          KRW: {unit_amount: 1000}", "          KRW: {unit_amount: 1200}"))

    dry = seed(path, "--dry-run")
    assert "~ charge pro/api_calls/KRW: unit_amount 1000 -> 1200" in dry
    assert usage_snapshot() == before

    out = seed(path)

    assert "~ charge pro/api_calls/KRW: unit_amount 1000 -> 1200" in out
    assert "Done: 0 created, 0 updated, 0 deactivated, 6 unchanged. Metrics: 0 created" in out
    assert "Charges: 0 created, 1 updated, 0 removed." in out
    assert PlanCharge.objects.get(plan__slug="pro", currency="KRW").unit_amount == 1200
    assert PlanCharge.objects.get(plan__slug="starter", currency="KRW").updated_at == starter_updated_at
    pro_usd = PlanCharge.objects.get(plan__slug="pro", currency="USD")
    assert (pro_usd.unit_amount, pro_usd.updated_at) == (80, pro_usd_updated_at)


def test_changed_tiers_and_a_renamed_metric_are_updates(edited_plan_file):
    seed()
    path = edited_plan_file(
        (
            "              - {up_to: null, unit_amount: 1, flat_amount: 0}\n",
            "              - {up_to: 500000, unit_amount: 1}\n"
            "              - {up_to: null, unit_amount: 0, flat_amount: 50000}\n",
        ),
        ("    name_en: Active users", "    name_en: Monthly active users"),
    )

    out = seed(path)

    assert "~ charge starter/api_calls/KRW: tiers [2 tier(s)] -> [3 tier(s)]" in out
    assert "~ metric active_users: name_en 'Active users' -> 'Monthly active users'" in out
    assert PlanCharge.objects.get(plan__slug="starter", currency="KRW").tiers[2] == {
        "up_to": None,
        "unit_amount": 0,
        "flat_amount": 50_000,
    }
    assert "No changes" in seed(path)


def test_a_dropped_charge_is_removed_from_a_plan_nobody_subscribed_to(edited_plan_file):
    seed()
    path = edited_plan_file((PRO_CHARGE, ""))

    out = seed(path)

    assert "- charge pro/api_calls/KRW: remove (not in the file)" in out
    assert "- charge pro/api_calls/JPY: remove (not in the file)" in out
    assert "Charges: 0 created, 0 updated, 4 removed." in out
    assert not PlanCharge.objects.filter(plan__slug="pro").exists()
    assert BillableMetric.objects.filter(code="api_calls").exists()  # other plans still charge it
    assert "No changes" in seed(path)


def test_a_dropped_charge_stays_on_a_plan_with_subscriptions_and_a_warning_says_so(edited_plan_file, customer):
    seed()
    pro = SubscriptionPlan.objects.get(slug="pro")
    subscription_create(customer=customer, plan=pro, billing_period="monthly")
    for currency in CURRENCIES - {"KRW"}:
        # Ended ones count too: a subscription is never without the charges it was metered by.
        ended = timezone.now()
        SubscriptionFactory(
            customer=CustomerFactory(currency=currency),
            plan=pro,
            currency=currency,
            price_amount=PlanPrice.objects.get(plan=pro, currency=currency).monthly_price,
            status="canceled",
            canceled_at=ended,
            ended_at=ended,
        )
    path = edited_plan_file((PRO_CHARGE, ""))

    out = seed(path)

    assert "! charge pro/api_calls/KRW is not in the file, but plan 'pro' has 1 subscription(s) in KRW: kept." in out
    assert "! charge pro/api_calls/USD is not in the file, but plan 'pro' has 1 subscription(s) in USD: kept." in out
    assert "remove" not in out
    assert "No changes: every plan is up to date." in out  # a warning is not a change
    kept = PlanCharge.objects.filter(plan__slug="pro", metric__code="api_calls")
    assert set(kept.values_list("currency", flat=True)) == CURRENCIES


def test_a_dropped_charge_goes_from_the_currencies_nobody_subscribed_in(edited_plan_file, customer):
    seed()
    subscription_create(customer=customer, plan=SubscriptionPlan.objects.get(slug="pro"), billing_period="monthly")
    path = edited_plan_file((PRO_CHARGE, ""))

    out = seed(path)

    assert "! charge pro/api_calls/KRW is not in the file, but plan 'pro' has 1 subscription(s) in KRW: kept." in out
    assert "- charge pro/api_calls/USD: remove (not in the file)" in out
    assert "Charges: 0 created, 0 updated, 3 removed." in out
    kept = PlanCharge.objects.filter(plan__slug="pro", metric__code="api_calls")
    assert list(kept.values_list("currency", flat=True)) == ["KRW"]  # what the KRW subscription is metered by


def test_a_metric_missing_from_the_file_is_left_alone_and_deactivated_only_with_prune(edited_plan_file):
    seed()
    path = edited_plan_file((ACTIVE_USERS, ""))

    assert "No changes" in seed(path)
    assert BillableMetric.objects.get(code="active_users").is_active

    dry = seed(path, "--prune", "--dry-run")
    assert "- metric active_users: deactivate (not in the file)" in dry
    assert BillableMetric.objects.get(code="active_users").is_active

    pruned = seed(path, "--prune")

    assert "- metric active_users: deactivate (not in the file)" in pruned
    assert "Metrics: 0 created, 0 updated, 1 deactivated." in pruned
    assert not BillableMetric.objects.get(code="active_users").is_active  # deactivated, never deleted
    assert "No changes" in seed(path, "--prune")
    assert "~ metric active_users: is_active False -> True" in seed()


def test_a_plan_pruned_from_the_file_keeps_its_charges(edited_plan_file):
    seed()
    text = PLAN_FILE.read_text(encoding="utf-8")
    path = edited_plan_file((text[text.index("  - slug: payg") :], ""))

    out = seed(path, "--prune")

    assert "- payg: deactivate (not in the file)" in out
    assert "charge payg" not in out
    assert PlanCharge.objects.filter(plan__slug="payg").count() == 2 * len(CURRENCIES)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      - metric: api_calls\n        charge_model: package",
            "      - metric: api_call\n        charge_model: package",
            "plan 'pro'.charges[0].metric 'api_call' is not a metric",
        ),
        (
            "        included_quantity: 100000\n",
            "        included_quantity: -5\n",
            "plan 'pro' charge 'api_calls'.included_quantity must be from 0",
        ),
        ("  - code: storage_gb", "  - code: api_calls", "metrics[1].code 'api_calls' appears twice"),
        (
            "{up_to: 1000, unit_amount: 400",
            "{up_to: 50, unit_amount: 400",
            "plan 'payg' charge 'storage_gb'.prices.KRW.tiers[1].up_to must be greater than 100",
        ),
    ],
)
def test_a_broken_usage_section_is_a_command_error_and_changes_nothing(edited_plan_file, old, new, message):
    seed()
    before = usage_snapshot()
    path = edited_plan_file((old, new))

    with pytest.raises(CommandError, match=re.escape(message)):
        seed(path)

    assert usage_snapshot() == before


def test_plans_sync_reports_usage_changes_and_stays_idempotent():
    first = plans_sync(plan_file=plan_file_load())
    second = plans_sync(plan_file=plan_file_load())

    assert first.changed and first.usage_count("charge", "create") == 16
    assert first.price_count("create") == 6 * len(CURRENCIES)
    assert not second.changed and second.usage_changes == () and second.warnings == ()
    assert second.price_changes == ()
