"""POST /api/files/presigned-url: 24-168 hours, the caller's files only, a URL to the exact bytes."""

import datetime
import uuid

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from storage.services import file_store

from ..helpers import SAMPLES, fetch


@pytest.fixture
def stored(backend: str, customer_user):
    return file_store(owner=customer_user, content=SAMPLES["docx"], original_name="계약서 최종.docx")


@pytest.mark.parametrize(("hours", "expected_hours"), [(None, 24), (24, 24), (100, 100), (168, 168), ("48", 48)])
def test_url_valid_for_the_requested_hours(stored, customer_client, hours, expected_hours) -> None:
    payload = {"file_id": str(stored.pk)} | ({} if hours is None else {"expires_in_hours": hours})
    response = customer_client.post("/api/files/presigned-url", payload, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    expires_at = parse_datetime(body["expires_at"])
    assert expires_at is not None
    assert abs(expires_at - (timezone.now() + datetime.timedelta(hours=expected_hours))) < datetime.timedelta(
        seconds=10
    )
    download = fetch(body["url"])
    assert download.status == 200
    assert download.content == SAMPLES["docx"]
    assert (
        "filename*=UTF-8''%EA%B3%84%EC%95%BD%EC%84%9C%20%EC%B5%9C%EC%A2%85.docx"
        in download.headers["content-disposition"]
    )


def test_trailing_slash_is_accepted_and_post_is_not_redirected(stored, customer_client) -> None:
    response = customer_client.post("/api/files/presigned-url/", {"file_id": str(stored.pk)}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("hours", [0, 23, 169, 1000, -24, 24.5, "abc", "", None, True])
def test_hours_outside_24_to_168_are_400(stored, customer_client, hours) -> None:
    response = customer_client.post(
        "/api/files/presigned-url", {"file_id": str(stored.pk), "expires_in_hours": hours}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_expiry"
    assert "expires_in_hours" in response.json()["error"]["fields"]


def test_another_customers_file_is_404(stored, other_customer_client) -> None:
    response = other_customer_client.post("/api/files/presigned-url", {"file_id": str(stored.pk)}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "url" not in response.json()


def test_unknown_or_malformed_file_id(backend: str, customer_client) -> None:
    unknown = customer_client.post("/api/files/presigned-url", {"file_id": str(uuid.uuid4())}, format="json")
    assert unknown.status_code == 404
    malformed = customer_client.post("/api/files/presigned-url", {"file_id": "not-a-uuid"}, format="json")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "validation_error"
    assert "file_id" in malformed.json()["error"]["fields"]


def test_requires_a_token(stored) -> None:
    assert APIClient().post("/api/files/presigned-url", {"file_id": str(stored.pk)}, format="json").status_code == 401
