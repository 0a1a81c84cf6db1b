"""Processing recorded payment-provider webhook events: each event applied once under its row lock, failures
recorded and retried with exponential backoff (the endpoint in billing.webhooks, the admin and
`manage.py billing_retry_webhooks` all come here)."""

import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from djstripe import models as djstripe_models

from billing.enums import JobKind
from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus
from billing.providers import payment_provider
from billing.providers.base import RemoteObject
from billing.services.provider_sync import remote_object_apply
from billing_site.jobs.services import job_enqueue_created
from billing_site.permissions import permission_require

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)


def webhook_event_apply(*, event_type: str, object_id: str) -> str:
    """Our handler for one event: the provider re-reads the event's object, and our records follow it
    (billing.services.provider_sync); what it changed, for the record."""
    return _remote_apply(payment_provider().webhook_event_read(event_type=event_type, object_id=object_id))


def _remote_apply(remote: RemoteObject | str) -> str:
    return remote if isinstance(remote, str) else remote_object_apply(remote=remote)


# --- recording and processing ---------------------------------------------------------------------------------------


def webhook_event_receive(*, payload: dict[str, Any], delivery: Any = None) -> StripeWebhookEvent:
    """The event's row (created on its first delivery), its delivery count raised."""
    data_object = (payload.get("data") or {}).get("object") or {}
    created = payload.get("created")
    now = timezone.now()
    event, _ = StripeWebhookEvent.objects.get_or_create(
        stripe_event_id=str(payload["id"]),
        defaults={
            "event_type": str(payload.get("type") or ""),
            "livemode": bool(payload.get("livemode")),
            "stripe_created_at": datetime.fromtimestamp(int(created), tz=UTC) if created else now,
            "object_id": str(data_object.get("id") or ""),
            "payload": payload,
            "received_at": now,
            "last_received_at": now,
        },
    )
    StripeWebhookEvent.objects.filter(pk=event.pk).update(
        deliveries=F("deliveries") + 1, last_received_at=now, last_delivery=delivery, updated_at=now
    )
    event.refresh_from_db()
    return event


@dataclass(frozen=True)
class ProcessingOutcome:
    status: str
    result: str = ""
    duplicate: bool = False
    error: str = ""


def _backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def webhook_event_enqueue(*, event: StripeWebhookEvent, delivery: Any = None) -> bool:
    """Hand a received event to a worker (billing.jobs), unless it is processed already. True when this delivery
    asked for the processing; False for a duplicate (processed, or already queued by a concurrent delivery).

    One job per event and attempt: deliveries racing each other share it, and a delivery after a failure asks again.
    """
    if event.status == StripeWebhookEventStatus.PROCESSED:
        _delivery_done(delivery, event.stripe_event_id)
        return False
    _, created = job_enqueue_created(
        kind=JobKind.WEBHOOK_EVENT_PROCESS,
        key=f"webhook_event:{event.pk}:{event.attempts}",
        payload={"event_id": event.pk, "delivery_id": getattr(delivery, "pk", None)},
    )
    if not created:
        _delivery_done(delivery, event.stripe_event_id)  # a duplicate of a delivery whose job is on it
    return created


def webhook_event_process(
    *, event: StripeWebhookEvent, delivery: Any = None, now: datetime | None = None
) -> ProcessingOutcome:
    """Apply one event once. The provider is asked first with no lock held (dj-stripe's mirror, idempotent, and a
    fresh read of the event's object); then the event row is locked and re-checked, and our records follow it in
    one transaction with the processed mark. A failure rolls that back and is recorded with a retry time."""
    current = StripeWebhookEvent.objects.get(pk=event.pk)
    if current.status == StripeWebhookEventStatus.PROCESSED:
        _delivery_done(delivery, current.stripe_event_id)
        return ProcessingOutcome(current.status, current.result, duplicate=True)
    try:
        provider = payment_provider()
        mirrored = provider.webhook_event_mirror(payload=current.payload)
        remote = provider.webhook_event_read(event_type=current.event_type, object_id=current.object_id)
        with transaction.atomic():
            locked = StripeWebhookEvent.objects.select_for_update().get(pk=event.pk)
            if locked.status == StripeWebhookEventStatus.PROCESSED:
                _delivery_done(delivery, locked.stripe_event_id)
                return ProcessingOutcome(locked.status, locked.result, duplicate=True)
            result = _remote_apply(remote)
            if not mirrored:
                result += " (not mirrored: the object no longer exists in Stripe)"
            locked.status = StripeWebhookEventStatus.PROCESSED
            locked.result = result[:500]
            locked.attempts += 1
            locked.last_error = ""
            locked.next_retry_at = None
            locked.processed_at = now or timezone.now()
            locked.save()
            _delivery_done(delivery, locked.stripe_event_id)
    except Exception as error:
        logger.exception("Stripe event %s (%s) failed", event.stripe_event_id, event.event_type)
        return _failure_record(event, delivery, error, now=now or timezone.now())
    return ProcessingOutcome(locked.status, locked.result)


def _delivery_done(delivery: Any, stripe_event_id: str) -> None:
    if delivery is not None:
        delivery.processed = True
        delivery.event_id = (
            stripe_event_id if djstripe_models.Event.objects.filter(id=stripe_event_id).exists() else None
        )
        delivery.exception = ""
        delivery.traceback = ""
        delivery.save(update_fields=["processed", "event", "exception", "traceback", "updated"])


def _failure_record(event: StripeWebhookEvent, delivery: Any, error: Exception, *, now: datetime) -> ProcessingOutcome:
    message = f"{type(error).__name__}: {error}"
    attempts = StripeWebhookEvent.objects.get(pk=event.pk).attempts + 1
    max_attempts = int(getattr(settings, "STRIPE_WEBHOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    # Never over a processed mark a concurrent run wrote meanwhile (our Stripe calls come before the lock).
    StripeWebhookEvent.objects.filter(pk=event.pk).exclude(status=StripeWebhookEventStatus.PROCESSED).update(
        status=StripeWebhookEventStatus.FAILED,
        attempts=F("attempts") + 1,
        last_error=traceback.format_exc()[-10_000:],
        result=message[:500],
        next_retry_at=now + _backoff(attempts) if attempts < max_attempts else None,
        processed_at=None,
        updated_at=now,
    )
    if delivery is not None:
        delivery.exception = message[:128]
        delivery.traceback = traceback.format_exc()
        delivery.save(update_fields=["exception", "traceback", "updated"])
    return ProcessingOutcome(StripeWebhookEventStatus.FAILED, error=message)


def webhook_event_retry(
    *, event: StripeWebhookEvent, now: datetime | None = None, actor: Any = None
) -> ProcessingOutcome:
    """Process a recorded event again (the retry command, staff): the same path as a delivery, so still once.

    `actor` None is the system (the retry command); a user needs billing.change_stripewebhookevent.
    """
    permission_require(actor=actor, permission="billing.change_stripewebhookevent")
    return webhook_event_process(event=event, now=now)
