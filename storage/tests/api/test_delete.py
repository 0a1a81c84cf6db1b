"""DELETE /api/files/{id}: object and listing gone; protected files refused; 503 and nothing lost if S3 is down."""

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from storage.models import StoredFile
from storage.services import file_store

from ..helpers import SAMPLES, bucket_keys


@pytest.mark.parametrize("suffix", ["", "/"])
def test_delete_removes_the_object_and_hides_the_file(backend: str, customer_user, customer_client, suffix) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    keep = file_store(owner=customer_user, content=SAMPLES["png"], original_name="keep.png")

    response = customer_client.delete(f"/api/files/{stored.pk}{suffix}")

    assert response.status_code == 204
    assert response.content == b""
    assert bucket_keys(f"users/{customer_user.pk}") == [keep.key]
    stored.refresh_from_db()
    assert stored.deleted_at is not None
    assert customer_client.get(f"/api/files/{stored.pk}").status_code == 404
    assert [item["id"] for item in customer_client.get("/api/files").json()["results"]] == [str(keep.pk)]
    second = customer_client.delete(f"/api/files/{stored.pk}")
    assert second.status_code == 404
    assert second.json()["error"]["code"] == "not_found"


def test_another_customer_cannot_delete_and_gets_404(backend: str, customer_user, other_customer_client) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    response = other_customer_client.delete(f"/api/files/{stored.pk}")
    assert response.status_code == 404
    stored.refresh_from_db()
    assert stored.deleted_at is None
    assert bucket_keys(f"users/{customer_user.pk}") == [stored.key]


def test_a_file_attached_to_an_issued_invoice_cannot_be_deleted_by_the_customer(
    backend: str, customer_user, customer_client
) -> None:
    invoice_pdf = file_store(
        owner=customer_user,
        content=SAMPLES["pdf"],
        original_name="INV-20241101-0001.pdf",
        attached_type="billing.invoice",
        attached_id="17",
        protected=True,
    )
    response = customer_client.delete(f"/api/files/{invoice_pdf.pk}")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "file_attached"
    assert error["fields"] == {"attached_type": "billing.invoice", "attached_id": "17"}
    invoice_pdf.refresh_from_db()
    assert invoice_pdf.deleted_at is None
    assert bucket_keys(f"users/{customer_user.pk}") == [invoice_pdf.key]


def test_with_s3_unreachable_delete_is_503_and_the_file_is_kept_for_a_retry(
    s3, settings, customer_user, customer_client
):
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    reachable = settings.STORAGES["default"]
    dead = {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}}
    settings.STORAGES = {**settings.STORAGES, "default": dead}

    response = customer_client.delete(f"/api/files/{stored.pk}")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    stored.refresh_from_db()
    assert stored.deleted_at is None
    settings.STORAGES = {**settings.STORAGES, "default": reachable}
    assert default_storage.exists(stored.key)
    assert customer_client.delete(f"/api/files/{stored.pk}").status_code == 204
    assert not default_storage.exists(stored.key)


def test_with_the_s3_server_stopped_delete_is_503_and_nothing_changes(
    s3, harness_s3, customer_user, customer_client
) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    harness_s3.stop()
    response = customer_client.delete(f"/api/files/{stored.pk}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert StoredFile.objects.get(pk=stored.pk).deleted_at is None
    harness_s3.start()
    assert customer_client.delete(f"/api/files/{stored.pk}").status_code == 204


def test_delete_requires_a_token(backend: str, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    assert APIClient().delete(f"/api/files/{stored.pk}").status_code == 401
