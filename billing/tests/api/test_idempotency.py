"""Idempotency-Key on every billing POST: replay, key reuse with another body, concurrency, expiry, purge."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import IdempotencyKey, Invoice, Order, Payment
from billing.tests.factories import IdempotencyKeyFactory
from billing_site.tests.helpers import jwt_client

from ..helpers import run_concurrently

pytestmark = pytest.mark.django_db
CREATE = "/api/payment/invoice"


def _post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        (CREATE, {"amount_krw": 99_000}, Invoice),
        ("/api/orders", {"items": [{"description": "Pro", "unit_amount_krw": 99_000}]}, Order),
    ],
)
def test_a_repeat_replays_the_first_response_and_acts_once(customer_client, path, body, model):
    first = _post(customer_client, path, body, "key-1")
    second = _post(customer_client, path + "/", body, "key-1")  # the other slash form is the same endpoint
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert model.objects.count() == 1

    third = _post(customer_client, path, body, "key-2")
    assert third.status_code == 201 and model.objects.count() == 2


def test_same_key_with_another_body_is_422(customer_client):
    assert _post(customer_client, CREATE, {"amount_krw": 1_000}, "k").status_code == 201
    reused = _post(customer_client, CREATE, {"amount_krw": 2_000}, "k")
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    other_endpoint = _post(customer_client, "/api/orders", {"items": [{"description": "x", "unit_amount_krw": 1}]}, "k")
    assert other_endpoint.status_code == 422
    assert Invoice.objects.count() == 1 and not Order.objects.exists()


def test_key_order_and_whitespace_of_the_json_body_do_not_matter(customer_client):
    first = customer_client.post(
        CREATE, '{"amount_krw": 1000, "due_days": 7}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    again = customer_client.post(
        CREATE, '{ "due_days":7,"amount_krw":1000 }', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_keys_are_per_user(customer_client, other_customer_client):
    mine = _post(customer_client, CREATE, {"amount_krw": 1_000}, "shared-key")
    theirs = _post(other_customer_client, CREATE, {"amount_krw": 1_000}, "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["invoice_id"] != theirs.json()["invoice_id"]


def test_a_refused_business_rule_is_replayed_too(billing_staff_client, issue):
    invoice = issue(1_000)
    path = f"/api/invoices/{invoice.pk}/void"
    assert _post(billing_staff_client, path, {}, "void-1").status_code == 200
    replay = _post(billing_staff_client, path, {}, "void-1")
    assert (replay.status_code, replay.json()["status"], replay["Idempotent-Replayed"]) == (200, "void", "true")
    fresh = _post(billing_staff_client, path, {}, "void-2")
    assert (fresh.status_code, fresh.json()["error"]["code"]) == (409, "invalid_invoice_transition")
    assert _post(billing_staff_client, path, {}, "void-2")["Idempotent-Replayed"] == "true"


def test_a_request_that_did_not_validate_is_not_stored(customer_client):
    bad = _post(customer_client, CREATE, {"amount_krw": 0}, "fix-me")
    assert bad.status_code == 400
    fixed = _post(customer_client, CREATE, {"amount_krw": 1_000}, "fix-me")
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed


def test_a_server_error_releases_the_key(customer_client, monkeypatch):
    import billing.api.viewsets.invoices as views

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "invoice_issue_requested", explode)
    customer_client.raise_request_exception = False
    assert _post(customer_client, CREATE, {"amount_krw": 1_000}, "retry-me").status_code == 500
    assert not IdempotencyKey.objects.exists()
    monkeypatch.undo()
    assert _post(customer_client, CREATE, {"amount_krw": 1_000}, "retry-me").status_code == 201


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "ключ", "tab\tkey"])
def test_malformed_keys_are_400(customer_client, key):
    response = _post(customer_client, CREATE, {"amount_krw": 1_000}, key)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_idempotency_key")
    assert not Invoice.objects.exists()


def test_without_a_key_every_post_acts(customer_client):
    customer_client.post(CREATE, {"amount_krw": 1_000}, format="json")
    customer_client.post(CREATE, {"amount_krw": 1_000}, format="json")
    assert Invoice.objects.count() == 2 and not IdempotencyKey.objects.exists()


def test_an_expired_key_acts_again_and_the_purge_removes_it(customer_client, customer):
    _post(customer_client, CREATE, {"amount_krw": 1_000}, "old")
    record = IdempotencyKey.objects.get()
    assert record.expires_at - record.created_at == timedelta(hours=24)
    assert (record.state, record.response_status, json.loads(record.response_body)["total_krw"]) == (
        "completed",
        201,
        1_100,
    )

    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _post(customer_client, CREATE, {"amount_krw": 5_000}, "old").status_code == 201  # a new request now
    assert Invoice.objects.count() == 2

    IdempotencyKeyFactory(
        user=customer.user, key="stale", request_path=CREATE, expires_at=timezone.now() - timedelta(hours=1)
    )
    call_command("billing_purge_idempotency_keys")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["old"]


def test_a_key_in_progress_elsewhere_is_409_after_the_wait(customer_client, customer, settings):
    settings.IDEMPOTENCY_WAIT_SECONDS = 0
    first = _post(customer_client, CREATE, {"amount_krw": 1_000}, "busy")
    record = IdempotencyKey.objects.get(key="busy")
    IdempotencyKey.objects.filter(pk=record.pk).update(state="in_progress", response_status=None, response_body="")
    response = _post(customer_client, CREATE, {"amount_krw": 1_000}, "busy")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "idempotency_key_in_use")
    assert first.status_code == 201 and Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        (CREATE, {"amount_krw": 99_000}, Invoice),
        ("/api/orders", {"items": [{"description": "Pro", "unit_amount_krw": 99_000}]}, Order),
    ],
)
def test_concurrent_requests_with_one_key_execute_once(postgresql, customer, path, body, model):
    workers = 8

    def send(index: int):
        return _post(jwt_client(customer.user), path, body, "same-key-at-once")

    responses = run_concurrently(send, workers)
    assert all(not isinstance(response, Exception) for response in responses), responses
    assert {response.status_code for response in responses} == {201}
    assert len({response.content for response in responses}) == 1  # everyone sees the one result, byte for byte
    assert sum(response.get("Idempotent-Replayed") == "true" for response in responses) == workers - 1
    assert model.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_bank_transfers_with_one_key_record_one_payment(postgresql, issue, billing_staff_user):
    invoice = issue(1_000)
    path = f"/api/invoices/{invoice.pk}/payments"

    def send(index: int):
        return _post(jwt_client(billing_staff_user), path, {"amount_krw": 500}, "transfer-1")

    responses = run_concurrently(send, 6)
    assert {response.status_code for response in responses} == {201}
    assert Payment.objects.count() == 1
