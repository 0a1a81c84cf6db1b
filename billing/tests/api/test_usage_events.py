"""POST /api/usage/events: a customer's own events with its token, a SaaS backend's with an API key (usage:write);
per-event refusals in a 200, whole-batch refusals in the error shape, concurrent senders on PostgreSQL."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.enums import ApiKeyScope, MetricAggregation
from billing.models import BillableMetric, Customer, UsageEvent
from billing.selectors.usage import usage_quantities, usage_quantities_brute_force
from billing.services.api_keys import api_key_create, api_key_revoke
from billing.tests.factories import BillableMetricFactory
from billing_site.tests.helpers import jwt_client
from storage.tests.factories import UserFactory

from ..helpers import run_concurrently

URL = "/api/usage/events"


@pytest.fixture
def metric(db: None) -> BillableMetric:
    return BillableMetricFactory.create(code="api_calls", aggregation=MetricAggregation.COUNT)


def key_client(superuser: Any, scopes: list[str]) -> tuple[APIClient, int]:
    api_key, key = api_key_create(name="backend", scopes=scopes, expires_at=None, actor=superuser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client, api_key.pk


@pytest.fixture
def backend_client(superuser: Any) -> APIClient:
    return key_client(superuser, [ApiKeyScope.USAGE_WRITE])[0]


def stamp(minutes_ago: int = 1) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "metric": "api_calls", "value": 1, "timestamp": stamp(), **changes}


def post(client: APIClient, body: Any) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def count_of(customer: Customer, metric: BillableMetric) -> int:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=2)
    rolled = usage_quantities(customer_id=customer.pk, metrics=[metric], start=start, end=end)
    assert rolled == usage_quantities_brute_force(customer_id=customer.pk, metrics=[metric], start=start, end=end)
    return rolled[metric.pk]


def test_a_customer_sends_its_own_events(customer, customer_client, metric):
    response = post(customer_client, {"events": [event("a"), event("b", customer=customer.pk)]})

    assert response.status_code == 200
    assert response.json() == {"accepted": ["a", "b"], "duplicates": [], "rejected": []}
    assert count_of(customer, metric) == 2


def test_a_mixed_batch_answers_for_every_event(customer, customer_client, metric):
    post(customer_client, {"events": [event("old")]})

    response = post(
        customer_client,
        {
            "events": [
                event("new"),
                event("old"),
                event("float", value=2.5),
                event("new", value=9),
                ["junk", {"x": 1}],
                event('=HYPERLINK("http://evil")'),
                event("huge", value=10**30),
                event("future", timestamp=(datetime.now(UTC) + timedelta(hours=1)).isoformat()),
                event("bool", value=True),
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == ["new", '=HYPERLINK("http://evil")']
    assert body["duplicates"] == ["old", "new"]
    assert [(item["index"], item["event_id"], item["code"]) for item in body["rejected"]] == [
        (2, "float", "invalid_value"),
        (4, None, "invalid_event"),
        (6, "huge", "invalid_value"),
        (7, "future", "timestamp_in_future"),
        (8, "bool", "invalid_value"),
    ]
    assert all(item["message"] for item in body["rejected"])
    assert UsageEvent.objects.filter(event_id='=HYPERLINK("http://evil")').exists()
    assert count_of(customer, metric) == 3


def test_a_batch_sent_twice_is_counted_once(customer, customer_client, metric):
    batch = {"events": [event(f"e-{index}") for index in range(30)]}
    first, again = post(customer_client, batch).json(), post(customer_client, batch).json()

    assert len(first["accepted"]) == len(again["duplicates"]) == 30
    assert again["accepted"] == first["duplicates"] == []
    assert count_of(customer, metric) == 30


def test_a_customer_cannot_send_events_for_another(customer, customer_client, other_customer, metric):
    response = post(customer_client, {"events": [event("theirs", customer=other_customer.pk)]})

    assert response.status_code == 200
    assert [item["code"] for item in response.json()["rejected"]] == ["customer_mismatch"]
    assert count_of(other_customer, metric) == count_of(customer, metric) == 0


def test_a_user_without_a_billing_profile_may_not_send(metric):
    response = post(jwt_client(UserFactory.create()), {"events": [event("a")]})

    assert error_of(response) == (403, "permission_denied")
    assert not UsageEvent.objects.exists()


def test_an_api_key_sends_for_the_customers_its_events_name(backend_client, customer, other_customer, metric):
    response = post(
        backend_client,
        {"events": [event("a", customer=customer.pk), event("a", customer=other_customer.pk), event("nobody")]},
    )

    assert response.status_code == 200
    assert response.json()["accepted"] == ["a", "a"]
    assert [item["code"] for item in response.json()["rejected"]] == ["customer_required"]
    assert count_of(customer, metric) == count_of(other_customer, metric) == 1


def test_an_api_key_without_usage_write_is_403(superuser, customer, metric):
    client, _ = key_client(superuser, [ApiKeyScope.ENTITLEMENTS_READ])

    assert error_of(post(client, {"events": [event("a", customer=customer.pk)]})) == (403, "insufficient_scope")
    assert not UsageEvent.objects.exists()


def test_a_revoked_api_key_is_401(superuser, customer, metric):
    client, api_key_id = key_client(superuser, [ApiKeyScope.USAGE_WRITE])
    api_key_revoke(api_key_id=api_key_id, actor=superuser)

    assert error_of(post(client, {"events": [event("a", customer=customer.pk)]})) == (401, "invalid_api_key")
    assert error_of(post(APIClient(), {"events": [event("a", customer=customer.pk)]}))[0] == 401
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"events": [event(f"e-{index}") for index in range(1001)]}, (400, "too_many_events")),
        ({"events": []}, (400, "validation_error")),
        ({"events": {"event_id": "a"}}, (400, "validation_error")),
        ({"events": "a,b"}, (400, "validation_error")),
        ({"events": None}, (400, "validation_error")),
        ({}, (400, "validation_error")),
        ({"events": [event("a")], "dry_run": True}, (400, "unknown_field")),
        ("events", (400, "validation_error")),
        (12, (400, "validation_error")),
    ],
)
def test_a_batch_that_is_not_a_list_of_up_to_a_thousand_events_is_400(
    customer, customer_client, metric, body, expected
):
    assert error_of(post(customer_client, body)) == expected
    assert not UsageEvent.objects.exists()


def test_malformed_json_and_other_media_types_are_refused(customer, customer_client, metric):
    broken = customer_client.post(URL, data='{"events": [', content_type="application/json")
    huge_number = customer_client.post(
        URL, data='{"events": [{"value": 1' + "0" * 5000 + "}]}", content_type="application/json"
    )
    form = customer_client.post(URL, data={"events": "a"})

    assert error_of(broken) == (400, "parse_error")
    assert error_of(huge_number) == (400, "parse_error")
    assert form.status_code == 415
    assert not UsageEvent.objects.exists()


def test_a_body_over_two_megabytes_is_413_before_it_is_read(customer, customer_client, metric):
    body = json.dumps({"events": [event("a", padding="x" * (2 * 1024 * 1024))]})

    assert error_of(customer_client.post(URL, data=body, content_type="application/json")) == (413, "payload_too_large")
    assert not UsageEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_clients_sending_overlapping_batches_at_once_count_each_event_once(postgresql, superuser, customer):
    metric = BillableMetricFactory.create(code="api_calls", aggregation=MetricAggregation.COUNT)
    client = key_client(superuser, [ApiKeyScope.USAGE_WRITE])[0]
    ids = [f"p-{index}" for index in range(300)]
    bodies = [
        {"events": [event(event_id, customer=customer.pk) for event_id in shard]}
        for shard in (ids[:200], list(reversed(ids[100:])))
    ]

    responses = run_concurrently(lambda worker: post(client, bodies[worker]), 2)

    assert [response.status_code for response in responses] == [200, 200]
    bodies_back = [response.json() for response in responses]
    assert sorted(bodies_back[0]["accepted"] + bodies_back[1]["accepted"]) == sorted(ids)
    assert len(bodies_back[0]["duplicates"]) + len(bodies_back[1]["duplicates"]) == 100
    assert count_of(customer, metric) == 300


def test_options_describes_the_endpoint_without_an_error(customer_client):
    """DRF's OPTIONS asks the view for its serializer: it must have one, not answer 500."""
    response = customer_client.options("/api/usage/events")

    assert response.status_code == 200
    assert response.json()["name"]


def test_a_bare_array_body_is_400_as_the_schema_says(customer, customer_client, metric):
    response = post(customer_client, [event("a")])

    assert error_of(response) == (400, "validation_error")


@pytest.mark.parametrize("code", ["unknown_metric", "period_closed"])
def test_a_refused_copy_claims_no_event_id_so_a_later_valid_copy_in_the_batch_is_stored(
    customer, customer_client, metric, code
):
    """A rejected event is as if never sent, within a batch as across batches (fixed and resent with its id)."""
    Customer.objects.filter(pk=customer.pk).update(usage_billed_until=datetime.now(UTC) - timedelta(minutes=60))
    refused = {"metric": "no_such_metric"} if code == "unknown_metric" else {"timestamp": stamp(minutes_ago=120)}

    response = post(customer_client, {"events": [event("x", **refused), event("x")]})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (["x"], [])
    assert [(item["index"], item["event_id"], item["code"]) for item in body["rejected"]] == [(0, "x", code)]
    assert count_of(customer, metric) == 1


def test_two_valid_copies_in_one_batch_store_the_first_and_acknowledge_the_second(customer, customer_client, metric):
    response = post(customer_client, {"events": [event("x", value=1), event("x", value=5)]})

    assert response.json() == {"accepted": ["x"], "duplicates": ["x"], "rejected": []}
    assert count_of(customer, metric) == 1
    assert UsageEvent.objects.get(event_id="x").value == 1
