"""Stripe webhooks: `POST /api/payment/webhook` checks the signature, records the delivery, applies each event once.

- Only a delivery whose signature verifies is kept (a dj-stripe WebhookEventTrigger with its body and only the
  headers needed to verify it again, STORED_HEADERS: never credentials such as Authorization or Cookie). A missing
  or wrong signature is 400 and leaves no row; a body over MAX_BODY_BYTES is 413 before it is read; deliveries are
  throttled per client address (DRF scope `webhook`, THROTTLE_WEBHOOK_RATE), and Stripe redelivers what got 429.
- Each event id has one StripeWebhookEvent row and, per attempt, one job (billing.services.webhook_events
  `webhook_event_enqueue`): deliveries racing each other share it. Processing asks Stripe first with no lock held
  (dj-stripe's idempotent mirror, a fresh read of the object), then locks the row; our records and the processed
  mark commit together, so an event is applied once.
- Handlers never trust the payload's copy of the object: the provider re-reads it from Stripe
  (billing.providers.stripe.webhooks) and billing.services.provider_sync applies it under our locks, so events that
  arrive late or out of order apply the newest state.
- A failing event is recorded with its error and retried with exponential backoff (billing.services.webhook_events)
  by the schedule (billing.tasks) or `manage.py billing_retry_webhooks`; a delivery is answered once recorded and
  queued, so processing happens in a worker (billing.jobs), never while Stripe waits.
"""

import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest
from djstripe import models as djstripe_models
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from billing.providers import payment_provider
from billing.services.webhook_events import webhook_event_enqueue, webhook_event_receive
from billing_site.api.throttling import ScopedThrottle, client_address
from billing_site.errors import ApplicationError

logger = logging.getLogger(__name__)

# Stripe's events are a few KB, the largest (an invoice with many lines) well under this; Django alone would read
# up to DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) of anyone's body.
MAX_BODY_BYTES = 512 * 1024
# What a stored delivery keeps of the request's headers: enough to verify it again (dj-stripe's reprocessing reads
# Stripe-Signature), nothing a client authenticates with (Authorization, Cookie, X-Djstripe-Webhook-Secret, ...).
STORED_HEADERS = ("Content-Type", "Stripe-Signature", "User-Agent")


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


@extend_schema(exclude=True)  # Stripe's endpoint, not one of our API's
class StripeWebhookViewSet(viewsets.ViewSet):
    """Stripe's deliveries: 200 once recorded and queued (or when already applied), 400 for a bad signature, 413 for
    a body too large to be an event, 429 when throttled. Nothing is stored before the signature verifies."""

    authentication_classes = ()  # Stripe signs the body; no session or token is looked at
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedThrottle,)
    throttle_scope = "webhook"  # anonymous, so keyed by client_address

    def create(self, request: Request) -> Response:
        provider = payment_provider()
        provider.webhook_endpoint_check()  # 404 while Stripe is off, 503 without a signing secret
        signature = request.headers.get("Stripe-Signature", "")
        if not signature:
            raise ApplicationError("missing_signature", "The Stripe-Signature header is missing.")
        body = _body_read(request._request)  # the raw bytes Stripe signed, never DRF's parsed data
        try:
            payload = provider.webhook_event_verify(body=body, signature=signature)
        except ValueError as error:
            logger.warning("Refused a Stripe webhook delivery from %s: %s", client_address(request), error)
            raise ApplicationError(
                "invalid_signature", "The Stripe-Signature header does not match this endpoint's secret."
            ) from error
        delivery = _delivery_record(request._request, body)
        event = webhook_event_receive(payload=payload, delivery=delivery)
        asked = webhook_event_enqueue(event=event, delivery=delivery)
        event.refresh_from_db()  # without a broker the job already ran, after the enqueue's commit
        return Response(
            {
                "received": True,
                "event": event.stripe_event_id,
                "duplicate": not asked,
                "status": event.status,
                "result": event.result,
            }
        )


# A failed event must stay recorded (dj-stripe's rule): each step owns its transaction, never the request.
stripe_webhook = transaction.non_atomic_requests(login_not_required(StripeWebhookViewSet.as_view({"post": "create"})))
