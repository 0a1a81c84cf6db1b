"""Usage alerts: 80 % and 100 % of the included quantity, each once per period, emailed in the customer's language."""

from datetime import date, timedelta

import pytest
from celery.schedules import crontab
from django.core import mail

from billing.enums import EmailKind, Language, MetricAggregation
from billing.models import UsageAlert
from billing.services.usage_alerts import thresholds_reached, usage_alerts_check
from billing.tasks import usage_alerts_task
from billing.tests.factories import (
    BillableMetricFactory,
    CustomerFactory,
    PlanChargeFactory,
    SubscriptionFactory,
    SubscriptionPlanFactory,
    UsageRollupFactory,
)
from billing.tests.helpers import seoul
from billing_site.mail.models import Email, EmailStatus

pytestmark = pytest.mark.django_db

STARTED = date(2025, 3, 1)
NOW = seoul(date(2025, 3, 10), 15)
SINCE = NOW - timedelta(minutes=10)


@pytest.fixture
def api_calls():
    return BillableMetricFactory.create(
        code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls"
    )


@pytest.fixture
def metered(api_calls):
    """A customer on a plan that includes 1,000 API calls a month (₩10 each beyond), in its period from 1 March."""
    plan = SubscriptionPlanFactory.create(name="프로", name_en="Pro")
    PlanChargeFactory.create(plan=plan, metric=api_calls, included_quantity=1_000, unit_amount=10)
    customer = CustomerFactory.create(user__username="metered", user__email="metered@example.com")
    return SubscriptionFactory.create(customer=customer, plan=plan, started=STARTED)


def use(subscription, metric, calls: int, day: date = date(2025, 3, 5), hour: int = 10):
    """`calls` events of the metric in one hour of a Seoul day, as the ingestion's rollup would hold them."""
    return UsageRollupFactory.create(
        customer=subscription.customer, metric=metric, hour=seoul(day, hour), event_count=calls, value_max=1
    )


def check(capture, *, since=SINCE, now=NOW) -> int:
    with capture(execute=True):
        return usage_alerts_check(since=since, now=now)


def alerts(subscription) -> list[tuple[str, date, int, int, int]]:
    return list(
        UsageAlert.objects.filter(customer=subscription.customer)
        .order_by("period_start", "threshold")
        .values_list("metric__code", "period_start", "threshold", "quantity", "included_quantity")
    )


def alert_messages() -> list[mail.EmailMessage]:
    return [
        message for message in mail.outbox if "사용량 알림" in message.subject or "included usage" in message.subject
    ]


@pytest.mark.parametrize(
    ("quantity", "included", "expected"),
    [(0, 1_000, []), (799, 1_000, []), (800, 1_000, [80]), (999, 1_000, [80]), (1_000, 1_000, [80, 100]),
     (5, 7, []), (6, 7, [80]), (7, 7, [80, 100]), (10**12, 1, [80, 100]), (5, 0, [])],
)  # fmt: skip
def test_thresholds_are_reached_at_their_percent_of_the_included_quantity(quantity, included, expected):
    assert thresholds_reached(quantity=quantity, included=included) == expected


def test_below_80_percent_nothing_is_sent(metered, api_calls, mailoutbox, django_capture_on_commit_callbacks):
    use(metered, api_calls, 799)

    assert check(django_capture_on_commit_callbacks) == 0
    assert alerts(metered) == [] and alert_messages() == []


def test_80_then_100_percent_each_once_per_period(metered, api_calls, mailoutbox, django_capture_on_commit_callbacks):
    use(metered, api_calls, 800)
    assert check(django_capture_on_commit_callbacks) == 1
    assert check(django_capture_on_commit_callbacks) == 0  # the next run sees the same usage: nothing more

    (first,) = alert_messages()
    assert first.subject == "[사용량 알림] API 호출 사용량이 포함 제공량의 80%에 도달했습니다"
    assert first.to == ["metered@example.com"]
    assert "현재 사용량: 800건 (80%)" in first.body and "포함 제공량: 1,000건" in first.body
    assert "이용 기간: 2025년 3월 1일 ~ 2025년 3월 31일" in first.body
    html = str(first.alternatives[0][0])
    assert "800건 (80%)" in html and "<style" not in html

    use(metered, api_calls, 250, hour=11)  # 1,050 in all
    assert check(django_capture_on_commit_callbacks) == 1
    assert check(django_capture_on_commit_callbacks) == 0

    assert alerts(metered) == [
        ("api_calls", STARTED, 80, 800, 1_000),
        ("api_calls", STARTED, 100, 1_050, 1_000),
    ]
    assert [message.subject for message in alert_messages()][1:] == [
        "[사용량 알림] API 호출 사용량이 포함 제공량의 100%에 도달했습니다"
    ]
    assert "1,050건 (105%)" in alert_messages()[1].body
    statuses = Email.objects.filter(kind=EmailKind.USAGE_ALERT).values_list("status", flat=True)
    assert list(statuses) == [EmailStatus.SENT, EmailStatus.SENT]


def test_jumping_past_100_percent_at_once_emails_only_the_100_percent_alert(
    metered, api_calls, mailoutbox, django_capture_on_commit_callbacks
):
    use(metered, api_calls, 1_500)

    assert check(django_capture_on_commit_callbacks) == 2

    assert [threshold for _, _, threshold, _, _ in alerts(metered)] == [80, 100]
    (message,) = alert_messages()
    assert "100%" in message.subject
    assert Email.objects.filter(kind=EmailKind.USAGE_ALERT).count() == 1


def test_a_falling_quantity_never_sends_80_after_100(mailoutbox, django_capture_on_commit_callbacks):
    storage = BillableMetricFactory.create(code="storage_gb", aggregation=MetricAggregation.LATEST, unit="GB")
    plan = SubscriptionPlanFactory.create()
    PlanChargeFactory.create(plan=plan, metric=storage, included_quantity=100)
    subscription = SubscriptionFactory.create(customer__user__email="disk@example.com", plan=plan, started=STARTED)
    UsageRollupFactory.create(
        customer=subscription.customer, metric=storage, hour=seoul(date(2025, 3, 5)), value_max=120
    )
    assert check(django_capture_on_commit_callbacks) == 2

    # Later the disk is cleaned up to 85 GB: 80 % again, but that alert was recorded with the 100 % one.
    UsageRollupFactory.create(
        customer=subscription.customer, metric=storage, hour=seoul(date(2025, 3, 6)), value_max=85
    )
    assert check(django_capture_on_commit_callbacks) == 0
    assert len(alert_messages()) == 1


def test_a_new_period_alerts_again(metered, api_calls, mailoutbox, django_capture_on_commit_callbacks):
    use(metered, api_calls, 900)
    assert check(django_capture_on_commit_callbacks) == 1

    # Renewed on 1 April: the March usage no longer counts, April's does.
    metered.current_period_start, metered.current_period_end = date(2025, 4, 1), date(2025, 5, 1)
    metered.save(update_fields=["current_period_start", "current_period_end"])
    april = seoul(date(2025, 4, 3), 15)
    assert check(django_capture_on_commit_callbacks, since=april - timedelta(minutes=10), now=april) == 0
    use(metered, api_calls, 850, day=date(2025, 4, 2))
    assert check(django_capture_on_commit_callbacks, since=april - timedelta(minutes=10), now=april) == 1

    assert [(start, threshold) for _, start, threshold, _, _ in alerts(metered)] == [
        (STARTED, 80),
        (date(2025, 4, 1), 80),
    ]
    assert len(alert_messages()) == 2
    assert "2025년 4월 1일 ~ 2025년 4월 30일" in alert_messages()[1].body


def test_the_email_is_in_the_customers_language(metered, api_calls, mailoutbox, django_capture_on_commit_callbacks):
    customer = metered.customer
    customer.preferred_language = Language.ENGLISH
    customer.cc_emails = ["finance@example.com"]
    customer.save(update_fields=["preferred_language", "cc_emails"])
    use(metered, api_calls, 1_000)

    check(django_capture_on_commit_callbacks)

    (message,) = alert_messages()
    assert message.subject == "API calls: 100% of your included usage reached"
    assert message.cc == ["finance@example.com"]
    assert "Used so far: 1,000 calls (100%)" in message.body and "Included: 1,000 calls" in message.body
    assert "Period: 01 Mar 2025 to 31 Mar 2025" in message.body
    assert "Usage beyond the included quantity is billed" in str(message.alternatives[0][0])


def test_no_alert_without_an_included_quantity(api_calls, mailoutbox, django_capture_on_commit_callbacks):
    plan = SubscriptionPlanFactory.create()
    PlanChargeFactory.create(plan=plan, metric=api_calls, included_quantity=0, unit_amount=5)
    subscription = SubscriptionFactory.create(plan=plan, started=STARTED)
    use(subscription, api_calls, 10_000)

    assert check(django_capture_on_commit_callbacks) == 0
    assert alerts(subscription) == [] and alert_messages() == []


def test_usage_of_a_metric_the_plan_does_not_charge_or_without_a_subscription_alerts_nothing(
    metered, api_calls, django_capture_on_commit_callbacks
):
    other_metric = BillableMetricFactory.create(code="seats_used")
    use(metered, other_metric, 5_000)
    stranger = CustomerFactory.create()
    UsageRollupFactory.create(customer=stranger, metric=api_calls, hour=seoul(date(2025, 3, 5)), event_count=5_000)

    assert check(django_capture_on_commit_callbacks) == 0
    assert not UsageAlert.objects.exists()


def test_only_customers_whose_usage_changed_since_are_checked(
    metered, api_calls, mailoutbox, django_capture_on_commit_callbacks
):
    rollup = use(metered, api_calls, 900)
    rollup.updated_at = SINCE - timedelta(seconds=1)
    rollup.save(update_fields=["updated_at"])

    assert check(django_capture_on_commit_callbacks) == 0
    assert check(django_capture_on_commit_callbacks, since=SINCE - timedelta(seconds=1)) == 1


def test_one_customers_failure_does_not_stop_the_others(
    metered, api_calls, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    from billing.services import usage_alerts

    broken = SubscriptionFactory.create(plan=metered.plan, started=STARTED)
    use(broken, api_calls, 900)
    use(metered, api_calls, 900)
    real = usage_alerts.usage_report

    def failing_for_broken(*, customer, **kwargs):
        if customer.pk == broken.customer_id:
            raise RuntimeError("broken data")
        return real(customer=customer, **kwargs)

    monkeypatch.setattr(usage_alerts, "usage_report", failing_for_broken)

    assert check(django_capture_on_commit_callbacks) == 1
    assert alerts(metered) and not alerts(broken)


def test_the_task_checks_what_changed_in_the_last_ten_minutes_every_five(
    api_calls, mailoutbox, django_capture_on_commit_callbacks, settings
):
    plan = SubscriptionPlanFactory.create()
    PlanChargeFactory.create(plan=plan, metric=api_calls, included_quantity=1_000)
    subscription = SubscriptionFactory.create(plan=plan)  # its period starts today
    UsageRollupFactory.create(customer=subscription.customer, metric=api_calls, event_count=900)  # this hour, now

    with django_capture_on_commit_callbacks(execute=True):
        first = usage_alerts_task()
    with django_capture_on_commit_callbacks(execute=True):
        again = usage_alerts_task()

    assert (first, again) == ({"alerts": 1}, {"alerts": 0})
    assert len(alert_messages()) == 1
    (entry,) = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "billing.usage_alerts"]
    assert entry["schedule"] == crontab(minute="*/5")
