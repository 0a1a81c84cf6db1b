"""The monthly partitions of the usage events table (PostgreSQL): created ahead of time, daily, so that events land
in their month's partition and not in the DEFAULT one (migration 0015 defines the table and the SQL function)."""

import logging
from dataclasses import dataclass, field
from datetime import date

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

MONTHS_BACK = 1
MONTHS_AHEAD = 12


@dataclass
class PartitionsReport:
    """What a run did: partitions created, partitions refused (with PostgreSQL's reason), or nothing to do here."""

    created: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    supported: bool = True


def _month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"billing_usageevent_{month:%Y%m}"


def usage_partitions_ensure(
    *, today: date | None = None, months_back: int = MONTHS_BACK, months_ahead: int = MONTHS_AHEAD
) -> PartitionsReport:
    """Create the missing monthly partitions from `months_back` months before today's month (UTC) to `months_ahead`
    months after it; existing ones are left alone, so running it again does nothing.

    Each month is its own savepoint: a month whose events already sit in the DEFAULT partition (the daily run was
    off for a year, say) cannot get a partition until they are moved out, and is reported instead of stopping the
    others. On SQLite there are no partitions: the report says so and nothing is done."""
    if connection.vendor != "postgresql":
        return PartitionsReport(supported=False)
    first = (today or timezone.now().date()).replace(day=1)
    months = [_month_add(first, step) for step in range(-months_back, months_ahead + 1)]
    report = PartitionsReport()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
            [[partition_name(month) for month in months]],
        )
        missing = {name for (name,) in cursor.fetchall()}
    for month in months:
        name = partition_name(month)
        if name not in missing:
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT billing_usage_partitions_ensure(%s, 1)", [month])
        except DatabaseError as error:
            logger.warning("usage events partition %s not created: %s", name, error)
            report.failed[name] = str(error).strip()
        else:
            report.created.append(name)
    return report
