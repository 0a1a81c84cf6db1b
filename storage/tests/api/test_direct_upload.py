"""POST /api/files/upload-url and /api/files/{id}/complete: bytes go straight to the bucket, then are checked."""

import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from storage import backends
from storage.models import StoredFile
from storage.validators import MAX_ZIP_ENTRIES

from ..helpers import REFUSED, SAMPLES, bucket_keys, docx_with_empty_parts, fetch, pdf_bytes, post_form

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def start(
    client: APIClient, content_type: str, name: str = "보고서.xlsx", path: str = "/api/files/upload-url", **extra
):
    return client.post(path, {"original_name": name, "content_type": content_type, **extra}, format="json")


@pytest.mark.parametrize("suffix", ["", "/"])
def test_direct_upload_then_complete_makes_the_file_available(
    backend: str, customer_user, customer_client, suffix
) -> None:
    started = start(customer_client, XLSX, path=f"/api/files/upload-url{suffix}")
    assert started.status_code == 201, started.content
    body = started.json()
    file_id = body["file"]["id"]
    assert body["file"]["status"] == "pending" and body["file"]["url"] is None
    assert body["max_bytes"] == 50 * 1024 * 1024
    row = StoredFile.objects.get(pk=file_id)
    assert row.key == f"uploads/{customer_user.pk}/{file_id}.xlsx"  # where the form writes; never served
    assert customer_client.get("/api/files").json()["total"] == 0  # pending uploads are not listed

    assert post_form(body["upload"], SAMPLES["xlsx"], "보고서.xlsx") in (200, 201, 204)
    completed = customer_client.post(f"/api/files/{file_id}/complete{suffix}")

    assert completed.status_code == 200, completed.content
    done = completed.json()
    assert (done["status"], done["content_type"], done["size"]) == ("available", XLSX, len(SAMPLES["xlsx"]))
    assert done["sha256"] == hashlib.sha256(SAMPLES["xlsx"]).hexdigest()
    assert done["original_name"] == "보고서.xlsx"
    assert fetch(done["url"]).content == SAMPLES["xlsx"]
    # Served from a checked copy under a key no form was signed for; the upload key is gone.
    served = StoredFile.objects.get(pk=file_id).key
    assert re.fullmatch(rf"users/{customer_user.pk}/document/{file_id}-[0-9a-f]{{16}}\.xlsx", served), served
    assert bucket_keys("") == [served]
    assert customer_client.get("/api/files").json()["total"] == 1
    again = customer_client.post(f"/api/files/{file_id}/complete")
    assert again.status_code == 200 and again.json()["sha256"] == done["sha256"]


def test_complete_before_the_bytes_arrived_is_409_and_the_upload_stays_pending(backend: str, customer_client) -> None:
    file_id = start(customer_client, "application/pdf", "a.pdf").json()["file"]["id"]
    response = customer_client.post(f"/api/files/{file_id}/complete")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_missing"
    assert StoredFile.objects.get(pk=file_id).status == StoredFile.Status.PENDING


@pytest.mark.parametrize(
    ("declared", "content"),
    [("application/pdf", REFUSED["exe_as_pdf"]), ("application/pdf", SAMPLES["png"]), ("text/plain", REFUSED["html"])],
)
def test_bytes_that_are_not_what_was_announced_are_refused_and_removed(
    backend: str, customer_user, customer_client, declared, content
) -> None:
    body = start(customer_client, declared, "invoice.pdf").json()
    assert post_form(body["upload"], content) in (200, 201, 204)
    response = customer_client.post(f"/api/files/{body['file']['id']}/complete")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_file_type"
    assert bucket_keys("") == []
    assert not StoredFile.objects.filter(pk=body["file"]["id"]).exists()
    assert customer_client.post(f"/api/files/{body['file']['id']}/complete").status_code == 404


def test_the_bucket_refuses_a_body_over_the_limit(backend: str, customer_user, customer_client, settings) -> None:
    settings.STORAGE_MAX_UPLOAD_BYTES = 1024
    body = start(customer_client, "application/pdf", "a.pdf").json()
    status = post_form(body["upload"], SAMPLES["pdf"] + b"0" * 2048)
    assert status in (400, 413)  # S3 answers 400 EntityTooLarge, the local backend 413
    assert bucket_keys("") == []
    assert customer_client.post(f"/api/files/{body['file']['id']}/complete").status_code == 409


def test_the_bucket_refuses_a_different_content_type_than_the_form(
    backend: str, customer_user, customer_client
) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    form = {"url": body["upload"]["url"], "fields": {**body["upload"]["fields"], "Content-Type": "text/html"}}
    assert post_form(form, SAMPLES["pdf"]) == 403
    assert bucket_keys("") == []


def test_a_form_cannot_write_to_another_key(s3, customer_user, other_customer_user, customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    fields = {**body["upload"]["fields"], "key": s3._normalize_name(f"users/{other_customer_user.pk}/document/x.pdf")}
    assert post_form({"url": body["upload"]["url"], "fields": fields}, SAMPLES["pdf"]) == 403
    assert bucket_keys("") == []


def test_a_local_form_with_a_tampered_token_is_refused(local_storage, customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    fields = {**body["upload"]["fields"], "token": body["upload"]["fields"]["token"][:-2] + "xx"}
    assert post_form({"url": body["upload"]["url"], "fields": fields}, SAMPLES["pdf"]) == 403
    assert bucket_keys("") == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"content_type": "text/html"}, 400, "unsupported_file_type"),
        ({"content_type": "application/zip"}, 400, "unsupported_file_type"),
        ({"content_type": "image/png", "category": "document"}, 400, "category_mismatch"),
        ({"content_type": "application/pdf", "size": 50 * 1024 * 1024 + 1}, 413, "file_too_large"),
        ({"content_type": "application/pdf", "size": 0}, 400, "validation_error"),
    ],
)
def test_start_refuses_what_could_never_be_completed(backend: str, customer_client, payload, status, code) -> None:
    response = customer_client.post("/api/files/upload-url", {"original_name": "x", **payload}, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not StoredFile.objects.exists()


def test_another_customer_cannot_complete_my_upload(backend: str, customer_client, other_customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    assert post_form(body["upload"], SAMPLES["pdf"]) in (200, 201, 204)
    response = other_customer_client.post(f"/api/files/{body['file']['id']}/complete")
    assert response.status_code == 404
    assert StoredFile.objects.get(pk=body["file"]["id"]).status == StoredFile.Status.PENDING


def test_another_customer_cannot_see_my_pending_upload(backend: str, customer_client, other_customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    assert other_customer_client.get(f"/api/files/{body['file']['id']}").status_code == 404
    assert customer_client.get(f"/api/files/{body['file']['id']}").json()["status"] == "pending"


def test_a_pending_upload_has_no_presigned_url_yet(backend: str, customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    response = customer_client.post("/api/files/presigned-url", {"file_id": body["file"]["id"]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "file_not_ready"


def test_starting_direct_uploads_is_throttled(backend: str, customer_client, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "1/min"},
    }
    assert start(customer_client, "application/pdf", "a.pdf").status_code == 201
    assert start(customer_client, "application/pdf", "b.pdf").status_code == 429


def test_direct_upload_endpoints_require_a_token(backend: str) -> None:
    assert start(APIClient(), "application/pdf").status_code == 401
    assert APIClient().post("/api/files/00000000-0000-0000-0000-000000000000/complete").status_code == 401


def test_complete_with_s3_unreachable_is_503_and_the_upload_stays_pending(s3, settings, customer_client) -> None:
    body = start(customer_client, "application/pdf", "a.pdf").json()
    assert post_form(body["upload"], SAMPLES["pdf"]) in (200, 201, 204)
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }
    response = customer_client.post(f"/api/files/{body['file']['id']}/complete")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert StoredFile.objects.get(pk=body["file"]["id"]).status == StoredFile.Status.PENDING
    settings.STORAGES = {**settings.STORAGES, "default": reachable}
    assert customer_client.post(f"/api/files/{body['file']['id']}/complete").status_code == 200


# --- after complete, the customer's form can no longer change what is served -----------------------------


def _complete_pdf(client: APIClient, content: bytes) -> tuple[dict, dict]:
    body = start(client, "application/pdf", "invoice.pdf").json()
    assert post_form(body["upload"], content) in (200, 201, 204)
    completed = client.post(f"/api/files/{body['file']['id']}/complete")
    assert completed.status_code == 200, completed.content
    return body, completed.json()


def _served(client: APIClient, file_id: str) -> bytes:
    link = client.post("/api/files/presigned-url", {"file_id": file_id}, format="json").json()["url"]
    return fetch(link).content


def test_reposting_the_old_form_after_complete_does_not_change_the_served_file(backend: str, customer_client) -> None:
    original, replacement = pdf_bytes(), pdf_bytes(padding=4096)  # both valid PDFs: the type check passes either
    body, done = _complete_pdf(customer_client, original)
    file_id = done["id"]

    status = post_form(body["upload"], replacement)
    # S3 cannot refuse a POST its policy allows: the form is still valid, the bucket accepts the bytes. The
    # local backend's form knows its upload was completed and refuses.
    assert status == (204 if backend == "s3" else 409)

    assert customer_client.post(f"/api/files/{file_id}/complete").json()["sha256"] == done["sha256"]
    assert fetch(customer_client.get(f"/api/files/{file_id}").json()["url"]).content == original
    assert _served(customer_client, file_id) == original
    assert StoredFile.objects.get(pk=file_id).sha256 == hashlib.sha256(original).hexdigest()


def test_a_local_upload_form_is_closed_once_its_upload_was_completed(local_storage, customer_client) -> None:
    body, _done = _complete_pdf(customer_client, pdf_bytes())
    replacement = SimpleUploadedFile("b.pdf", pdf_bytes(padding=10), content_type="application/pdf")
    response = Client().post(body["upload"]["url"], {**body["upload"]["fields"], "file": replacement})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_closed"


def test_a_completion_that_loses_the_race_does_not_replace_the_served_file(
    s3, customer_user, customer_client, monkeypatch
) -> None:
    # Two completions of one upload: the second has seen it pending, but copies only after the first made it
    # available and the customer re-POSTed other bytes through the still-valid form.
    original, replacement = pdf_bytes(), pdf_bytes(padding=4096)
    body = start(customer_client, "application/pdf", "invoice.pdf").json()
    file_id = body["file"]["id"]
    assert post_form(body["upload"], original) == 204
    real_copy = backends.object_copy
    first: dict = {}

    def first_completion_wins_meanwhile(*args, **kwargs):
        monkeypatch.setattr(backends, "object_copy", real_copy)
        first.update(customer_client.post(f"/api/files/{file_id}/complete").json())
        assert post_form(body["upload"], replacement) == 204
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(backends, "object_copy", first_completion_wins_meanwhile)
    second = customer_client.post(f"/api/files/{file_id}/complete")

    assert second.status_code == 200, second.content
    assert second.json()["sha256"] == first["sha256"] == hashlib.sha256(original).hexdigest()
    assert _served(customer_client, file_id) == original
    served_key = StoredFile.objects.get(pk=file_id).key
    # The loser removed its own copy; what is left besides the served copy is the re-POSTed upload key only.
    assert bucket_keys(f"users/{customer_user.pk}") == [served_key]


def test_complete_refuses_a_document_with_too_many_parts(backend: str, customer_client) -> None:
    content = docx_with_empty_parts(MAX_ZIP_ENTRIES)
    body = start(customer_client, DOCX, "big.docx").json()
    assert post_form(body["upload"], content) in (200, 201, 204)
    response = customer_client.post(f"/api/files/{body['file']['id']}/complete")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "document_too_complex"
    assert bucket_keys("") == []
    assert not StoredFile.objects.filter(pk=body["file"]["id"]).exists()
