"""Removes direct uploads that were never completed: their objects (if any arrived) and their rows."""

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing_site.errors import ApplicationError
from storage import selectors, services


class Command(BaseCommand):
    help = "Delete pending direct uploads older than --older-than-hours (default STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=None,
            help="Age after which an uncompleted upload counts as abandoned.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be purged.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for cron logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["older_than_hours"]
        if hours is None:
            hours = float(settings.STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS)
        if hours < 0:
            raise CommandError("--older-than-hours must not be negative.")
        stale = selectors.file_pending_stale_list(older_than=datetime.timedelta(hours=hours))
        total = stale.count()
        if options["dry_run"]:
            self.stdout.write(f"{total} pending upload(s) older than {hours:g} h would be purged.")
            return
        purged = failed = 0
        progress = tqdm(
            stale.iterator(chunk_size=500),
            total=total,
            unit="file",
            desc="purging pending uploads",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )
        for file in progress:
            try:
                if services.file_pending_purge(file=file):
                    purged += 1
            except ApplicationError as error:
                failed += 1
                self.stderr.write(f"{file.pk} ({file.key}): {error.message}")
        self.stdout.write(f"Purged {purged} pending upload(s) older than {hours:g} h; {failed} failed.")
        if failed:
            raise CommandError(f"{failed} pending upload(s) could not be purged; run the command again later.")
