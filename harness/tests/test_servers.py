"""The harness servers keep their promises: S3 checks signatures and expiry, Stripe talks the way dj-stripe needs."""

import http.server
import os
import queue
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import stripe

import harness

pytestmark = pytest.mark.skipif(
    os.environ.get("HARNESS_SERVICES", "").lower() in ("none", "sqlite"), reason="servers disabled by HARNESS_SERVICES"
)


@pytest.fixture
def s3() -> object:
    return harness.services().s3.client()


@pytest.fixture
def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        os.environ["TEST_STRIPE_SECRET_KEY"], base_addresses={"api": os.environ["TEST_STRIPE_API_BASE"]}
    )


class WebhookReceiver(http.server.BaseHTTPRequestHandler):
    deliveries: "queue.Queue[tuple[bytes, str]]"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.deliveries.put((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, "queue.Queue[tuple[bytes, str]]"]]:
    deliveries: queue.Queue[tuple[bytes, str]] = queue.Queue()
    handler = type("Receiver", (WebhookReceiver,), {"deliveries": deliveries})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", deliveries
    server.shutdown()


def test_s3_refuses_expired_and_tampered_presigned_urls(s3):
    bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]
    s3.put_object(Bucket=bucket, Key="harness/presigned.txt", Body=b"secret")
    params = {"Bucket": bucket, "Key": "harness/presigned.txt"}
    # A one-second URL can be dead before its first use on a loaded machine (X-Amz-Date has whole seconds), so
    # the fresh and forged requests use a long-lived URL and only the expiry check uses the short one.
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
    short_lived = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    signature_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    tampered = url[:signature_at] + "0" * 64 + url[signature_at + 64 :]

    fresh = requests.get(url, timeout=5)
    forged = requests.get(tampered, timeout=5)
    time.sleep(2.1)
    expired = requests.get(short_lived, timeout=5)

    assert (fresh.status_code, fresh.content) == (200, b"secret")
    assert forged.status_code == 403 and "SignatureDoesNotMatch" in forged.text
    assert expired.status_code == 403 and "expired" in expired.text


def test_s3_enforces_the_presigned_post_size_range(s3):
    post = s3.generate_presigned_post(
        os.environ["AWS_STORAGE_BUCKET_NAME"], "harness/upload.bin", Conditions=[["content-length-range", 1, 10]]
    )

    too_big = requests.post(post["url"], data=post["fields"], files={"file": b"x" * 11}, timeout=5)
    fits = requests.post(post["url"], data=post["fields"], files={"file": b"x" * 10}, timeout=5)

    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    assert fits.status_code == 204


def test_s3_comes_back_on_the_same_port_with_its_bucket(harness_s3):
    server = harness_s3
    port = server.port

    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=5)
    server.start()

    assert server.port == port
    assert [bucket["Name"] for bucket in server.client().list_buckets()["Buckets"]] == [server.bucket]


def test_stripe_subscription_with_a_krw_price(stripe_client):
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "krw", "unit_amount": 99000, "recurring": {"interval": "month"}}
    )
    customer = stripe_client.v1.customers.create(params={"email": "harness@example.com"})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    payment_method = stripe_client.v1.payment_methods.create(params={"type": "card", "card": card})
    stripe_client.v1.payment_methods.attach(payment_method.id, params={"customer": customer.id})
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": payment_method.id}}
    )

    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "expand": ["latest_invoice", "discounts"]}
    )
    item = subscription["items"].data[0]

    assert stripe_client.v1.prices.retrieve(price.id).unit_amount == 99000
    assert subscription.status == "active"
    assert subscription.latest_invoice.amount_paid == 99000
    assert (item.price.id, item.price.unit_amount, item.subscription) == (price.id, 99000, subscription.id)
    assert item.current_period_end > item.current_period_start
    assert subscription.default_tax_rates == []
    assert stripe_client.v1.accounts.retrieve_current().id.startswith("acct_")
    assert stripe_client.v1.prices.update(price.id, params={"active": False}).active is False


def test_stripe_webhooks_are_signed_and_survive_a_restart(stripe_client, webhook_receiver):
    url, deliveries = webhook_receiver
    server = harness.services().stripe
    server.register_webhook(url, "whsec_harness", events=["customer.created"], webhook_id="harness-self-check")

    server.stop()
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.customers.list()
    server.start()
    customer = stripe_client.v1.customers.create(params={"email": "webhook@example.com"})
    body, signature = deliveries.get(timeout=10)
    server.unregister_webhook("harness-self-check")
    event = stripe.Webhook.construct_event(body, signature, "whsec_harness")

    assert event.type == "customer.created"
    assert event.data.object.id == customer.id
