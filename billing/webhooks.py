"""Stripe webhooks: `POST /api/payment/webhook` checks the signature, records the delivery, applies each event once.

- Only a delivery whose signature verifies is kept (a dj-stripe WebhookEventTrigger with its body and only the
  headers needed to verify it again, STORED_HEADERS: never credentials such as Authorization or Cookie). A missing
  or wrong signature is 400 and leaves no row; a body over MAX_BODY_BYTES is 413 before it is read; deliveries are
  throttled per client address (DRF scope `webhook`, THROTTLE_WEBHOOK_RATE), and Stripe redelivers what got 429.
- Each event id has one StripeWebhookEvent row. Processing locks it, so an event delivered twice at the same moment
  is applied once: the second delivery waits for the first and finds it processed. dj-stripe's own processing (its
  Event and the mirrored object) and our handler run in one transaction with the processed mark.
- Handlers never trust the payload's copy of the object: they re-read it from Stripe after locking our rows, so
  events that arrive late or out of order apply the newest state (billing.services.stripe_sync does the applying).
- A failing event is recorded with its error and retried with exponential backoff by
  `manage.py billing_retry_webhooks` (and by Stripe's own redelivery, which is answered 500 until it succeeds).
"""

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus
from billing.services import stripe_sync
from billing_site.api.throttling import ScopedThrottle, client_address
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# Stripe's events are a few KB, the largest (an invoice with many lines) well under this; Django alone would read
# up to DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) of anyone's body.
MAX_BODY_BYTES = 512 * 1024
# What a stored delivery keeps of the request's headers: enough to verify it again (dj-stripe's reprocessing reads
# Stripe-Signature), nothing a client authenticates with (Authorization, Cookie, X-Djstripe-Webhook-Secret, ...).
STORED_HEADERS = ("Content-Type", "Stripe-Signature", "User-Agent")


# --- handlers: re-read the object, then let stripe_sync apply it ----------------------------------------------------


def _gone(kind: str, object_id: str) -> str:
    return f"{kind} {object_id} no longer exists in Stripe: nothing to do"


def _invoice_event(object_id: str) -> str:
    current = stripe_sync.stripe_retrieve(stripe.Invoice, object_id)
    return _gone("invoice", object_id) if current is None else stripe_sync.invoice_stripe_apply(stripe_invoice=current)


def _subscription_event(object_id: str) -> str:
    current = stripe_sync.stripe_retrieve(stripe.Subscription, object_id)
    if current is None:
        return _gone("subscription", object_id)
    return stripe_sync.subscription_stripe_apply(stripe_subscription=current)


def _payment_intent_event(object_id: str) -> str:
    current = stripe_sync.stripe_retrieve(stripe.PaymentIntent, object_id)
    if current is None:
        return _gone("payment intent", object_id)
    return stripe_sync.payment_intent_apply(payment_intent=current)


def _charge_event(object_id: str) -> str:
    current = stripe_sync.stripe_retrieve(stripe.Charge, object_id)
    return _gone("charge", object_id) if current is None else stripe_sync.charge_refund_apply(charge=current)


# The events our records follow (enable these on the endpoint, see docs/stripe.md). invoice.payment_succeeded and
# invoice.marked_uncollectible re-read the invoice like invoice.paid does; other events are only mirrored by dj-stripe.
HANDLERS: dict[str, Callable[[str], str]] = {
    "invoice.paid": _invoice_event,
    "invoice.payment_succeeded": _invoice_event,
    "invoice.payment_failed": _invoice_event,
    "invoice.finalized": _invoice_event,
    "invoice.voided": _invoice_event,
    "invoice.marked_uncollectible": _invoice_event,
    "customer.subscription.created": _subscription_event,
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
    "payment_intent.succeeded": _payment_intent_event,
    "payment_intent.payment_failed": _payment_intent_event,
    "charge.refunded": _charge_event,
}


def webhook_event_apply(*, event_type: str, object_id: str) -> str:
    """Our handler for one event (in the caller's transaction); what it changed, for the record."""
    handler = HANDLERS.get(event_type)
    if handler is None:
        return f"{event_type}: mirrored by dj-stripe only"
    if not object_id:
        return f"{event_type} without an object: nothing to do"
    return handler(object_id)


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


def webhook_event_process(
    *, event: StripeWebhookEvent, delivery: Any = None, now: datetime | None = None
) -> ProcessingOutcome:
    """Apply one event once: lock its row, skip it if processed, else dj-stripe's processing plus our handler and
    the processed mark in one transaction. A failure rolls all of that back and is recorded with a retry time."""
    try:
        with transaction.atomic():
            locked = StripeWebhookEvent.objects.select_for_update().get(pk=event.pk)
            if locked.status == StripeWebhookEventStatus.PROCESSED:
                _delivery_done(delivery, locked.stripe_event_id)
                return ProcessingOutcome(locked.status, locked.result, duplicate=True)
            mirrored = _djstripe_process(locked)
            result = webhook_event_apply(event_type=locked.event_type, object_id=locked.object_id)
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


def _djstripe_process(event: StripeWebhookEvent) -> bool:
    """dj-stripe's processing of the event (its Event row, the object mirrored, its signal handlers); False when
    the object is gone from Stripe (dj-stripe re-reads it), which no retry would change."""
    try:
        with transaction.atomic():
            djstripe_models.Event.process(event.payload, api_key=djstripe_settings.STRIPE_SECRET_KEY)
    except stripe.InvalidRequestError as error:
        if not stripe_sync.stripe_object_missing(error):
            raise
        logger.info("dj-stripe did not mirror %s: %s", event.stripe_event_id, error)
        return False
    return True


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
    StripeWebhookEvent.objects.filter(pk=event.pk).update(
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


def webhook_events_due(*, now: datetime | None = None, include_given_up: bool = False) -> QuerySet[StripeWebhookEvent]:
    """Failed events whose retry time has come (with `include_given_up`, also those out of attempts)."""
    due = Q(next_retry_at__lte=now or timezone.now())
    if include_given_up:
        due |= Q(next_retry_at__isnull=True)
    return StripeWebhookEvent.objects.filter(due, status=StripeWebhookEventStatus.FAILED).order_by(
        "stripe_created_at", "id"
    )


def webhook_event_retry(
    *, event: StripeWebhookEvent, now: datetime | None = None, actor: Any = None
) -> ProcessingOutcome:
    """Process a recorded event again (the retry command, staff): the same path as a delivery, so still once.

    `actor` None is the system (the retry command); a user needs billing.change_stripewebhookevent.
    """
    permission_require(actor=actor, permission="billing.change_stripewebhookevent")
    return webhook_event_process(event=event, now=now)


# --- the endpoint ---------------------------------------------------------------------------------------------------


def _body_read(request: HttpRequest) -> bytes:
    """The body, when it is at most MAX_BODY_BYTES: a larger declared length is refused (413) before reading, and
    no more than MAX_BODY_BYTES + 1 bytes are ever read."""
    too_large = ApplicationError(
        "payload_too_large", f"A Stripe event is at most {MAX_BODY_BYTES} bytes.", status_code=413
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # Django reads nothing of a body whose length it cannot parse
    if declared > MAX_BODY_BYTES:
        raise too_large
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def _delivery_record(request: HttpRequest, body: bytes) -> Any:
    """The verified delivery as dj-stripe keeps it (its admin lists them), with only STORED_HEADERS."""
    return djstripe_models.WebhookEventTrigger.objects.create(
        remote_ip=client_address(request),
        headers={name: request.headers[name] for name in STORED_HEADERS if name in request.headers},
        body=body.decode("utf-8"),
        valid=True,
    )


def _verified_payload(body: bytes, signature: str) -> dict[str, Any]:
    """The event, when the signature is the endpoint secret's and recent enough; ValueError otherwise."""
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    tolerance = int(getattr(settings, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS))
    try:
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), signature, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
        raise ValueError(str(error)) from error
    payload = json.loads(body)
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("type"):
        raise ValueError("The body is not a Stripe event.")
    return payload


@extend_schema(exclude=True)  # Stripe's endpoint, not one of our API's
class StripeWebhookView(APIView):
    """Stripe's deliveries: 200 once applied (or when already applied), 400 for a bad signature, 413 for a body too
    large to be an event, 429 when throttled, 500 on failure. Nothing is stored before the signature verifies."""

    authentication_classes = ()  # Stripe signs the body; no session or token is looked at
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedThrottle,)
    throttle_scope = "webhook"  # anonymous, so keyed by client_address

    def post(self, request: Request) -> Response:
        if not stripe_sync.stripe_enabled():
            raise ApplicationError("not_found", "Stripe is not enabled on this server.", status_code=404)
        if not settings.DJSTRIPE_WEBHOOK_SECRET:
            logger.error("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set.")
            raise ApplicationError(
                "webhook_not_configured", "The webhook endpoint has no signing secret configured.", status_code=503
            )
        signature = request.headers.get("Stripe-Signature", "")
        if not signature:
            raise ApplicationError("missing_signature", "The Stripe-Signature header is missing.")
        body = _body_read(request._request)  # the raw bytes Stripe signed, never DRF's parsed data
        try:
            payload = _verified_payload(body, signature)
        except ValueError as error:
            logger.warning("Refused a Stripe webhook delivery from %s: %s", client_address(request), error)
            raise ApplicationError(
                "invalid_signature", "The Stripe-Signature header does not match this endpoint's secret."
            ) from error
        delivery = _delivery_record(request._request, body)
        event = webhook_event_receive(payload=payload, delivery=delivery)
        outcome = webhook_event_process(event=event, delivery=delivery)
        if outcome.status == StripeWebhookEventStatus.FAILED:
            raise ApplicationError(
                "webhook_processing_failed",
                f"Event {event.stripe_event_id} failed; it will be retried.",
                status_code=500,
            )
        return Response(
            {"received": True, "event": event.stripe_event_id, "duplicate": outcome.duplicate, "result": outcome.result}
        )


# A failed event must stay recorded (dj-stripe's rule): each step owns its transaction, never the request.
stripe_webhook = transaction.non_atomic_requests(login_not_required(StripeWebhookView.as_view()))
