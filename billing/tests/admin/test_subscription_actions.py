"""Subscription page actions: change plan, cancel now or at period end, run the renewal; support cannot."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Customer, Subscription, SubscriptionPlan
from billing.models.subscriptions import CancellationReason, SubscriptionStatus
from billing.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


def button(subscription: Subscription, action: str) -> str:
    return reverse("admin:billing_subscription_object_action", args=[subscription.pk, action])


@pytest.fixture
def subscription(customer: Customer, basic_and_pro_plans: dict[str, SubscriptionPlan]) -> Subscription:
    return subscription_create(
        customer=customer, plan=basic_and_pro_plans["basic"], billing_period="monthly"
    ).subscription


def test_page_shows_the_buttons(admin_client: Client, subscription: Subscription) -> None:
    page = admin_client.get(reverse("admin:billing_subscription_change", args=[subscription.pk])).content.decode()
    for action in ("cancel_at_period_end", "cancel_now", "renew"):
        assert button(subscription, action) in page
    assert reverse("admin:billing_subscription_change_plan", args=[subscription.pk]) in page
    assert "₩10,000" in page


def test_cancel_at_period_end_then_now(admin_client: Client, subscription: Subscription) -> None:
    admin_client.post(button(subscription, "cancel_at_period_end"))
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == SubscriptionStatus.ACTIVE
    again = admin_client.post(button(subscription, "cancel_at_period_end"), follow=True)
    assert any("이미 기간 종료 시 해지" in str(m) for m in get_messages(again.wsgi_request))
    admin_client.post(button(subscription, "cancel_now"))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED
    assert subscription.cancellation_reason == CancellationReason.REQUESTED


def test_run_renewal_invoices_the_periods_due(
    admin_client: Client, customer: Customer, basic_and_pro_plans: dict[str, SubscriptionPlan]
) -> None:
    started = timezone.now() - timedelta(days=70)
    subscription = subscription_create(
        customer=customer, plan=basic_and_pro_plans["pro"], billing_period="monthly", now=started
    ).subscription
    response = admin_client.post(button(subscription, "renew"), follow=True)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("renewed" in m for m in messages), messages
    subscription.refresh_from_db()
    assert subscription.period_invoices.count() == 3  # the first period and two renewals
    assert subscription.current_period_end > timezone.localdate()


def test_change_plan_form(
    admin_client: Client, subscription: Subscription, basic_and_pro_plans: dict[str, SubscriptionPlan]
) -> None:
    url = reverse("admin:billing_subscription_change_plan", args=[subscription.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"plan": basic_and_pro_plans["pro"].pk, "billing_period": "annual"})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED
    new = subscription.replaced_by
    assert (new.plan_id, new.billing_period, new.price_amount) == (basic_and_pro_plans["pro"].pk, "annual", 990_000)
    same = admin_client.post(
        reverse("admin:billing_subscription_change_plan", args=[new.pk]),
        {"plan": basic_and_pro_plans["pro"].pk, "billing_period": "annual"},
        follow=True,
    )
    assert any("already subscribed" in str(m) for m in get_messages(same.wsgi_request))


def test_bulk_actions_report_each(admin_client: Client, subscription: Subscription) -> None:
    response = admin_client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "cancel_now_selected", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert any(
        f"Subscription {subscription.pk}" in str(m) or str(subscription.pk) in str(m)
        for m in get_messages(response.wsgi_request)
    )
    again = admin_client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "cancel_now_selected", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert any("이미 해지되었습니다" in str(m) for m in get_messages(again.wsgi_request))


def test_support_cannot_change_subscriptions(support_admin_client: Client, subscription: Subscription) -> None:
    assert (
        support_admin_client.get(reverse("admin:billing_subscription_change", args=[subscription.pk])).status_code
        == 200
    )
    assert support_admin_client.post(button(subscription, "cancel_now")).status_code == 403
    assert (
        support_admin_client.get(reverse("admin:billing_subscription_change_plan", args=[subscription.pk])).status_code
        == 403
    )
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_audit_trail_shows_who_canceled(admin_client: Client, admin_user: Any, subscription: Subscription) -> None:
    admin_client.post(button(subscription, "cancel_at_period_end"))
    page = admin_client.get(reverse("admin:billing_subscription_change", args=[subscription.pk])).content.decode()
    assert admin_user.username in page
    assert "cancel at period end" in page.lower() or "기간 종료 시 해지" in page
