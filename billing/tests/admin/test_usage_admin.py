"""Usage in the admin: the rollups page draws events per day for the customer and metric filtered, every usage page
is read-only, and the events page never counts the whole table."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageEvent
from billing.tests.factories import BillableMetricFactory, CustomerFactory, UsageRollupFactory

pytestmark = pytest.mark.django_db


def _hour(days_ago: int) -> object:
    return (timezone.now() - timedelta(days=days_ago)).replace(minute=0, second=0, microsecond=0)


def test_the_rollups_page_charts_the_filtered_customers_events_per_day(billing_staff_admin_client: Client) -> None:
    metric = BillableMetricFactory.create(code="api_calls_chart")
    mine, theirs = CustomerFactory.create(), CustomerFactory.create()
    UsageRollupFactory.create(customer=mine, metric=metric, hour=_hour(2), event_count=1_234)
    UsageRollupFactory.create(customer=theirs, metric=metric, hour=_hour(2), event_count=9_999)
    url = reverse("admin:billing_usagerollup_changelist")

    page = billing_staff_admin_client.get(f"{url}?customer__id__exact={mine.pk}").content.decode()

    assert "일별 사용량 이벤트 (최근 30일)" in page
    assert 'data-value="1234"' in page
    assert 'data-value="9999"' not in page  # another customer's usage is not in this chart
    everyone = billing_staff_admin_client.get(url).content.decode()
    assert 'data-value="11233"' in everyone


@pytest.mark.parametrize(
    ("model", "client_name"),
    [
        ("usagerollup", "billing_staff_admin_client"),
        ("usagealert", "billing_staff_admin_client"),
        ("usageevent", "billing_staff_admin_client"),
        # Dedup keys and distinct values are internal: no group may view them, a superuser still cannot edit them.
        ("usageeventkey", "admin_client"),
        ("usagedistinctvalue", "admin_client"),
    ],
)
def test_every_usage_page_is_read_only(request: pytest.FixtureRequest, model: str, client_name: str) -> None:
    client: Client = request.getfixturevalue(client_name)
    response = client.get(reverse(f"admin:billing_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["has_add_permission"] is False
    assert client.get(reverse(f"admin:billing_{model}_add")).status_code == 403


def test_the_events_page_counts_at_most_the_cap(billing_staff_admin_client: Client, monkeypatch) -> None:
    monkeypatch.setattr("billing.admin.usage.COUNT_CAP", 3)
    metric = BillableMetricFactory.create(code="api_calls_cap")
    customer = CustomerFactory.create()
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        UsageEvent(customer=customer, metric=metric, event_id=f"e{n}", value=1, timestamp=now, received_at=now)
        for n in range(6)
    )

    response = billing_staff_admin_client.get(reverse("admin:billing_usageevent_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 4  # the cap plus one: "more than 3"
