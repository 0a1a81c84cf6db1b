"""billing's scheduled Celery tasks (settings.CELERY_BEAT_SCHEDULE). Each runs under an advisory lock, so two beat
processes started by mistake run it once at a time, and each is idempotent, so running it twice changes nothing."""

from datetime import date, timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from billing.enums import JobKind
from billing.periods import billing_date
from billing.selectors.webhook_events import webhook_events_due
from billing.services.dunning import dunning_run
from billing.services.renewals import subscriptions_to_process
from billing.services.subscription_emails import renewal_notices_queue
from billing.services.subscription_tax_rates import subscriptions_tax_rates_check
from billing.services.subscriptions import subscribe_attempts_reconcile
from billing.services.usage_alerts import usage_alerts_check
from billing.services.usage_partitions import usage_partitions_ensure
from billing.services.webhook_events import webhook_event_retry
from billing_site.api.idempotency import idempotency_keys_purge
from billing_site.jobs.services import exclusive, jobs_enqueue_many


@shared_task(name="billing.renewals", ignore_result=True)
def renewals_task(as_of: str | None = None) -> dict[str, Any]:
    """Fan out today's (Asia/Seoul) renewals: one job per subscription that may change, run by every worker.

    A job's key is (subscription, day), so a second run the same day, or a second beat, adds nothing.
    """
    day = as_of or billing_date(timezone.now()).isoformat()
    with exclusive("billing.renewals") as mine:
        if not mine:
            return {"skipped": True}
        ids = subscriptions_to_process(as_of=date.fromisoformat(day)).values_list("pk", flat=True)
        created = jobs_enqueue_many(
            kind=JobKind.SUBSCRIPTION_RENEW,
            items=[(f"renew:{pk}:{day}", {"subscription_id": pk, "as_of": day}) for pk in ids.iterator()],
        )
    return {"as_of": day, "enqueued": created}


@shared_task(name="billing.renewal_notices", ignore_result=True)
def renewal_notices_task(as_of: str | None = None) -> dict[str, Any]:
    """Queue the renewal notices due today (Asia/Seoul): renewals within BILLING_RENEWAL_NOTICE_DAYS not yet
    announced. Each notice is one email row per renewal and recipient, so a second run adds nothing."""
    day = as_of or billing_date(timezone.now()).isoformat()
    with exclusive("billing.renewal_notices") as mine:
        if not mine:
            return {"skipped": True}
        queued = renewal_notices_queue(as_of=date.fromisoformat(day))
    return {"as_of": day, "queued": queued}


@shared_task(name="billing.dunning", ignore_result=True)
def dunning_task(as_of: str | None = None) -> dict[str, Any]:
    """Take today's (Asia/Seoul) dunning steps: reminders, card retries, final actions. Each step is a row written
    once, so a second run (or a second beat) does nothing more, and a missed day is caught up (its latest step)."""
    day = as_of or billing_date(timezone.now()).isoformat()
    with exclusive("billing.dunning") as mine:
        if not mine:
            return {"skipped": True}
        summary = dunning_run(as_of=date.fromisoformat(day))
    return {
        "as_of": day,
        "steps": summary.actions,
        "provider_retries": summary.provider_retries,
        "failures": len(summary.failures),
    }


@shared_task(name="billing.webhook_retries", ignore_result=True)
def webhook_retries_task(limit: int = 500) -> dict[str, Any]:
    """Process again the provider events whose retry time has come (each is still applied at most once)."""
    with exclusive("billing.webhook_retries") as mine:
        if not mine:
            return {"skipped": True}
        outcomes = [webhook_event_retry(event=event).status for event in webhook_events_due()[:limit]]
    return {"retried": len(outcomes), "failed": outcomes.count("failed")}


@shared_task(name="billing.purge_idempotency_keys", ignore_result=True)
def idempotency_keys_purge_task() -> dict[str, Any]:
    with exclusive("billing.purge_idempotency_keys") as mine:
        return {"deleted": idempotency_keys_purge()} if mine else {"skipped": True}


@shared_task(name="billing.provider_reconcile", ignore_result=True)
def provider_reconcile_task() -> dict[str, Any]:
    """Repair what a crash left between the steps of a card subscribe: attempts stuck before our records were
    written are compensated at the provider (cancel, void, refund), and compensations that failed are tried again."""
    with exclusive("billing.provider_reconcile") as mine:
        if not mine:
            return {"skipped": True}
        report = subscribe_attempts_reconcile()
    return {"stuck": report.stuck, "compensated": len(report.compensated), "failures": report.failures}


@shared_task(name="billing.provider_tax_rates", ignore_result=True)
def provider_tax_rates_task(as_of: str | None = None) -> dict[str, Any]:
    """Before each card renewal (Asia/Seoul days), a job that gives the provider's subscription the tax rate our
    invoice for that renewal will carry (a scheduled VAT rate change). One job per subscription and day: a second
    run that day adds nothing."""
    day = as_of or billing_date(timezone.now()).isoformat()
    with exclusive("billing.provider_tax_rates") as mine:
        if not mine:
            return {"skipped": True}
        enqueued = subscriptions_tax_rates_check(as_of=date.fromisoformat(day))
    return {"as_of": day, "enqueued": enqueued}


# The usage alerts run every 5 minutes (settings.CELERY_BEAT_SCHEDULE) and look back twice that: a late or missed
# run is covered by the next, and what two runs both see is alerted once (UsageAlert is unique per threshold).
USAGE_ALERTS_LOOKBACK = timedelta(minutes=10)


@shared_task(name="billing.usage_alerts", ignore_result=True)
def usage_alerts_task() -> dict[str, Any]:
    """Email the customers whose usage reached 80 % or 100 % of what their plan includes, once per period each."""
    now = timezone.now()
    with exclusive("billing.usage_alerts") as mine:
        if not mine:
            return {"skipped": True}
        written = usage_alerts_check(since=now - USAGE_ALERTS_LOOKBACK, now=now)
    return {"alerts": written}


@shared_task(name="billing.usage_partitions", ignore_result=True)
def usage_partitions_task() -> dict[str, Any]:
    """Create next months' partitions of the usage events table (daily; one a month is new, the rest exist)."""
    with exclusive("billing.usage_partitions") as mine:
        if not mine:
            return {"skipped": True}
        report = usage_partitions_ensure()
    return {"created": report.created, "failed": sorted(report.failed)}
