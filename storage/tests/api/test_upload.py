"""POST /api/files/upload: content-checked, size-limited while streaming, throttled per customer, 503 if S3 is down."""

import hashlib
import io
import os
import time
import tracemalloc
from typing import Any

import pytest
from rest_framework.test import APIClient

from storage.models import StoredFile

from ..helpers import REFUSED, SAMPLES, bucket_keys, docx_of_size, docx_with_empty_parts, fetch, upload

BOUNDARY = "----storage-test-boundary"


@pytest.mark.parametrize("path", ["/api/files/upload", "/api/files/upload/"])
def test_upload_returns_the_metadata_and_a_url_to_the_exact_bytes(
    backend: str, customer_user, customer_client, path
) -> None:
    response = upload(customer_client, SAMPLES["pdf"], "2024년 11월 청구서.pdf", path=path)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "original_name",
        "content_type",
        "size",
        "category",
        "sha256",
        "status",
        "url",
        "created_at",
    }
    assert body["original_name"] == "2024년 11월 청구서.pdf"
    assert (body["content_type"], body["category"], body["size"]) == (
        "application/pdf",
        "document",
        len(SAMPLES["pdf"]),
    )
    assert body["sha256"] == hashlib.sha256(SAMPLES["pdf"]).hexdigest()
    assert body["status"] == "available"
    row = StoredFile.objects.get(pk=body["id"])
    assert row.owner == customer_user
    assert bucket_keys(f"users/{customer_user.pk}") == [row.key]
    download = fetch(body["url"])
    assert download.status == 200 and download.content == SAMPLES["pdf"]
    assert "filename*=UTF-8''2024%EB%85%84%2011%EC%9B%94%20" in download.headers["content-disposition"]


@pytest.mark.parametrize(
    ("sample", "content_type", "category"),
    [
        ("png", "image/png", "image"),
        ("jpeg", "image/jpeg", "image"),
        ("gif", "image/gif", "image"),
        ("webp", "image/webp", "image"),
        ("mp4", "video/mp4", "video"),
        ("webm", "video/webm", "video"),
        ("mov", "video/quicktime", "video"),
        ("txt", "text/plain", "document"),
        ("csv", "text/csv", "document"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
        ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
    ],
)
def test_every_whitelisted_kind_is_accepted(backend: str, customer_client, sample, content_type, category) -> None:
    response = upload(customer_client, SAMPLES[sample], f"upload.{sample}")
    assert response.status_code == 201, response.content
    assert (response.json()["content_type"], response.json()["category"]) == (content_type, category)


def test_another_customer_cannot_see_my_upload(backend: str, customer_client, other_customer_client) -> None:
    mine = upload(customer_client, SAMPLES["pdf"], "mine.pdf").json()
    assert other_customer_client.get(f"/api/files/{mine['id']}").status_code == 404
    assert other_customer_client.get("/api/files").json()["total"] == 0
    theirs = upload(other_customer_client, SAMPLES["pdf"], "theirs.pdf").json()
    assert theirs["id"] != mine["id"]
    assert [item["id"] for item in customer_client.get("/api/files").json()["results"]] == [mine["id"]]


def test_the_declared_type_and_extension_do_not_override_the_bytes(
    backend: str, customer_user, customer_client
) -> None:
    response = upload(customer_client, SAMPLES["png"], "invoice.pdf")
    assert response.status_code == 201
    assert (response.json()["content_type"], response.json()["category"]) == ("image/png", "image")
    assert StoredFile.objects.get(pk=response.json()["id"]).key.endswith(".png")


@pytest.mark.parametrize("sample", ["exe_as_pdf", "elf", "html", "svg", "zip", "docm", "gzip", "shell_script"])
def test_refused_content_is_400_and_nothing_is_stored(backend: str, customer_client, sample) -> None:
    response = upload(customer_client, REFUSED[sample], "invoice.pdf")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_file_type"
    assert bucket_keys("users") == []
    assert not StoredFile.objects.exists()


def test_category_must_agree_with_the_detected_type(backend: str, customer_client) -> None:
    response = upload(customer_client, SAMPLES["png"], "photo.png", category="video")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "category_mismatch"
    assert upload(customer_client, SAMPLES["png"], "photo.png", category="image").status_code == 201


def test_an_unknown_category_is_refused(backend: str, customer_client) -> None:
    response = upload(customer_client, SAMPLES["png"], "photo.png", category="archive")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_category"


def test_a_request_without_a_file_is_400(backend: str, customer_client) -> None:
    response = customer_client.post("/api/files/upload", {"category": "image"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_required"


def test_an_empty_file_is_400(backend: str, customer_client) -> None:
    response = upload(customer_client, b"", "empty.txt")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_file"
    assert bucket_keys("users") == []


def test_a_json_body_is_415(backend: str, customer_client) -> None:
    response = customer_client.post("/api/files/upload", {"file": "aGVsbG8="}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_without_a_token_it_is_401(backend: str) -> None:
    response = upload(APIClient(), SAMPLES["png"], "a.png")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_at_the_limit_is_accepted_and_one_byte_more_is_413(
    backend: str, customer_user, customer_client, settings
) -> None:
    settings.STORAGE_MAX_UPLOAD_BYTES = 64 * 1024
    at_limit = SAMPLES["pdf"] + b"0" * (64 * 1024 - len(SAMPLES["pdf"]))
    assert upload(customer_client, at_limit, "at-limit.pdf").status_code == 201

    response = upload(customer_client, at_limit + b"0", "over.pdf")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert response.json()["error"]["fields"]["max_bytes"] == 64 * 1024
    assert StoredFile.objects.filter(owner=customer_user).count() == 1
    assert len(bucket_keys(f"users/{customer_user.pk}")) == 1


class MultipartStream(io.RawIOBase):
    """A multipart body of `file_size` bytes generated as it is read, counting how much the server read."""

    def __init__(self, file_size: int) -> None:
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode() + b"%PDF-1.4\n"
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(self.head) + (file_size - 9) + len(self.tail)
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.length - self.position
        size = min(size, self.length - self.position)
        out = bytearray()
        while len(out) < size:
            offset = self.position
            if offset < len(self.head):
                piece = self.head[offset : offset + size - len(out)]
            elif offset < self.length - len(self.tail):
                piece = b"0" * min(size - len(out), self.length - len(self.tail) - offset)
            else:
                start = offset - (self.length - len(self.tail))
                piece = self.tail[start : start + size - len(out)]
            out += piece
            self.position += len(piece)
        self.read_bytes += len(out)
        return bytes(out)


def _post_stream(client: APIClient, stream: MultipartStream, content_length: int) -> Any:
    environ: dict[str, Any] = {"wsgi.input": stream, "CONTENT_LENGTH": str(content_length)}
    return client.generic(
        "POST", "/api/files/upload", content_type=f"multipart/form-data; boundary={BOUNDARY}", **environ
    )


def test_a_declared_oversize_body_is_refused_before_it_is_read(backend: str, customer_client) -> None:
    stream = MultipartStream(60 * 1024 * 1024)
    response = _post_stream(customer_client, stream, stream.length)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert stream.read_bytes == 0
    assert bucket_keys("users") == []


def test_an_oversize_file_is_refused_while_streaming_without_holding_it_in_memory(
    backend: str, customer_client
) -> None:
    # Content-Length within the allowance for form overhead, but the file part itself one byte over 50 MB.
    stream = MultipartStream(50 * 1024 * 1024 + 1)
    tracemalloc.start()
    try:
        response = _post_stream(customer_client, stream, stream.length)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert stream.read_bytes <= 50 * 1024 * 1024 + 2 * 65536  # it stopped at the chunk that crossed the limit
    assert peak < 4 * 1024 * 1024, f"peak Python memory {peak} bytes while refusing a 50 MB upload"
    assert bucket_keys("users") == []
    assert not StoredFile.objects.exists()


def _measured_upload(client: APIClient, content: bytes, name: str) -> tuple[Any, float, int]:
    """POST a prebuilt multipart body; the response, its seconds and its peak Python memory (the server's share)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        environ: dict[str, Any] = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        response = client.generic(
            "POST", "/api/files/upload", content_type=f"multipart/form-data; boundary={BOUNDARY}", **environ
        )
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, seconds, peak


@pytest.mark.parametrize(
    ("zip64", "declared_entries"),
    [(True, None), (False, 3)],
    ids=["zip64-half-a-million-entries", "zip-end-record-announcing-3-entries"],
)
def test_a_docx_of_half_a_million_empty_parts_is_refused_within_the_budget_of_a_valid_upload_of_its_size(
    local_storage, customer_user, customer_client, zip64, declared_entries
) -> None:
    # 46 MB: zipfile alone would spend seconds and hundreds of MB listing it before anything could refuse it.
    hostile = docx_with_empty_parts(500_000, zip64=zip64, declared_entries=declared_entries)
    valid = docx_of_size(len(hostile))

    accepted, valid_seconds, valid_peak = _measured_upload(customer_client, valid, "valid.docx")
    refused, hostile_seconds, hostile_peak = _measured_upload(customer_client, hostile, "hostile.docx")

    assert accepted.status_code == 201, accepted.content
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == "document_too_complex"
    assert StoredFile.objects.filter(owner=customer_user).count() == 1
    assert hostile_peak < 2 * valid_peak + 1024 * 1024, (hostile_peak, valid_peak)
    assert hostile_peak < 8 * 1024 * 1024, f"peak Python memory {hostile_peak} bytes while refusing"
    assert hostile_seconds < 3 * valid_seconds + 1.0, (hostile_seconds, valid_seconds)


def test_uploads_are_throttled_per_customer(backend: str, customer_client, other_customer_client, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "2/min"},
    }
    assert upload(customer_client, SAMPLES["png"], "1.png").status_code == 201
    assert upload(customer_client, SAMPLES["png"], "2.png").status_code == 201
    throttled = upload(customer_client, SAMPLES["png"], "3.png")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert upload(other_customer_client, SAMPLES["png"], "other.png").status_code == 201


def test_s3_unreachable_is_503_and_no_row(unreachable_s3, customer_client) -> None:
    response = upload(customer_client, SAMPLES["pdf"], "a.pdf")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert not StoredFile.objects.exists()


def test_s3_server_stopped_is_503_and_uploads_work_again_once_it_is_back(
    s3, harness_s3, customer_user, customer_client
) -> None:
    harness_s3.stop()
    response = upload(customer_client, SAMPLES["pdf"], "a.pdf")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert not StoredFile.objects.exists()

    harness_s3.start()
    again = upload(customer_client, SAMPLES["pdf"], "a.pdf")
    assert again.status_code == 201
    assert bucket_keys(f"users/{customer_user.pk}") == [StoredFile.objects.get().key]


def test_a_file_spooled_to_disk_is_hashed_and_stored_exactly(
    backend: str, customer_user, customer_client, settings
) -> None:
    # Above FILE_UPLOAD_MAX_MEMORY_SIZE the upload goes to a temp file; its digest is taken while it streams.
    content = SAMPLES["pdf"] + os.urandom(settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 12345)
    response = upload(customer_client, content, "large.pdf")
    assert response.status_code == 201
    assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert response.json()["size"] == len(content)
    assert fetch(response.json()["url"]).content == content
