"""Daily dunning run: reminders (and card retries) of overdue subscription invoices, then the final action."""

from datetime import date
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing.periods import billing_date
from billing.services.dunning import dunning_run

ACTION_LABELS = {
    "reminder": "reminders queued",
    "cancel": "subscriptions canceled (unpaid)",
    "uncollectible": "invoices marked uncollectible",
}


class Command(BaseCommand):
    help = (
        "Dun overdue subscription invoices as of a day (default today, Asia/Seoul): the reminder of the latest "
        "step of BILLING_DUNNING_SCHEDULE due (and a card retry), then BILLING_DUNNING_FINAL_ACTION. Each step "
        "is done once per invoice: safe to run more than once a day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (Asia/Seoul).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for cron logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or billing_date(timezone.now())
        progress = tqdm(
            total=0,
            unit="invoice",
            desc=f"dunning as of {as_of}",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )

        def started(total: int) -> None:
            progress.total = total
            progress.refresh()

        with progress:
            summary = dunning_run(as_of=as_of, on_start=started, on_progress=lambda step: progress.update(1))
        schedule = ", ".join(str(day) for day in settings.BILLING_DUNNING_SCHEDULE)
        self.stdout.write(
            f"Dunning as of {as_of} (reminders on days {schedule}, {settings.BILLING_DUNNING_FINAL_ACTION} on day "
            f"{settings.BILLING_DUNNING_FINAL_DAYS}): {summary.processed} overdue invoice(s) looked at."
        )
        for action, label in ACTION_LABELS.items():
            if summary.count(action):
                self.stdout.write(f"  {label}: {summary.count(action)}")
        self.stdout.write(f"  card retries asked: {summary.provider_retries}")
        for invoice_id, message in summary.failures:
            self.stderr.write(f"  invoice {invoice_id} failed: {message}")
        if summary.failures:
            raise CommandError(f"{len(summary.failures)} invoice(s) failed; the others were dunned.")
        self.stdout.write(self.style.SUCCESS("Done."))
