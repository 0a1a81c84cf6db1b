"""manage.py billing_exchange_rates_import FILE: import a CSV of monthly exchange rates (the admin's "Import CSV"
runs the same service, all or nothing); `-` reads the file from standard input."""

import sys
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError, CommandParser

from billing.services.exchange_rates import exchange_rates_import_csv
from billing_site.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Import monthly exchange rates from a UTF-8 CSV file with the columns month, currency, krw_per_unit and "
        "optionally source (e.g. 2026-06,USD,1380.25,한국은행). Every row is checked first: one problem and nothing "
        "is imported. Rates already entered for a month are replaced."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file, or - for standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            if name == "-":
                summary = exchange_rates_import_csv(file=sys.stdin.buffer, actor=None)
            else:
                path = Path(name)
                if not path.is_file():
                    raise CommandError(f"{name}: no such file.")
                with path.open("rb") as file:
                    summary = exchange_rates_import_csv(file=file, actor=None)
        except ApplicationError as error:
            for problem in error.fields.get("file", []):
                if problem != error.message:
                    self.stderr.write(str(problem))
            raise CommandError(error.message) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {summary.rows} rate(s): {summary.created} new, {summary.updated} changed, "
                f"{summary.unchanged} unchanged."
            )
        )
