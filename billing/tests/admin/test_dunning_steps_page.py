"""The dunning steps page: every step taken, with a chart of the steps per week and action above the list."""

from datetime import date
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from billing.admin.subscription_lifecycle import dunning_chart
from billing.models import Customer, DunningAction, DunningStep
from billing.services.dunning import dunning_run
from billing.services.subscriptions import subscription_create
from billing.tests.helpers import seoul

pytestmark = pytest.mark.django_db


@pytest.fixture
def steps(customer: Customer, plans: dict[str, Any], settings: Any) -> list[DunningStep]:
    """A pro invoice issued 1 January 2025, due 31 January, never paid: reminders on 1 February (a Saturday: week of
    27 January), 3 and 7 February (week of 3 February), and the final cancel on 14 February (week of 10 February)."""
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    settings.BILLING_DUNNING_FINAL_DAYS = 14
    subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1)))
    for day in (date(2025, 2, 1), date(2025, 2, 3), date(2025, 2, 7), date(2025, 2, 14)):
        dunning_run(as_of=day, now=seoul(day))
    return list(DunningStep.objects.order_by("step"))


def test_the_chart_counts_the_steps_of_each_week_per_action(steps: list[DunningStep]) -> None:
    assert [(step.action, step.done_on) for step in steps] == [
        (DunningAction.REMINDER, date(2025, 2, 1)),
        (DunningAction.REMINDER, date(2025, 2, 3)),
        (DunningAction.REMINDER, date(2025, 2, 7)),
        (DunningAction.CANCEL, date(2025, 2, 14)),
    ]

    with translation.override("en"):
        chart = dunning_chart(weeks=4, today=date(2025, 2, 16))

    assert "<title>01-27 Reminder: 1</title>" in chart  # Saturday 1 February
    assert "<title>02-03 Reminder: 2</title>" in chart  # Monday 3 and Friday 7 February
    assert "<title>02-10 Subscription canceled: 1</title>" in chart
    assert "<title>02-10 Reminder: 0</title>" in chart
    assert "<title>01-20 Reminder: 0</title>" in chart  # the first week of the four, before any step


def test_staff_who_may_see_invoices_get_the_page_with_its_chart(
    billing_staff_admin_client: Any, steps: list[DunningStep]
) -> None:
    response = billing_staff_admin_client.get(reverse("admin:billing_dunningstep_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "주별 독촉 단계" in page and "<svg" in page  # "Dunning steps per week": the admin is Korean
    assert page.count('class="field-step"') == len(steps)
