"""Processes failed Stripe webhook events again, with backoff: those whose retry time has come, or the ones named."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus
from billing.selectors.webhook_events import webhook_events_due
from billing.services.webhook_events import webhook_event_retry


class Command(BaseCommand):
    help = (
        "Retry failed Stripe webhook events whose retry time has come (exponential backoff, at most "
        "STRIPE_WEBHOOK_MAX_ATTEMPTS tries). --all also takes those not due yet and those given up; "
        "--event evt_... retries one. Each event is still applied at most once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--event", action="append", default=[], metavar="EVENT_ID", help="Retry this event.")
        parser.add_argument("--all", action="store_true", help="Every failed event, due or not, given up or not.")
        parser.add_argument("--limit", type=int, default=500, help="At most this many events (default 500).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["event"]:
            events = list(StripeWebhookEvent.objects.filter(stripe_event_id__in=options["event"]))
            missing = set(options["event"]) - {event.stripe_event_id for event in events}
            if missing:
                raise CommandError(f"Unknown event(s): {', '.join(sorted(missing))}.")
        elif options["all"]:
            events = list(
                StripeWebhookEvent.objects.filter(status=StripeWebhookEventStatus.FAILED).order_by(
                    "stripe_created_at", "id"
                )[: options["limit"]]
            )
        else:
            events = list(webhook_events_due()[: options["limit"]])
        counts = {"processed": 0, "already processed": 0, "failed again": 0}
        with tqdm(
            events, unit="event", desc="retrying", disable=options["no_progress"] or None, file=self.stderr._out
        ) as progress:
            for event in progress:
                outcome = webhook_event_retry(event=event)
                if outcome.status == StripeWebhookEventStatus.FAILED:
                    counts["failed again"] += 1
                    self.stdout.write(
                        self.style.ERROR(f"  ! {event.stripe_event_id} {event.event_type}: {outcome.error}")
                    )
                elif outcome.duplicate:
                    counts["already processed"] += 1
                else:
                    counts["processed"] += 1
                    self.stdout.write(f"  + {event.stripe_event_id} {event.event_type}: {outcome.result}")
        given_up = StripeWebhookEvent.objects.filter(
            status=StripeWebhookEventStatus.FAILED, next_retry_at__isnull=True
        ).count()
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(f"{len(events)} event(s): {summary}. {given_up} given up (retry with --all or --event).")
