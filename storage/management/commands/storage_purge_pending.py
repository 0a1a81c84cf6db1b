"""Removes direct uploads that were never completed: their objects (if any arrived) and their rows."""

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing_site.errors import ApplicationError
from storage import selectors, services
from storage.models import StoredFile


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
        older_than = datetime.timedelta(hours=hours)
        total = selectors.file_pending_stale_list(older_than=older_than).count()
        if options["dry_run"]:
            self.stdout.write(f"{total} pending upload(s) older than {hours:g} h would be purged.")
            return
        progress = tqdm(
            total=total,
            unit="file",
            desc="purging pending uploads",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )

        def advance(file: StoredFile, error: ApplicationError | None) -> None:
            progress.update(1)
            if error is not None:
                self.stderr.write(f"{file.pk} ({file.key}): {error.message}")

        try:
            summary = services.files_pending_purge(older_than=older_than, on_progress=advance)
        finally:
            progress.close()
        self.stdout.write(f"Purged {summary.purged} pending upload(s) older than {hours:g} h; {summary.failed} failed.")
        if summary.failed:
            raise CommandError(f"{summary.failed} pending upload(s) could not be purged; run the command again later.")
