"""The Stripe client as billing uses it: request options, idempotency keys, errors, amounts, metadata keys.

- Every call that creates something in Stripe carries an idempotency key derived from our own object
  (`stripe_idempotency_key`), so a retried call finds what the first one made instead of charging twice.
- Amounts go to Stripe unchanged: Stripe's smallest unit is our minor unit for every currency we bill in
  (KRW is zero-decimal there too), so 99000 KRW is ₩99,000 in Stripe, never ₩990.
- Stripe failures become ApplicationError: 402 `card_declined` / `card_authentication_required`,
  400 `invalid_payment_method`, 503 `stripe_unavailable`, 502 `stripe_request_failed`.
"""

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from djstripe.settings import djstripe_settings

from billing.enums import Language
from billing.models.subscriptions import SubscriptionStatus
from billing.money import MINOR_DIGITS, currency_normalize
from billing.periods import BILLING_TIME_ZONE, BillingPeriod
from billing_site.errors import ApplicationError

logger = logging.getLogger(__name__)

INTERVALS: dict[str, str] = {BillingPeriod.MONTHLY: "month", BillingPeriod.ANNUAL: "year"}
PRICE_ID_FIELDS: dict[str, str] = {
    BillingPeriod.MONTHLY: "stripe_monthly_price_id",
    BillingPeriod.ANNUAL: "stripe_annual_price_id",
}
# Stripe subscription statuses -> ours. "unpaid" is past_due that stopped retrying; both still owe money. Trialing
# and paused are named as they are, but ours decides those (billing.services.provider_sync never follows them): our
# trials never reach Stripe, and a Stripe copy "trialing" is one whose next charge we moved (after a pause).
SUBSCRIPTION_STATUS_FROM_STRIPE: dict[str, str] = {
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}
ENDED_STATUSES = ("canceled", "incomplete_expired")
VAT_LINE_TEXT: dict[str, str] = {Language.KOREAN: "부가세 (VAT)", Language.ENGLISH: "VAT"}
VAT_ADJUSTMENT_TEXT: dict[str, str] = {Language.KOREAN: "부가세 조정", Language.ENGLISH: "VAT adjustment"}
# Metadata keys on Stripe objects that point back at ours (the resync and the webhooks read them).
META_PLAN = "billing_plan_id"
META_CUSTOMER = "billing_customer_id"
META_SUBSCRIPTION = "billing_subscription_id"
META_INVOICE = "billing_invoice_id"
META_ATTEMPT = "billing_subscribe_attempt_id"
# On invoice items made for a subscribe attempt's first invoice: the attempt (swept if that subscribe failed).
META_PENDING_FOR = "billing_pending_for_subscription"
META_VAT = "billing_vat_basis_points"

_http_client_timeout: float | None = None


def stripe_options(*, idempotency_key: str | None = None) -> dict[str, Any]:
    """Request options of every call: the configured key and API version (dj-stripe's), and the idempotency key."""
    global _http_client_timeout
    timeout = float(getattr(settings, "STRIPE_TIMEOUT_SECONDS", 20))
    if _http_client_timeout != timeout:
        # The stripe library's default waits 80 s; a request thread must give up long before that.
        stripe.default_http_client = stripe.RequestsClient(timeout=timeout)
        _http_client_timeout = timeout
    stripe.max_network_retries = int(getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2))
    options: dict[str, Any] = {
        "api_key": djstripe_settings.STRIPE_SECRET_KEY,
        "stripe_version": djstripe_settings.STRIPE_API_VERSION,
    }
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options


def stripe_idempotency_key(kind: str, pk: object, action: str, params: Mapping[str, Any] | None = None) -> str:
    """`billing-<kind>-<pk>-<action>[-<digest>]`: the same request about the same object of ours gets the same key.

    The digest of the parameters is part of the key where one object may be sent with other parameters later
    (a plan's new price): Stripe refuses a known key with different parameters, and must not replay the old answer.
    """
    key = f"billing-{kind}-{pk}-{action}"
    if params is not None:
        encoded = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
        key += "-" + hashlib.sha256(encoded.encode()).hexdigest()[:16]
    return key


@contextmanager
def stripe_errors(*, action: str) -> Iterator[None]:
    """Translate a Stripe failure into the ApplicationError an API client can act on."""
    try:
        yield
    except stripe.CardError as error:
        raise ApplicationError(
            "card_declined",
            error.user_message or "The card was declined.",
            fields={"payment_method_id": [error.code or "card_declined"]},
            status_code=402,
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        logger.warning("Stripe unavailable while trying to %s: %s", action, error)
        raise _unavailable(action) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        logger.error("Stripe refused our API key while trying to %s: %s", action, error)
        raise _unavailable(action) from error
    except stripe.StripeError as error:
        logger.error("Stripe refused the request to %s: %s", action, error)
        raise ApplicationError(
            "stripe_request_failed", f"Stripe refused the request to {action}.", status_code=502
        ) from error


def _unavailable(action: str) -> ApplicationError:
    return ApplicationError(
        "stripe_unavailable",
        f"Payments are unavailable right now (could not {action}); try again shortly.",
        status_code=503,
    )


def stripe_object_missing(error: stripe.StripeError) -> bool:
    """Stripe answered that the object does not exist (404 / resource_missing)."""
    return isinstance(error, stripe.InvalidRequestError) and (
        error.http_status == 404 or error.code == "resource_missing"
    )


def stripe_amount(*, amount: int, currency: str) -> int:
    """An amount in Stripe's smallest unit: our minor units, unchanged (checked once per call, not assumed)."""
    code = currency_normalize(currency)
    if (MINOR_DIGITS[code] == 0) != (code.lower() in djstripe_settings.ZERO_DECIMAL_CURRENCIES):
        raise ImproperlyConfigured(f"{code}: our minor units and Stripe's smallest unit differ; add a conversion.")
    return amount


def stripe_timestamp_date(value: int | None) -> date | None:
    """The Asia/Seoul calendar day of a Stripe timestamp (our periods are Seoul days)."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).astimezone(BILLING_TIME_ZONE).date()


def stripe_retrieve(resource: Any, stripe_id: str) -> Any:
    """The Stripe object as it is now (`resource` e.g. stripe.Invoice), or None when Stripe has no such object."""
    if not stripe_id:
        return None
    try:
        return resource.retrieve(stripe_id, **stripe_options())
    except stripe.StripeError as error:
        if stripe_object_missing(error):
            return None
        raise


def stripe_reference(value: Any) -> str:
    """The id of an expandable field: the id itself, or the expanded object's."""
    return value if isinstance(value, str) else str((value or {}).get("id") or "")


def payment_intent_id(stripe_invoice: Any) -> str:
    """The payment intent that paid a Stripe invoice (field of older API versions, `payments` list of newer ones)."""
    intent = stripe_invoice.get("payment_intent")
    if isinstance(intent, str):
        return intent
    if intent:
        return str(intent.get("id"))
    for payment in (stripe_invoice.get("payments") or {}).get("data", []):
        inner = (payment.get("payment") or {}).get("payment_intent")
        if inner:
            return inner if isinstance(inner, str) else str(inner.get("id"))
    return ""


def stripe_cleanup(*, subscription_id: str = "", invoice_id: str = "", item_ids: tuple[str, ...] = ()) -> None:
    """Best effort: undo what we created in Stripe for a subscribe that did not happen. What cannot be undone now
    (Stripe unreachable) is logged; its subscribe attempt is compensated later (billing.provider_reconcile)."""
    try:
        for item_id in item_ids:
            # An item already on an invoice cannot be deleted: voiding that invoice takes it out of collection.
            with suppress(stripe.InvalidRequestError):
                stripe.InvoiceItem.delete(item_id, **stripe_options())
        if subscription_id:
            current: Any = stripe.Subscription.retrieve(subscription_id, **stripe_options())
            if current.get("status") not in ENDED_STATUSES:
                stripe.Subscription.cancel(subscription_id, **stripe_options())
        if invoice_id:
            invoice: Any = stripe.Invoice.retrieve(invoice_id, **stripe_options())
            if invoice.get("status") == "open":
                stripe.Invoice.void_invoice(invoice_id, **stripe_options())
    except stripe.StripeError as error:
        logger.error(
            "Could not undo Stripe subscription %s / invoice %s after a failed subscribe (%s); "
            "the reconcile of its subscribe attempt will.",
            subscription_id,
            invoice_id,
            error,
        )
