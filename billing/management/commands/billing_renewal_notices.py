"""Renewal and trial-ending notices: email customers whose subscription renews within BILLING_RENEWAL_NOTICE_DAYS days
or whose trial ends within BILLING_TRIAL_ENDING_NOTICE_DAYS days."""

from datetime import date
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from billing.periods import billing_date
from billing.services.subscription_emails import renewal_notices_queue


class Command(BaseCommand):
    help = (
        "Queue renewal notice emails as of a day (default today, Asia/Seoul) for subscriptions renewing within "
        "BILLING_RENEWAL_NOTICE_DAYS days, and trial-ending emails for trials ending within "
        "BILLING_TRIAL_ENDING_NOTICE_DAYS days, not yet told (what the daily billing.renewal_notices task does). "
        "Safe to run more than once: a renewal or a trial's end is announced once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (Asia/Seoul).")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or billing_date(timezone.now())
        days, trial_days = settings.BILLING_RENEWAL_NOTICE_DAYS, settings.BILLING_TRIAL_ENDING_NOTICE_DAYS
        if days <= 0 and trial_days <= 0:
            self.stdout.write(
                "Renewal and trial-ending notices are off "
                "(BILLING_RENEWAL_NOTICE_DAYS=0, BILLING_TRIAL_ENDING_NOTICE_DAYS=0)."
            )
            return
        queued = renewal_notices_queue(as_of=as_of)
        within = [f"renewals within {days} day(s)" if days > 0 else "renewal notices off"]
        within.append(f"trials ending within {trial_days} day(s)" if trial_days > 0 else "trial notices off")
        self.stdout.write(f"Renewal notices as of {as_of} ({', '.join(within)}): {queued} queued.")
        self.stdout.write(self.style.SUCCESS("Done."))
