"""What harness/stripe_compat.py adds to localstripe for the product: idempotency keys, standalone invoices, events."""

import http.server
import json
import os
import queue
import threading
from collections.abc import Iterator

import pytest
import requests
import stripe

import harness

pytestmark = pytest.mark.skipif(
    os.environ.get("HARNESS_SERVICES", "").lower() in ("none", "sqlite"), reason="servers disabled by HARNESS_SERVICES"
)
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


@pytest.fixture
def stripe_client() -> Iterator[stripe.StripeClient]:
    harness.services().stripe.reset()
    yield stripe.StripeClient(
        os.environ["TEST_STRIPE_SECRET_KEY"], base_addresses={"api": os.environ["TEST_STRIPE_API_BASE"]}
    )
    harness.services().stripe.reset()


@pytest.fixture
def event_types() -> Iterator["queue.Queue[str]"]:
    received: queue.Queue[str] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["type"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    harness.services().stripe.register_webhook(
        f"http://127.0.0.1:{server.server_port}/", "whsec_compat", webhook_id="compat-events"
    )
    yield received
    harness.services().stripe.unregister_webhook("compat-events")
    server.shutdown()


def collect(received: "queue.Queue[str]", wanted: set[str], timeout: float = 10.0) -> set[str]:
    """Event types received until all of `wanted` came; queue.Empty if one does not come in time."""
    seen: set[str] = set()
    while not wanted <= seen:
        seen.add(received.get(timeout=timeout))
    return seen


def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(stripe_client):
    options = {"idempotency_key": "compat-customer-1"}
    first = stripe_client.v1.customers.create(params={"email": "one@example.com"}, options=options)
    again = stripe_client.v1.customers.create(params={"email": "one@example.com"}, options=options)

    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(params={"email": "two@example.com"}, options=options)
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(stripe_client.v1.customers.list().data) == 1


def test_reset_forgets_idempotency_keys(stripe_client):
    options = {"idempotency_key": "compat-customer-2"}
    first = stripe_client.v1.customers.create(params={"email": "one@example.com"}, options=options)
    harness.services().stripe.reset()

    second = stripe_client.v1.customers.create(params={"email": "one@example.com"}, options=options)

    assert second.id != first.id


def test_a_standalone_invoice_takes_items_finalizes_and_has_a_hosted_page(stripe_client, event_types):
    customer = stripe_client.v1.customers.create(params={"email": "invoice@example.com"})
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 700, "currency": "krw", "description": "pending"}
    )
    draft = stripe_client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "krw",
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "pending_invoice_items_behavior": "exclude",
        }
    )
    for amount in (99000, 9900):
        stripe_client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": draft.id, "amount": amount, "currency": "krw"}
        )
    invoice = stripe_client.v1.invoices.finalize_invoice(draft.id)
    voided = stripe_client.v1.invoices.void_invoice(draft.id)

    assert (draft.status, draft.hosted_invoice_url) == ("draft", None)
    # The pending 700 stayed out (pending_invoice_items_behavior=exclude).
    assert (invoice.status, invoice.total, invoice.collection_method) == ("open", 108900, "send_invoice")
    assert invoice.due_date - invoice.status_transitions.finalized_at == 14 * 86400
    assert requests.get(invoice.hosted_invoice_url, timeout=5).status_code == 200
    assert voided.status == "void"
    assert collect(event_types, {"invoice.finalized", "invoice.voided"})


def test_payment_subscription_and_refund_events_that_stripe_sends(stripe_client, event_types):
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "krw", "unit_amount": 99000, "recurring": {"interval": "month"}}
    )
    customer = stripe_client.v1.customers.create(params={"email": "events@example.com"})
    method = stripe_client.v1.payment_methods.create(params={"type": "card", "card": CARD})
    stripe_client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": method.id}})
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "krw", "customer": customer.id, "payment_method": method.id}
    )
    stripe_client.v1.payment_intents.confirm(intent.id)
    stripe_client.v1.refunds.create(params={"payment_intent": intent.id})
    wanted = {
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
        "customer.subscription.created",
        "customer.subscription.updated",
        "charge.refunded",
    }

    assert wanted <= collect(event_types, wanted)


def test_attempt_count_is_zero_until_a_payment_is_tried_then_counts_tries(stripe_client):
    product = stripe_client.v1.products.create(params={"name": "Basic"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "krw", "unit_amount": 9900, "recurring": {"interval": "month"}}
    )
    customer = stripe_client.v1.customers.create(params={"email": "attempts@example.com"})
    draft = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "currency": "krw", "collection_method": "send_invoice", "days_until_due": 7}
    )
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 9900, "currency": "krw"}
    )
    opened = stripe_client.v1.invoices.finalize_invoice(draft.id)
    method = stripe_client.v1.payment_methods.create(params={"type": "card", "card": CARD})
    stripe_client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": method.id}})
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    first = stripe_client.v1.invoices.retrieve(subscription.latest_invoice)

    assert (draft.attempt_count, draft.attempted) == (0, False)
    assert (opened.status, opened.attempt_count, opened.attempted) == ("open", 0, False)  # nobody tried to pay it
    assert (first.status, first.attempt_count, first.attempted) == ("paid", 1, True)
