"""Stripe's webhook deliveries: the endpoint's secret, the signature check, dj-stripe's mirror, and each event's
object re-read from Stripe (events that arrive late or out of order then apply the newest state)."""

import json
import logging
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.providers.base import RemoteObject
from billing_site.errors import ApplicationError

from .client import stripe_object_missing, stripe_retrieve
from .invoices import remote_invoice
from .payments import remote_payment, remote_refund, remote_refund_of
from .subscriptions import remote_subscription

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_SECONDS = 300

_INVOICE = ("invoice", stripe.Invoice, remote_invoice)
_SUBSCRIPTION = ("subscription", stripe.Subscription, remote_subscription)
_PAYMENT_INTENT = ("payment intent", stripe.PaymentIntent, remote_payment)
_CHARGE = ("charge", stripe.Charge, remote_refund)
_REFUND = ("refund", stripe.Refund, remote_refund_of)  # read as its whole charge
# The events our records follow (enable these on the endpoint, see docs/stripe.md). invoice.payment_succeeded and
# invoice.marked_uncollectible re-read the invoice like invoice.paid does; other events are only mirrored by dj-stripe.
READERS: dict[str, tuple[str, Any, Callable[[Any], RemoteObject]]] = {
    "invoice.paid": _INVOICE,
    "invoice.payment_succeeded": _INVOICE,
    "invoice.payment_failed": _INVOICE,
    "invoice.finalized": _INVOICE,
    "invoice.voided": _INVOICE,
    "invoice.marked_uncollectible": _INVOICE,
    "customer.subscription.created": _SUBSCRIPTION,
    "customer.subscription.updated": _SUBSCRIPTION,
    "customer.subscription.deleted": _SUBSCRIPTION,
    "payment_intent.succeeded": _PAYMENT_INTENT,
    "payment_intent.payment_failed": _PAYMENT_INTENT,
    "charge.refunded": _CHARGE,
    # A refund that went through or failed after it was made (charge.refund.updated; refund.* on newer endpoints).
    "charge.refund.updated": _REFUND,
    "refund.updated": _REFUND,
    "refund.failed": _REFUND,
}


def webhook_endpoint_check() -> None:
    """503 while the endpoint has no signing secret: nothing could be verified."""
    if not settings.DJSTRIPE_WEBHOOK_SECRET:
        logger.error("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set.")
        raise ApplicationError(
            "webhook_not_configured", "The webhook endpoint has no signing secret configured.", status_code=503
        )


def webhook_event_verify(*, body: bytes, signature: str) -> dict[str, Any]:
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


def webhook_event_mirror(*, payload: dict[str, Any]) -> bool:
    """dj-stripe's processing of the event (its Event row, the object mirrored, its signal handlers); False when
    the object is gone from Stripe (dj-stripe re-reads it), which no retry would change."""
    try:
        with transaction.atomic():
            djstripe_models.Event.process(payload, api_key=djstripe_settings.STRIPE_SECRET_KEY)
    except stripe.InvalidRequestError as error:
        if not stripe_object_missing(error):
            raise
        logger.info("dj-stripe did not mirror %s: %s", payload.get("id"), error)
        return False
    return True


def webhook_event_read(*, event_type: str, object_id: str) -> RemoteObject | str:
    """The event's object as Stripe has it now, for our records to follow; a sentence when there is nothing to do."""
    reader = READERS.get(event_type)
    if reader is None:
        return f"{event_type}: mirrored by dj-stripe only"
    if not object_id:
        return f"{event_type} without an object: nothing to do"
    kind, resource, convert = reader
    current = stripe_retrieve(resource, object_id)
    if current is None:
        return f"{kind} {object_id} no longer exists in Stripe: nothing to do"
    return convert(current)
