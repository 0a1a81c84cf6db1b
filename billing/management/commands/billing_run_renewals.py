"""Daily renewal run: invoice and advance every subscription whose period ended, end, mark past due."""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing.periods import billing_date
from billing.services.renewals import subscriptions_renew_all

ACTION_LABELS = {
    "renewed": "renewed",
    "ended": "ended at period end",
    "past_due": "marked past due",
    "reactivated": "active again (paid)",
    "activated": "activated (first invoice paid)",
    "expired": "expired (first invoice unpaid)",
    "nothing_due": "nothing due",
}


class Command(BaseCommand):
    help = (
        "Renew subscriptions as of a day (default today, Asia/Seoul): invoice each ended period, end those set "
        "to cancel at period end, mark past due those with overdue invoices. Safe to run more than once a day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (Asia/Seoul).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for cron logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or billing_date(timezone.now())
        progress = tqdm(
            total=0,
            unit="subscription",
            desc=f"renewals as of {as_of}",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )

        def started(total: int) -> None:
            progress.total = total
            progress.refresh()

        with progress:
            summary = subscriptions_renew_all(
                as_of=as_of, on_start=started, on_progress=lambda outcome: progress.update(1)
            )
        self.stdout.write(f"Renewals as of {as_of}: {summary.processed} subscription(s) looked at.")
        for action, label in ACTION_LABELS.items():
            if summary.count(action):
                self.stdout.write(f"  {label}: {summary.count(action)}")
        self.stdout.write(f"  invoices issued: {summary.invoices}")
        for subscription_id, message in summary.failures:
            self.stderr.write(f"  subscription {subscription_id} failed: {message}")
        if summary.failures:
            raise CommandError(f"{len(summary.failures)} subscription(s) failed; the others were renewed.")
        self.stdout.write(self.style.SUCCESS("Done."))
