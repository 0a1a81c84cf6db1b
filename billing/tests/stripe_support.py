"""Fixtures and helpers of the Stripe tests: Stripe on against the harness's localstripe, plans synced, cards, webhooks.

The layer conftests (api/, commands/, providers/) import the fixtures from here; the tests import the helpers.

Stripe is off in the suite; `stripe_on` turns it on for one test (the harness key, `stripe.api_base` pointed at
the harness, because dj-stripe reads STRIPE_API_HOST only at start-up) and empties localstripe before and after.
Nothing of ours is patched: these tests talk to the real server over HTTP.
"""

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from stripe.params import PaymentMethodCreateParamsCard

from billing.models.plans import SubscriptionPlan
from billing.providers.stripe.plans import plans_stripe_sync
from billing.services.plans import plan_file_load, plans_sync

WEBHOOK_SECRET = "whsec_billing_site_tests_0123456789"
GOOD_CARD = "4242424242424242"
# Attaches fine, every charge is declined: Stripe's subscription stays `incomplete` with an open invoice.
DECLINING_CARD = "4000000000000341"


@pytest.fixture
def stripe_server() -> Iterator[Any]:
    """The harness's Stripe (localstripe behind its compatibility layer); running again after the test."""
    import harness

    try:
        server = harness.services().stripe
    except RuntimeError:
        pytest.skip("needs the harness's Stripe server (make test, not HARNESS_SERVICES=none)")
    if not server.running:
        server.start()
    yield server
    if not server.running:
        server.start()


@pytest.fixture
def stripe_on(settings: Any, stripe_server: Any) -> Iterator[Any]:
    """Stripe on for this test, against an empty localstripe; everything restored afterwards."""
    key = os.environ["TEST_STRIPE_SECRET_KEY"]
    stripe_server.reset()
    settings.STRIPE_SECRET_KEY = key
    settings.STRIPE_TEST_SECRET_KEY = key
    settings.STRIPE_LIVE_SECRET_KEY = ""
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_ENABLED = True
    settings.DJSTRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    # A stopped server refuses at once; without retries a test of it does not wait for the library's backoff.
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    previous_base, previous_retries = stripe.api_base, stripe.max_network_retries
    stripe.api_base = os.environ["TEST_STRIPE_API_BASE"]
    yield stripe_server
    stripe.api_base, stripe.max_network_retries = previous_base, previous_retries
    if stripe_server.running:
        stripe_server.reset()


@pytest.fixture
def stripe_api(stripe_on: Any) -> dict[str, Any]:
    """Request options for calls a test makes itself (as Stripe.js or the Stripe dashboard would)."""
    return {"api_key": os.environ["TEST_STRIPE_SECRET_KEY"]}


@pytest.fixture
def stripe_plans(db: None, stripe_on: Any) -> dict[str, SubscriptionPlan]:
    """The plans of billing/plans.yaml (free / starter 29,000 / pro 99,000 / enterprise 490,000), synced to Stripe."""
    plans_sync(plan_file=plan_file_load())
    plans_stripe_sync()
    return {plan.slug: plan for plan in SubscriptionPlan.objects.all()}


@pytest.fixture
def card(stripe_api: dict[str, Any]) -> Callable[..., str]:
    """A card PaymentMethod as Stripe.js would create it in the browser; returns its id."""

    def make(number: str = GOOD_CARD) -> str:
        details: PaymentMethodCreateParamsCard = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        return str(stripe.PaymentMethod.create(type="card", card=details, **stripe_api).id)

    return make


def signed(payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    """A body and Stripe-Signature header exactly as Stripe signs a delivery (t=<time>,v1=<HMAC-SHA256>)."""
    body = json.dumps(payload).encode()
    timestamp = at if at is not None else int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body.decode()}", secret)
    return body, f"t={timestamp},v1={signature}"


def stripe_event(stripe_api: dict[str, Any], kind: str, data_object: Any) -> dict[str, Any]:
    """An event of `kind` about a real Stripe object, for event types localstripe does not send itself."""
    return {
        "id": f"evt_test_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "api_version": stripe.api_version,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": json.loads(str(data_object)) if isinstance(data_object, stripe.StripeObject) else data_object
        },
    }


def wait_for(condition: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy (webhooks arrive about a second after the change, in no set order)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def webhook_to(stripe_on: Any) -> Iterator[Callable[[str], None]]:
    """Have localstripe deliver every event, signed with our endpoint secret, to a URL (the live server's)."""
    registered: list[str] = []

    def register(url: str) -> None:
        webhook_id = f"test-{uuid.uuid4().hex[:12]}"
        stripe_on.register_webhook(url, WEBHOOK_SECRET, webhook_id=webhook_id)
        registered.append(webhook_id)

    yield register
    for webhook_id in registered:
        if stripe_on.running:
            stripe_on.unregister_webhook(webhook_id)
    if registered:
        _deliveries_settle()


def _deliveries_settle(*, quiet: float = 2.0, timeout: float = 30.0) -> None:
    """Wait until the live server has stopped writing what late deliveries bring (events sent before the endpoint
    was removed arrive a second or so later, and each one's processing issues, mails and mirrors in that request):
    a transactional test's flush would otherwise deadlock with a delivery still writing, and leave rows behind."""
    from django.db.models import Max

    from billing.models.stripe import StripeWebhookEvent
    from billing_site.jobs.models import Job
    from billing_site.mail.models import Email

    def fingerprint() -> tuple[Any, ...]:
        return (
            StripeWebhookEvent.objects.aggregate(Max("updated_at"), Max("id")),
            Job.objects.aggregate(Max("updated_at")),
            Email.objects.aggregate(Max("updated_at")),
        )

    deadline = time.monotonic() + timeout
    last, quiet_since = fingerprint(), time.monotonic()
    while time.monotonic() - quiet_since < quiet and time.monotonic() < deadline:
        time.sleep(0.25)
        current = fingerprint()
        if current != last:
            last, quiet_since = current, time.monotonic()
