"""Races on PostgreSQL: concurrent subscribes of one customer, concurrent renewals of one subscription."""

import pytest

from billing.models import Invoice
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionInvoice
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import run_concurrently, seoul
from billing_site.errors import ApplicationError
from billing_site.tests.helpers import jwt_client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_concurrent_double_subscribe_over_http_leaves_exactly_one_active_subscription(postgresql, plans):
    customer = CustomerFactory.create(user__username="double-clicker")
    clients = [jwt_client(customer.user), jwt_client(customer.user)]  # one browser tab each, logged in as them

    def click(index: int) -> tuple[int, dict]:
        response = clients[index].post(
            "/api/payment/subscribe", {"plan": "pro", "billing_period": "monthly"}, format="json"
        )
        return response.status_code, response.json()

    results = run_concurrently(click, 2)

    assert sorted(status for status, _ in results) == [201, 409], results
    assert [body["error"]["code"] for status, body in results if status == 409] == ["already_subscribed"]
    assert Subscription.objects.filter(customer=customer).count() == 1
    assert Subscription.objects.get(customer=customer).status == "active"
    assert Invoice.objects.filter(customer=customer).count() == 1


def test_many_concurrent_subscribes_to_different_plans_leave_one_live_subscription(postgresql, plans):
    customer = CustomerFactory(user__username="indecisive")
    choices = [("starter", "monthly"), ("pro", "monthly"), ("enterprise", "monthly"), ("pro", "annual")] * 2

    def subscribe(index: int) -> str:
        slug, period = choices[index]
        try:
            subscription_create(customer=customer, plan=plans[slug], billing_period=period, when="now")
        except ApplicationError as error:
            return error.code
        return "subscribed"

    results = run_concurrently(subscribe, len(choices))

    assert set(results) <= {"subscribed", "already_subscribed"}, results
    subscriptions = list(Subscription.objects.filter(customer=customer).order_by("id"))
    assert len(subscriptions) == results.count("subscribed")
    assert [s.status in LIVE_STATUSES for s in subscriptions].count(True) == 1
    # They queued: each one replaced the one before it, and each has exactly one invoice.
    assert [s.replaces_id for s in subscriptions] == [None, *[s.pk for s in subscriptions[:-1]]]
    assert Invoice.objects.filter(customer=customer).count() == len(subscriptions)


def test_concurrent_renewal_runs_for_one_day_issue_one_invoice_per_period(postgresql, plans):
    from datetime import date

    customers = [CustomerFactory(user__username=f"renewing-{index}") for index in range(3)]
    subscriptions = [
        subscription_create(
            customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
        ).subscription
        for customer in customers
    ]

    summaries = run_concurrently(lambda _: subscriptions_renew_all(as_of=date(2025, 3, 31)), 4)

    assert all(not isinstance(summary, Exception) for summary in summaries), summaries
    for subscription in subscriptions:
        periods = list(
            SubscriptionInvoice.objects.filter(subscription=subscription).values_list("period_start", flat=True)
        )
        assert periods == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)]
    assert sum(summary.invoices for summary in summaries) == 2 * len(subscriptions)
    assert Invoice.objects.filter(customer__in=customers).count() == 3 * len(subscriptions)


def test_locking_a_subscription_does_not_lock_its_plan(postgresql, plans):
    import threading

    from django.db import connection, transaction

    from billing.models.plans import SubscriptionPlan
    from billing.services.subscription_states import customer_lock, subscription_lock

    customer = CustomerFactory(user__username="holder")
    subscription = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly").subscription
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                customer_lock(customer.pk)
                subscription_lock(subscription_id=subscription.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        with transaction.atomic():  # seed_plans, or another customer's subscribe, is not blocked
            plan = SubscriptionPlan.objects.select_for_update(nowait=True).get(pk=plans["pro"].pk)
        assert plan.slug == "pro"
    finally:
        release.set()
        holder.join(timeout=30)
