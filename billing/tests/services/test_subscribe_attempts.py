"""The reconcile of subscribe attempts (billing.provider_reconcile) without Stripe: stuck attempts are compensated,
young ones and finished ones are left alone, and two schedulers at once run it once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import SubscribeAttempt, SubscribeAttemptStatus
from billing.services.subscriptions import subscribe_attempts_reconcile
from billing.tasks import provider_reconcile_task
from billing_site.jobs.services import exclusive

pytestmark = pytest.mark.django_db


def attempt(customer, plans, *, status=SubscribeAttemptStatus.STARTED, age_minutes=30):
    return SubscribeAttempt.objects.create(
        customer=customer,
        plan=plans["pro"],
        billing_period="monthly",
        provider="manual",
        status=status,
        currency="KRW",
        total=108900,
        started_at=timezone.now() - timedelta(minutes=age_minutes),
    )


def test_a_stuck_attempt_is_compensated_and_a_young_one_is_left_to_its_request(customer, plans, other_customer):
    stuck = attempt(customer, plans)
    young = attempt(other_customer, plans, age_minutes=1)

    report = subscribe_attempts_reconcile()

    stuck.refresh_from_db()
    young.refresh_from_db()
    assert report.stuck == 1 and not report.failures
    assert stuck.status == SubscribeAttemptStatus.COMPENSATED and stuck.result == "nothing was made at the provider"
    assert "stuck" in stuck.error
    assert young.status == SubscribeAttemptStatus.STARTED


def test_an_attempt_made_through_another_provider_waits_for_it(customer, plans, settings):
    made = attempt(customer, plans)
    SubscribeAttempt.objects.filter(pk=made.pk).update(provider="stripe")
    settings.STRIPE_ENABLED = False

    report = subscribe_attempts_reconcile()

    made.refresh_from_db()
    assert made.status == SubscribeAttemptStatus.COMPENSATING and report.failures


def test_one_started_attempt_per_customer(customer, plans):
    from django.db import IntegrityError, transaction

    attempt(customer, plans)
    with pytest.raises(IntegrityError), transaction.atomic():
        attempt(customer, plans)
    attempt(customer, plans, status=SubscribeAttemptStatus.COMPENSATED)  # finished ones do not count


def test_the_task_runs_once_when_two_schedulers_start_it(customer, plans):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def other_scheduler() -> dict:
        try:
            return provider_reconcile_task()
        finally:
            connections.close_all()

    attempt(customer, plans)
    with exclusive("billing.provider_reconcile") as first, ThreadPoolExecutor(1) as pool:
        second = pool.submit(other_scheduler).result()
    assert first and second == {"skipped": True}
    assert provider_reconcile_task() == {"stuck": 1, "compensated": 1, "failures": []}


def test_a_provider_subscription_finished_after_its_attempt_was_compensated_is_compensated_again(customer, plans):
    """An unclear failure (a timeout while Stripe was still working) was compensated before Stripe finished the
    create; when its subscription then shows up live, nothing of ours follows it, so it is undone too."""
    from billing.enums import JobKind
    from billing.providers.base import RemoteSubscription
    from billing.services.provider_sync import _attempt_subscription
    from billing.tests.factories import SubscribeAttemptFactory
    from billing_site.jobs.models import Job

    attempt = SubscribeAttemptFactory.create(customer=customer, plan=plans["pro"], status="compensated")
    live = RemoteSubscription(reference="sub_late", status="active", claimed_attempt_id=str(attempt.pk))
    ended = RemoteSubscription(reference="sub_gone", ended=True, claimed_attempt_id=str(attempt.pk))

    assert "nothing" not in _attempt_subscription(ended) and not Job.objects.exists()
    assert "compensating it too" in _attempt_subscription(live)

    attempt.refresh_from_db()
    assert attempt.status == SubscribeAttemptStatus.COMPENSATING
    job = Job.objects.get()
    assert (job.kind, job.key, job.payload) == (
        JobKind.SUBSCRIBE_ATTEMPT_COMPENSATE,
        f"subscribe_attempt_compensate:{attempt.pk}:sub_late",
        {"attempt_id": attempt.pk},
    )
