"""billing's scheduled tasks: renewals fan out one job per subscription and day, each once; webhook retries and
the idempotency purge run under their advisory lock."""

from datetime import date, timedelta

import pytest
from django.db import connections

from billing.enums import JobKind
from billing.models.subscriptions import Subscription, SubscriptionInvoiceReason
from billing.tasks import idempotency_keys_purge_task, renewals_task, webhook_retries_task
from billing.tests.helpers import seoul
from billing_site.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def test_renewals_queue_one_job_per_subscription_and_day_and_the_job_renews(
    pro_from_jan_31, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = renewals_task(as_of="2025-02-28")
    with django_capture_on_commit_callbacks(execute=True):
        again = renewals_task(as_of="2025-02-28")  # a second beat, or a second run the same day

    assert (first["enqueued"], again["enqueued"]) == (1, 0)
    job = Job.objects.get(kind=JobKind.SUBSCRIPTION_RENEW)
    assert (job.key, job.status, job.attempts) == (f"renew:{pro_from_jan_31.pk}:2025-02-28", JobStatus.DONE, 1)
    assert job.result == "renewed"
    subscription = Subscription.objects.get(pk=pro_from_jan_31.pk)
    assert subscription.current_period_start == date(2025, 2, 28)
    reasons = list(subscription.period_invoices.order_by("period_start").values_list("reason", flat=True))
    assert reasons == [SubscriptionInvoiceReason.CREATE, SubscriptionInvoiceReason.CYCLE]


def test_a_subscription_not_due_gets_no_job(pro_from_jan_31):
    assert renewals_task(as_of="2025-02-27")["enqueued"] == 0
    assert not Job.objects.filter(kind=JobKind.SUBSCRIPTION_RENEW).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("task", [renewals_task, webhook_retries_task, idempotency_keys_purge_task])
def test_a_scheduled_task_already_running_elsewhere_is_skipped(postgresql, task):
    name = task.name
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [f"billing_site.exclusive:{name}"])
        assert task() == {"skipped": True}
    finally:
        other.close()


def test_the_renewal_day_defaults_to_today_in_seoul(pro_from_jan_31, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: seoul(date(2025, 2, 28)) + timedelta(hours=1))

    assert renewals_task()["as_of"] == "2025-02-28"
