"""Daily renewal run: invoice and advance every subscription whose period ended, end, mark past due."""

from collections.abc import Callable
from datetime import date
from typing import Any

from billing.management.daily_run import DailyRunCommand
from billing.services.renewals import RenewalRunSummary, subscriptions_renew_all

ACTION_LABELS = {
    "renewed": "renewed",
    "ended": "ended at period end",
    "past_due": "marked past due",
    "reactivated": "active again (paid)",
    "activated": "activated (first invoice paid)",
    "expired": "expired (first invoice unpaid)",
    "resumed": "resumed (pause over)",
    "trial_converted": "trial over (first invoice)",
    "plan_changed": "changed at period end (plan, period or seats)",
    "nothing_due": "nothing due",
}


class Command(DailyRunCommand):
    help = (
        "Renew subscriptions as of a day (default today, Asia/Seoul): invoice each ended period, end those set "
        "to cancel at period end, mark past due those with overdue invoices. Safe to run more than once a day."
    )
    unit = "subscription"
    title = "renewals"
    action_labels = ACTION_LABELS
    failure_noun = "subscription"
    others_done = "the others were renewed"

    def run(
        self, *, as_of: date, on_start: Callable[[int], None], on_progress: Callable[[Any], None]
    ) -> RenewalRunSummary:
        return subscriptions_renew_all(as_of=as_of, on_start=on_start, on_progress=on_progress)

    def headline(self, as_of: date, summary: RenewalRunSummary) -> str:
        return f"Renewals as of {as_of}: {summary.processed} subscription(s) looked at."

    def details(self, summary: RenewalRunSummary) -> list[str]:
        return [f"invoices issued: {summary.invoices}"]
