"""manage.py billing_dunning takes the dunning steps of a day, once, like the daily task, and reports them."""

import io
from datetime import date

import pytest
from django.core.management import call_command

from billing.models.subscriptions import DunningStep, Subscription
from billing.services.subscriptions import subscription_create
from billing.tasks import dunning_task
from billing.tests.helpers import seoul

pytestmark = pytest.mark.django_db


@pytest.fixture
def overdue(customer, plans, settings):
    """Pro monthly from 1 January 2025, its first invoice unpaid and due on 31 January."""
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    settings.BILLING_DUNNING_FINAL_DAYS = 14
    settings.BILLING_DUNNING_FINAL_ACTION = "cancel"
    return subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("billing_dunning", "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_takes_the_step_of_the_day_once_and_reports_it(overdue):
    first = run("--as-of", "2025-02-03")
    second = run("--as-of", "2025-02-03")

    assert "Dunning as of 2025-02-03 (reminders on days 1, 3, 7, cancel on day 14): 1 overdue invoice(s)" in first
    assert "reminders queued: 1" in first
    assert "reminders queued" not in second
    assert list(DunningStep.objects.values_list("step", "days_after_due")) == [(2, 3)]


def test_reports_the_final_action(overdue):
    output = run("--as-of", "2025-02-14")

    assert "subscriptions canceled (unpaid): 1" in output
    assert Subscription.objects.get(pk=overdue.subscription.pk).cancellation_reason == "unpaid"


def test_the_daily_task_does_the_same_once(overdue):
    first = dunning_task(as_of="2025-02-07")
    second = dunning_task(as_of="2025-02-07")

    assert (first["steps"], second["steps"]) == ({"reminder": 1}, {})
    assert list(DunningStep.objects.values_list("step", "days_after_due")) == [(3, 7)]


def test_the_beat_schedule_runs_the_task_daily():
    from django.conf import settings as django_settings

    from billing_site.celery import app

    (entry,) = [entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "billing.dunning"]
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({10}, {15})
    assert app.tasks["billing.dunning"].name == dunning_task.name
