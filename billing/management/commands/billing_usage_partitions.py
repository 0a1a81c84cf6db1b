"""manage.py billing_usage_partitions: create the usage events table's missing monthly partitions (last month to
12 months ahead); the daily Celery beat entry `billing-usage-partitions` runs the same service."""

from typing import Any

from django.core.management import BaseCommand, CommandError, CommandParser

from billing.services.usage_partitions import MONTHS_AHEAD, usage_partitions_ensure


class Command(BaseCommand):
    help = "Create the missing monthly partitions of the usage events table (PostgreSQL; nothing to do on SQLite)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months-ahead", type=int, default=MONTHS_AHEAD, help=f"Months after this one (default {MONTHS_AHEAD})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["months_ahead"] < 0:
            raise CommandError("--months-ahead cannot be negative.")
        report = usage_partitions_ensure(months_ahead=options["months_ahead"])
        if not report.supported:
            self.stdout.write("Usage events are not partitioned on this database (SQLite): nothing to do.")
            return
        for name in report.created:
            self.stdout.write(f"Created {name}.")
        if not report.created:
            self.stdout.write("Every partition exists already.")
        if report.failed:
            for name, reason in report.failed.items():
                self.stderr.write(f"Could not create {name}: {reason}")
            raise CommandError(f"{len(report.failed)} partition(s) not created (see above).")
        self.stdout.write(self.style.SUCCESS(f"Created {len(report.created)} partition(s)."))
