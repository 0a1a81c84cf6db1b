"""Subscription lifecycle in the admin: resume, pause (until a date or until resumed), drop a pending change, change
the seats; the list shows trials, pauses and pending changes; support cannot act; plans show trials and seats."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Customer, Subscription, SubscriptionPlan
from billing.models.subscriptions import SubscriptionStatus
from billing.periods import billing_date
from billing.services.subscriptions import subscription_cancel, subscription_create
from billing.tests.factories import SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:billing_subscription_changelist"


def button(subscription: Subscription, action: str) -> str:
    return reverse("admin:billing_subscription_object_action", args=[subscription.pk, action])


def page(client: Client, subscription: Subscription) -> str:
    return client.get(reverse("admin:billing_subscription_change", args=[subscription.pk])).content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def subscription(customer: Customer, basic_and_pro_plans: dict[str, SubscriptionPlan]) -> Subscription:
    """An active Pro subscription, monthly, started today."""
    return subscription_create(
        customer=customer, plan=basic_and_pro_plans["pro"], billing_period="monthly"
    ).subscription


@pytest.fixture
def seated(customer: Customer) -> Subscription:
    """An active subscription of 2 seats of a ₩10,000 per-seat plan, started today."""
    plan = SubscriptionPlanFactory.create(slug="seats", name="좌석", per_seat=True, monthly_price=10_000)
    return subscription_create(customer=customer, plan=plan, billing_period="monthly", quantity=2).subscription


def test_resume_undoes_a_cancel_at_period_end(admin_client: Client, subscription: Subscription) -> None:
    assert button(subscription, "resume") not in page(admin_client, subscription)
    subscription_cancel(subscription=subscription, immediately=False)
    assert button(subscription, "resume") in page(admin_client, subscription)

    admin_client.post(button(subscription, "resume"))

    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, False)


def test_pause_until_a_date_then_resume(admin_client: Client, subscription: Subscription) -> None:
    url = reverse("admin:billing_subscription_pause", args=[subscription.pk])
    assert url in page(admin_client, subscription)
    assert admin_client.get(url).status_code == 200
    resume_on = billing_date(timezone.now()) + timedelta(days=200)  # staff are not held to the customer's limit

    response = admin_client.post(url, {"resume_on": resume_on.isoformat()}, follow=True)

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAUSED
    assert subscription.pauses.get().resume_on == resume_on
    assert any(str(resume_on) in message for message in messages_of(response))
    assert str(resume_on) in page(admin_client, subscription)  # the open pause, shown
    admin_client.post(button(subscription, "resume"))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_pause_without_a_date_lasts_until_resumed(admin_client: Client, subscription: Subscription) -> None:
    admin_client.post(reverse("admin:billing_subscription_pause", args=[subscription.pk]), {"resume_on": ""})

    subscription.refresh_from_db()
    assert (subscription.status, subscription.pauses.get().resume_on) == (SubscriptionStatus.PAUSED, None)


def test_a_refused_pause_is_a_message(admin_client: Client, subscription: Subscription) -> None:
    url = reverse("admin:billing_subscription_pause", args=[subscription.pk])
    yesterday = billing_date(timezone.now()) - timedelta(days=1)

    response = admin_client.post(url, {"resume_on": yesterday.isoformat()}, follow=True)

    assert response.status_code == 200
    assert any("refused" in message or "거부" in message for message in messages_of(response))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_more_seats_now_with_an_invoice_and_fewer_at_the_period_end(admin_client: Client, seated: Subscription) -> None:
    url = reverse("admin:billing_subscription_seats", args=[seated.pk])
    assert url in page(admin_client, seated)

    more = admin_client.post(url, {"quantity": "5"}, follow=True)
    seated.refresh_from_db()
    assert (seated.quantity, seated.price_amount) == (5, 50_000)
    assert seated.period_invoices.filter(reason="subscription_update").count() == 1
    assert any("5" in message for message in messages_of(more))

    admin_client.post(url, {"quantity": "3"})
    seated.refresh_from_db()
    assert (seated.quantity, seated.pending_quantity) == (5, 3)


@pytest.mark.parametrize("quantity", ["0", "-1", "10001", "abc", ""])
def test_the_seats_form_refuses_a_bad_number(admin_client: Client, seated: Subscription, quantity: str) -> None:
    response = admin_client.post(reverse("admin:billing_subscription_seats", args=[seated.pk]), {"quantity": quantity})

    assert response.status_code == 200  # the form again, with its error
    seated.refresh_from_db()
    assert seated.quantity == 2


def test_a_plan_not_per_seat_has_no_seats_page_link(admin_client: Client, subscription: Subscription) -> None:
    assert reverse("admin:billing_subscription_seats", args=[subscription.pk]) not in page(admin_client, subscription)


def test_drop_the_pending_change(
    admin_client: Client, subscription: Subscription, basic_and_pro_plans: dict[str, SubscriptionPlan]
) -> None:
    subscription_create(
        customer=subscription.customer, plan=basic_and_pro_plans["basic"], billing_period="monthly"
    )  # a downgrade: pending for the period end
    subscription.refresh_from_db()
    assert subscription.has_pending_change
    listed = admin_client.get(reverse(CHANGELIST), {"pending_change": "yes"}).content.decode()
    assert "베이직" in listed and str(subscription.current_period_end) in page(admin_client, subscription)

    admin_client.post(button(subscription, "drop_pending_change"))

    subscription.refresh_from_db()
    assert not subscription.has_pending_change
    again = admin_client.post(
        reverse(CHANGELIST),
        {"action": "drop_pending_change_selected", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert any("refused" in message or "거부" in message for message in messages_of(again))


def test_bulk_pause_and_resume(admin_client: Client, subscription: Subscription) -> None:
    admin_client.post(reverse(CHANGELIST), {"action": "pause_selected", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAUSED
    assert "paused" in admin_client.get(reverse(CHANGELIST), {"status__exact": "paused"}).content.decode().lower()

    admin_client.post(reverse(CHANGELIST), {"action": "resume_selected", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_the_list_shows_trials_and_seats(admin_client: Client, customer: Customer) -> None:
    plan = SubscriptionPlanFactory.create(slug="team-trial", per_seat=True, trial_days=14, monthly_price=15_000)
    trial = subscription_create(customer=customer, plan=plan, billing_period="monthly", quantity=3).subscription
    assert trial.status == SubscriptionStatus.TRIALING

    listed = admin_client.get(reverse(CHANGELIST), {"status__exact": "trialing"}).content.decode()

    assert f">{trial.pk}<" in listed or f"/{trial.pk}/change/" in listed
    assert "₩45,000" in listed


def test_support_cannot_resume_pause_or_change_seats(support_admin_client: Client, seated: Subscription) -> None:
    html = page(support_admin_client, seated)
    assert reverse("admin:billing_subscription_pause", args=[seated.pk]) not in html
    for name in ("pause", "seats"):
        url = reverse(f"admin:billing_subscription_{name}", args=[seated.pk])
        assert support_admin_client.get(url).status_code == 403
        assert support_admin_client.post(url, {"quantity": "9", "resume_on": ""}).status_code == 403
    assert support_admin_client.post(button(seated, "resume")).status_code == 403
    seated.refresh_from_db()
    assert (seated.status, seated.quantity) == (SubscriptionStatus.ACTIVE, 2)


def test_the_plans_list_shows_trial_days_and_seats(admin_client: Client) -> None:
    SubscriptionPlanFactory(slug="team", name="팀", per_seat=True, trial_days=14)

    listed = admin_client.get(reverse("admin:billing_subscriptionplan_changelist")).content.decode()

    assert '<td class="field-trial_days">14</td>' in listed
    assert '<td class="field-per_seat"><img src="/static/admin/img/icon-yes.svg" alt="True">' in listed
