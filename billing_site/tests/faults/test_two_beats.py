"""Two beat processes by mistake, the renewals scheduled every second: each due subscription is renewed once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.enums import JobKind
from billing.models.subscriptions import SubscriptionInvoice, SubscriptionInvoiceReason
from billing.periods import billing_date
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.jobs.models import Job, JobStatus
from harness.stack import celery_beat_start, celery_worker_start

from .support import FAULTS_GROUP, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group(FAULTS_GROUP), pytest.mark.slow]

SUBSCRIPTIONS = 3
TICKS = 3  # renewal runs each beat sends before the test looks


def test_two_beats_renew_each_due_subscription_once(plans, stack_env, stack, monkeypatch, tmp_path):
    monkeypatch.setattr("billing_site.jobs.services.job_dispatch", lambda **_: False)  # first PDFs: not the point
    started = billing_date(timezone.now()) - timedelta(days=35)  # one monthly period ended a few days ago
    subscriptions = []
    for number in range(SUBSCRIPTIONS):
        customer = CustomerFactory.create(user__username=f"subscriber{number}")
        start = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(started))
        pay(start.invoice, now=seoul(started))
        subscriptions.append(start.subscription)
    env = stack_env(BILLING_RENEWALS_EVERY_SECONDS="1")
    stack.append(celery_worker_start(env, concurrency=2, name="renewer"))
    beats = [celery_beat_start(env, tmp_path / f"beat-{number}-schedule", name=f"beat{number}") for number in (1, 2)]
    stack.extend(beats)

    def ticks(beat_log: str) -> int:
        return beat_log.count("Sending due task billing-renewals")

    wait_until(lambda: all(ticks(beat.log_since_start()) >= TICKS for beat in beats), what=f"{TICKS} ticks per beat")
    renew_jobs = Job.objects.filter(kind=JobKind.SUBSCRIPTION_RENEW)
    wait_until(
        lambda: renew_jobs.count() == SUBSCRIPTIONS and not renew_jobs.exclude(status=JobStatus.DONE).exists(),
        what="the renewal jobs finishing",
    )

    assert sorted(renew_jobs.values_list("payload__subscription_id", "attempts")) == [
        (subscription.pk, 1) for subscription in subscriptions
    ]
    for subscription in subscriptions:
        assert list(
            SubscriptionInvoice.objects.filter(subscription=subscription)
            .order_by("period_start")
            .values_list("reason", flat=True)
        ) == [SubscriptionInvoiceReason.CREATE, SubscriptionInvoiceReason.CYCLE]
