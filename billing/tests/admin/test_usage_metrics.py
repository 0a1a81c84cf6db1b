"""Metrics and plan charges in the admin: read-only pages in Korean, the plan page lists its usage charges."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.models.plans import SubscriptionPlan
from billing.models.usage import BillableMetric, PlanCharge

pytestmark = pytest.mark.django_db


def test_the_metric_list_shows_the_files_metrics_and_who_charges_them(
    billing_staff_admin_client: Client, plans: dict[str, SubscriptionPlan]
) -> None:
    response = billing_staff_admin_client.get(reverse("admin:billing_billablemetric_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "과금 지표" in page and "과금하는 요금제" in page
    assert "API 호출" in page and "활성 사용자" in page
    assert "payg, pro, starter" in page  # api_calls
    assert response.context["has_add_permission"] is False


def test_a_metric_page_is_view_only_and_points_at_the_plan_file(
    billing_staff_admin_client: Client, superuser: Any, plans: dict[str, SubscriptionPlan]
) -> None:
    metric = BillableMetric.objects.get(code="storage_gb")
    url = reverse("admin:billing_billablemetric_change", args=[metric.pk])

    page = billing_staff_admin_client.get(url).content.decode()

    assert "manage.py seed_plans가 billing/plans.yaml에서 불러옵니다" in page
    assert "payg" in page
    posted = billing_staff_admin_client.post(url, {"code": "x", "name": "x", "unit": "x", "aggregation": "sum"})
    assert posted.status_code == 403
    metric.refresh_from_db()
    assert (metric.code, metric.aggregation) == ("storage_gb", "max")


def test_nobody_adds_or_deletes_metrics_or_charges_in_the_admin(
    admin_client: Client, plans: dict[str, SubscriptionPlan]
) -> None:
    charge = PlanCharge.objects.get(plan__slug="pro", currency="KRW")

    assert admin_client.get(reverse("admin:billing_billablemetric_add")).status_code == 403
    assert admin_client.get(reverse("admin:billing_plancharge_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:billing_plancharge_delete", args=[charge.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert PlanCharge.objects.filter(pk=charge.pk).exists()


def test_the_plan_page_lists_its_usage_charges_in_korean(
    billing_staff_admin_client: Client, plans: dict[str, SubscriptionPlan]
) -> None:
    def page(slug: str) -> str:
        url = reverse("admin:billing_subscriptionplan_change", args=[plans[slug].pk])
        response = billing_staff_admin_client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    pro, starter, payg = page("pro"), page("starter"), page("payg")

    assert "요금제 사용량 과금" in pro and "기본 제공량 초과분 가격" in pro
    assert "100,000건" in pro and "1,000건당 ₩1,000" in pro
    assert "1–100,000건: 건당 ₩2" in starter and "100,001건 이상: 건당 ₩1" in starter
    assert "건당 ₩2" in payg and "1–100GB: GB당 ₩500" in payg and "1,001GB 이상: GB당 ₩300" in payg
    assert "건당" not in page("free")  # no usage charges


def test_a_flat_tier_amount_is_shown(billing_staff_admin_client: Client, plans: dict[str, SubscriptionPlan]) -> None:
    PlanCharge.objects.filter(plan__slug="starter", currency="KRW").update(
        tiers=[
            {"up_to": 10, "unit_amount": 0, "flat_amount": 5_000},
            {"up_to": None, "unit_amount": 3, "flat_amount": 0},
        ]
    )

    url = reverse(
        "admin:billing_plancharge_change", args=[PlanCharge.objects.get(plan__slug="starter", currency="KRW").pk]
    )
    page = billing_staff_admin_client.get(url).content.decode()

    assert "1–10건: 건당 ₩0 + 고정 ₩5,000" in page
    assert "11건 이상: 건당 ₩3" in page


def test_the_plan_form_still_saves_with_charges_on_the_page(
    admin_client: Client, plans: dict[str, SubscriptionPlan]
) -> None:
    pro = plans["pro"]
    url = reverse("admin:billing_subscriptionplan_change", args=[pro.pk])

    response = admin_client.post(
        url,
        {
            "name": "프로 플러스",
            "name_en": "Pro+",
            "is_active": "on",
            "display_order": "30",
            "monthly_price": "99000",
            "annual_price": "990000",
            "max_projects": "20",
            "trial_days": "0",
            "features": "[]",
            "features_en": "[]",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    pro.refresh_from_db()
    assert pro.name == "프로 플러스"
    assert PlanCharge.objects.get(plan=pro, currency="KRW").unit_amount == 1_000  # untouched
