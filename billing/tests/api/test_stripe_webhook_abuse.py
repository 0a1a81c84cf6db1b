"""The webhook against anyone who can reach it: nothing stored before the signature verifies, no credentials ever
stored, bodies capped before they are read, deliveries throttled per client address."""

import json
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

import pytest
import stripe
from django.apps import apps
from django.db import connection
from django.test import Client, TestCase
from djstripe import models as djstripe_models

from billing.models.stripe import StripeWebhookEvent
from billing.tests.factories import WebhookEventTriggerFactory
from billing.tests.stripe_support import WEBHOOK_SECRET, signed, stripe_event
from billing.webhooks import MAX_BODY_BYTES, STORED_HEADERS

pytestmark = pytest.mark.django_db
WEBHOOK = "/api/payment/webhook"
CREDENTIALS = {
    "HTTP_AUTHORIZATION": "Bearer stolen-access-token",
    "HTTP_COOKIE": "sessionid=stolen-session; csrftoken=stolen-csrf",
    "HTTP_PROXY_AUTHORIZATION": "Basic c3RvbGVuOnN0b2xlbg==",
    "HTTP_X_API_KEY": "stolen-api-key",
    "HTTP_X_DJSTRIPE_WEBHOOK_SECRET": "whsec_stolen",
}


@pytest.fixture
def webhook_secret_set(settings: Any) -> None:
    """Stripe on with the endpoint's secret; enough for every refusal, which never calls Stripe."""
    settings.STRIPE_ENABLED = True
    settings.DJSTRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def post(body: bytes, signature: str | None, **extra: Any) -> Any:
    if signature is not None:
        extra["HTTP_STRIPE_SIGNATURE"] = signature
    with TestCase.captureOnCommitCallbacks(execute=True):  # the event's job runs on commit (no broker here)
        return Client().generic("POST", WEBHOOK, body, content_type="application/json", **extra)


def nothing_stored() -> bool:
    return not djstripe_models.WebhookEventTrigger.objects.exists() and not StripeWebhookEvent.objects.exists()


def an_event(**fields: Any) -> dict[str, Any]:
    return {"id": "evt_forged", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}, **fields}


def _unsigned() -> tuple[bytes, None]:
    return json.dumps(an_event()).encode(), None


def _garbage() -> tuple[bytes, str]:
    return json.dumps(an_event()).encode(), "t=1,v1=deadbeef"


def _someone_elses_secret() -> tuple[bytes, str]:
    return signed(an_event(), secret="whsec_someone_else")


def _stale() -> tuple[bytes, str]:
    return signed(an_event(), at=int(time.time()) - 3600)


def _signed_but_not_an_event() -> tuple[bytes, str]:
    return signed({"hello": "world"})


@pytest.mark.parametrize(
    ("delivery", "code"),
    [
        (_unsigned, "missing_signature"),
        (_garbage, "invalid_signature"),
        (_someone_elses_secret, "invalid_signature"),
        (_stale, "invalid_signature"),
        (_signed_but_not_an_event, "invalid_signature"),
    ],
    ids=["unsigned", "garbage-signature", "wrong-secret", "stale", "not-an-event"],
)
def test_a_delivery_that_does_not_verify_is_400_and_stores_nothing(
    webhook_secret_set: None, delivery: Callable[[], tuple[bytes, str | None]], code: str
) -> None:
    body, signature = delivery()

    response = post(body, signature, **CREDENTIALS)

    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert nothing_stored()


def test_a_stored_delivery_keeps_only_the_headers_that_verify_it_again(stripe_on: Any, stripe_api: dict) -> None:
    foreign = stripe.Customer.create(email="stranger@example.com", **stripe_api)
    event = stripe_event(stripe_api, "customer.updated", foreign)
    body, signature = signed(event)

    response = post(body, signature, HTTP_USER_AGENT="Stripe/1.0 (+https://stripe.com/docs/webhooks)", **CREDENTIALS)

    assert response.status_code == 200, response.json()
    delivery = djstripe_models.WebhookEventTrigger.objects.get()
    assert sorted(delivery.headers) == ["Content-Type", "Stripe-Signature", "User-Agent"]
    assert "stolen" not in json.dumps(delivery.headers)
    assert (delivery.valid, delivery.processed, delivery.remote_ip) == (True, True, "127.0.0.1")
    assert json.loads(delivery.body) == event
    # What dj-stripe's "reprocess" checks, from the stored row alone; our retries read the event's payload.
    assert delivery.verify_signature(WEBHOOK_SECRET, 300)
    assert StripeWebhookEvent.objects.get().payload == event


def test_a_body_over_the_cap_is_413_and_stores_nothing(webhook_secret_set: None) -> None:
    room = MAX_BODY_BYTES - len(json.dumps(an_event(padding="")))
    at_cap, over_cap = (json.dumps(an_event(padding="x" * size)).encode() for size in (room, room + 1))
    assert (len(at_cap), len(over_cap)) == (MAX_BODY_BYTES, MAX_BODY_BYTES + 1)

    refused = post(over_cap, "t=1,v1=deadbeef", **CREDENTIALS)
    read = post(at_cap, "t=1,v1=deadbeef")  # at the cap the body is read, then refused for its signature

    assert (refused.status_code, refused.json()["error"]["code"]) == (413, "payload_too_large")
    assert (read.status_code, read.json()["error"]["code"]) == (400, "invalid_signature")
    assert nothing_stored()


class EndlessBody:
    """A request body that never ends, counting what the server read of it."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = b"x" * (65_536 if size is None or size < 0 else min(size, 65_536))
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def test_a_declared_huge_body_is_refused_before_any_of_it_is_read(webhook_secret_set: None) -> None:
    body = EndlessBody()

    response = post(
        b"",
        "t=1,v1=deadbeef",
        CONTENT_LENGTH=str(100 * 1024 * 1024),
        CONTENT_TYPE="application/json",
        **{"wsgi.input": body},
    )

    assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")
    assert body.bytes_read == 0
    assert nothing_stored()


def test_deliveries_are_throttled_per_client_address(webhook_secret_set: None, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"webhook": "2/min"}}
    body, signature = _garbage()

    # X-Forwarded-For is the client's own claim (no trusted proxy in front): changing it changes nothing.
    answers = [
        post(body, signature, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{hop}") for hop in range(3)
    ]
    elsewhere = post(body, signature, REMOTE_ADDR="192.0.2.1")

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[2].json()["error"]["code"] == "throttled" and int(answers[2]["Retry-After"]) > 0
    assert elsewhere.status_code == 400
    assert nothing_stored()


def test_the_migration_scrubs_deliveries_stored_before_the_rule() -> None:
    """Rows from before issue 10: unverified junk goes, verified deliveries lose every credential header."""
    scrub = import_module("billing.migrations.0008_webhook_headers_scrub")
    leaked = {"Authorization": "Bearer stolen", "Cookie": "sessionid=stolen", "X-Api-Key": "stolen"}
    kept = {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=abc", "User-Agent": "Stripe/1.0"}
    junk = WebhookEventTriggerFactory.create(remote_ip="127.0.0.1", headers={**leaked, **kept}, body="{}", valid=False)
    verified = WebhookEventTriggerFactory.create(
        remote_ip="127.0.0.1", headers={**leaked, **kept}, body="{}", valid=True
    )
    assert set(scrub.STORED_HEADERS) == set(STORED_HEADERS)

    for _ in range(2):  # running it again changes nothing
        scrub.headers_scrub(apps, connection.schema_editor())
        assert not djstripe_models.WebhookEventTrigger.objects.filter(pk=junk.pk).exists()
        verified.refresh_from_db()
        assert verified.headers == kept
