"""file_store: bytes checked, stored under a generated key, recorded; nothing left behind when anything fails."""

import base64
import hashlib
import io
import re
import uuid
from typing import IO, cast

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError

from billing_site.errors import ApplicationError
from storage.models import StoredFile
from storage.services import file_store

from ..helpers import REFUSED, SAMPLES, bucket_keys, current_storage

User = get_user_model()


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: read() only, no seek()."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_stores_the_exact_bytes_under_a_generated_key_and_records_them(backend: str, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="../청구서 11월.pdf")

    row = StoredFile.objects.get(pk=stored.pk)
    assert re.fullmatch(rf"users/{customer_user.pk}/document/{stored.pk}\.pdf", row.key)
    assert row.original_name == "청구서 11월.pdf"
    assert (row.content_type, row.category, row.size) == ("application/pdf", "document", len(SAMPLES["pdf"]))
    assert row.sha256 == hashlib.sha256(SAMPLES["pdf"]).hexdigest()
    assert row.status == StoredFile.Status.AVAILABLE
    assert bucket_keys(f"users/{customer_user.pk}") == [row.key]
    with current_storage().open(row.key, "rb") as handle:
        assert handle.read() == SAMPLES["pdf"]


def test_the_object_carries_the_detected_content_type_and_the_recorded_sha256(s3, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["png"], original_name="looks-like.pdf")
    head = s3.connection.meta.client.head_object(
        Bucket=s3.bucket_name, Key=s3._normalize_name(stored.key), ChecksumMode="ENABLED"
    )
    assert head["ContentType"] == "image/png"
    assert stored.key.endswith(".png") and stored.category == "image"
    # S3 checked the bytes it received against the digest we recorded (it answers BadDigest otherwise).
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == stored.sha256


def test_keys_of_two_customers_never_share_a_prefix(backend: str, customer_user, other_customer_user) -> None:
    mine = file_store(owner=customer_user, content=SAMPLES["png"], original_name="a.png")
    theirs = file_store(owner=other_customer_user, content=SAMPLES["png"], original_name="a.png")
    assert mine.key.startswith(f"users/{customer_user.pk}/image/")
    assert theirs.key.startswith(f"users/{other_customer_user.pk}/image/")
    assert mine.key != theirs.key


def test_accepts_a_non_seekable_stream(backend: str, customer_user) -> None:
    stream = cast(IO[bytes], NonSeekable(SAMPLES["csv"]))  # a RawIOBase of bytes, which typeshed types loosely
    stored = file_store(owner=customer_user, content=stream, original_name="매출.csv")
    assert (stored.content_type, stored.size) == ("text/csv", len(SAMPLES["csv"]))


@pytest.mark.parametrize("sample", ["exe_as_pdf", "html", "svg", "zip"])
def test_refused_bytes_write_nothing(backend: str, customer_user, sample: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        file_store(owner=customer_user, content=REFUSED[sample], original_name="invoice.pdf")
    assert caught.value.code == "unsupported_file_type"
    assert bucket_keys("users") == []
    assert not StoredFile.objects.exists()


def test_category_must_agree_with_the_bytes(backend: str, customer_user) -> None:
    with pytest.raises(ApplicationError) as caught:
        file_store(owner=customer_user, content=SAMPLES["png"], original_name="x.png", category="document")
    assert caught.value.code == "category_mismatch"
    assert bucket_keys("users") == []


@pytest.mark.parametrize("make_stream", [bytes, io.BytesIO, NonSeekable])
def test_over_the_limit_is_413_and_writes_nothing(backend: str, customer_user, settings, make_stream) -> None:
    settings.STORAGE_MAX_UPLOAD_BYTES = 1024
    with pytest.raises(ApplicationError) as caught:
        file_store(owner=customer_user, content=make_stream(SAMPLES["pdf"] + b"0" * 1024), original_name="big.pdf")
    assert (caught.value.code, caught.value.status_code) == ("file_too_large", 413)
    assert bucket_keys("users") == []


def test_s3_unreachable_is_503_and_no_row(unreachable_s3, customer_user) -> None:
    with pytest.raises(ApplicationError) as caught:
        file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    assert (caught.value.code, caught.value.status_code) == ("storage_unavailable", 503)
    assert not StoredFile.objects.exists()


def test_when_the_row_cannot_be_written_the_object_is_deleted_again(backend: str, customer_user) -> None:
    # The owner disappears between the request and the write: the foreign key refuses the row for real.
    vanished = User.objects.get(pk=customer_user.pk)
    User.objects.filter(pk=customer_user.pk).delete()

    with pytest.raises(IntegrityError):
        file_store(owner=vanished, content=SAMPLES["pdf"], original_name="a.pdf")

    assert bucket_keys("users") == []
    assert not StoredFile.objects.exists()


def test_a_check_constraint_failure_also_removes_the_object(backend: str, customer_user) -> None:
    # An attachment type without an id is refused by the database constraint, after the object was written.
    with pytest.raises(IntegrityError):
        file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf", attached_type="billing.invoice")
    assert bucket_keys("users") == []
    assert not StoredFile.objects.exists()


def test_invoice_pdfs_are_stored_attached_and_protected(backend: str, customer_user) -> None:
    stored = file_store(
        owner=customer_user,
        content=SAMPLES["pdf"],
        original_name="INV-20241101-0001.pdf",
        attached_type="billing.invoice",
        attached_id="42",
        protected=True,
    )
    assert (stored.attached_type, stored.attached_id, stored.protected) == ("billing.invoice", "42", True)


def test_a_missing_bucket_is_503_and_no_row(s3, settings, customer_user) -> None:
    # A misconfigured bucket answers 404 NoSuchBucket: still "storage unavailable" to the customer.
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "bucket_name": f"missing-{uuid.uuid4().hex}"}},
    }
    with pytest.raises(ApplicationError) as caught:
        file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    assert (caught.value.code, caught.value.status_code) == ("storage_unavailable", 503)
    assert not StoredFile.objects.exists()
    settings.STORAGES = {**settings.STORAGES, "default": reachable}
    assert bucket_keys("users") == []
