"""The shape of a daily run command (renewals, dunning): --as-of, a progress bar, counts per action, failures."""

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing.periods import billing_date


class RunSummary(Protocol):
    processed: int
    failures: list[tuple[int, str]]

    def count(self, action: str) -> int: ...


class DailyRunCommand(BaseCommand):
    """Runs `run(as_of, on_start, on_progress)` over its rows with a progress bar, then prints `headline`, a line
    per action of `action_labels` that happened, `details`, and each failure; any failure exits non-zero."""

    unit = "row"
    title = "run"
    action_labels: dict[str, str] = {}
    failure_noun = "row"
    others_done = "the others were done"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (Asia/Seoul).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for cron logs).")

    def run(self, *, as_of: date, on_start: Callable[[int], None], on_progress: Callable[[Any], None]) -> RunSummary:
        raise NotImplementedError

    def headline(self, as_of: date, summary: Any) -> str:
        raise NotImplementedError

    def details(self, summary: Any) -> list[str]:
        return []

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"] or billing_date(timezone.now())
        progress = tqdm(
            total=0,
            unit=self.unit,
            desc=f"{self.title} as of {as_of}",
            disable=options["no_progress"] or None,  # None: automatic, off when stderr is not a terminal
            file=self.stderr._out,
        )

        def started(total: int) -> None:
            progress.total = total
            progress.refresh()

        with progress:
            summary = self.run(as_of=as_of, on_start=started, on_progress=lambda _: progress.update(1))
        self.stdout.write(self.headline(as_of, summary))
        for action, label in self.action_labels.items():
            if summary.count(action):
                self.stdout.write(f"  {label}: {summary.count(action)}")
        for line in self.details(summary):
            self.stdout.write(f"  {line}")
        for row_id, message in summary.failures:
            self.stderr.write(f"  {self.failure_noun} {row_id} failed: {message}")
        if summary.failures:
            raise CommandError(f"{len(summary.failures)} {self.failure_noun}(s) failed; {self.others_done}.")
        self.stdout.write(self.style.SUCCESS("Done."))
