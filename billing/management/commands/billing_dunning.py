"""Daily dunning run: reminders (and card retries) of overdue subscription invoices, then the final action."""

from collections.abc import Callable
from datetime import date
from typing import Any

from django.conf import settings

from billing.management.daily_run import DailyRunCommand
from billing.services.dunning import DunningRunSummary, dunning_run

ACTION_LABELS = {
    "reminder": "reminders queued",
    "cancel": "subscriptions canceled (unpaid)",
    "uncollectible": "invoices marked uncollectible",
}


class Command(DailyRunCommand):
    help = (
        "Dun overdue subscription invoices as of a day (default today, Asia/Seoul): the reminder of the latest "
        "step of BILLING_DUNNING_SCHEDULE due (and a card retry), then BILLING_DUNNING_FINAL_ACTION. Each step "
        "is done once per invoice: safe to run more than once a day."
    )
    unit = "invoice"
    title = "dunning"
    action_labels = ACTION_LABELS
    failure_noun = "invoice"
    others_done = "the others were dunned"

    def run(
        self, *, as_of: date, on_start: Callable[[int], None], on_progress: Callable[[Any], None]
    ) -> DunningRunSummary:
        return dunning_run(as_of=as_of, on_start=on_start, on_progress=on_progress)

    def headline(self, as_of: date, summary: DunningRunSummary) -> str:
        schedule = ", ".join(str(day) for day in settings.BILLING_DUNNING_SCHEDULE)
        return (
            f"Dunning as of {as_of} (reminders on days {schedule}, {settings.BILLING_DUNNING_FINAL_ACTION} on day "
            f"{settings.BILLING_DUNNING_FINAL_DAYS}): {summary.processed} overdue invoice(s) looked at."
        )

    def details(self, summary: DunningRunSummary) -> list[str]:
        return [f"card retries asked: {summary.provider_retries}"]
