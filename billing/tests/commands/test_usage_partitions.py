"""manage.py billing_usage_partitions and its daily task: missing monthly partitions of the usage events table are
created, existing ones left alone, a month whose events sit in the DEFAULT partition reported without stopping the
others; nothing to do on SQLite."""

from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from billing.services.usage_partitions import usage_partitions_ensure
from billing.tasks import usage_partitions_task


def partition_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cursor.fetchone()[0])


def test_missing_months_are_created_once(postgresql):
    first = usage_partitions_ensure(today=date(2031, 1, 17), months_back=1, months_ahead=2)
    again = usage_partitions_ensure(today=date(2031, 1, 17), months_back=1, months_ahead=2)

    names = [
        "billing_usageevent_203012",
        "billing_usageevent_203101",
        "billing_usageevent_203102",
        "billing_usageevent_203103",
    ]
    assert (first.created, first.failed) == (names, {})
    assert (again.created, again.failed) == ([], {})
    assert all(partition_exists(name) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageevent (customer_id, metric_id, event_id, value, timestamp, received_at) "
            "VALUES (1, 1, 'x', 1, %s, now()) RETURNING tableoid::regclass::text",
            [datetime(2031, 2, 28, 23, 59, tzinfo=UTC)],
        )
        assert cursor.fetchone() == ("billing_usageevent_203102",)


def test_a_month_with_events_in_the_default_partition_is_reported_and_the_others_created(postgresql):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageevent (customer_id, metric_id, event_id, value, timestamp, received_at) "
            "VALUES (1, 1, 'stray', 1, %s, now())",
            [datetime(2032, 5, 10, tzinfo=UTC)],
        )

    report = usage_partitions_ensure(today=date(2032, 5, 1), months_back=0, months_ahead=1)

    assert report.created == ["billing_usageevent_203206"]
    assert list(report.failed) == ["billing_usageevent_203205"]
    assert "default partition" in report.failed["billing_usageevent_203205"]
    assert not partition_exists("billing_usageevent_203205")


def test_the_command_reports_what_it_created_and_then_that_nothing_is_missing(postgresql):
    call_command("billing_usage_partitions", stdout=StringIO())
    output = StringIO()
    call_command("billing_usage_partitions", stdout=output)

    assert "Every partition exists already." in output.getvalue()
    assert partition_exists(f"billing_usageevent_{timezone.now():%Y%m}")


def test_the_command_fails_loudly_when_a_month_cannot_be_created(postgresql, monkeypatch):
    from billing.management.commands import billing_usage_partitions
    from billing.services.usage_partitions import PartitionsReport

    monkeypatch.setattr(
        billing_usage_partitions,
        "usage_partitions_ensure",
        lambda **kwargs: PartitionsReport(created=[], failed={"billing_usageevent_203205": "rows in default"}),
    )
    errors = StringIO()
    with pytest.raises(CommandError):
        call_command("billing_usage_partitions", stdout=StringIO(), stderr=errors)
    assert "billing_usageevent_203205: rows in default" in errors.getvalue()


def test_on_sqlite_there_is_nothing_to_do(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only: PostgreSQL partitions the table")
    output = StringIO()
    call_command("billing_usage_partitions", stdout=output)

    assert "nothing to do" in output.getvalue()
    assert usage_partitions_ensure().supported is False


def test_the_daily_task_runs_the_same_service(postgresql):
    from billing_site.celery import app

    assert usage_partitions_task()["failed"] == []
    (entry,) = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "billing.usage_partitions"
    ]
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {10})
    assert app.tasks["billing.usage_partitions"].name == usage_partitions_task.name
