"""The storage factories build valid records, and `stored_file` puts real bytes in the bucket."""

import hashlib

import pytest
from django.core.files.storage import default_storage

from storage.models import StoredFile

from .factories import DEFAULT_PASSWORD, StoredFileFactory, UserFactory, stored_file
from .helpers import SAMPLES

pytestmark = pytest.mark.django_db


def test_user_logs_in_with_the_test_password() -> None:
    user = UserFactory.create()
    user.full_clean()
    assert user.check_password(DEFAULT_PASSWORD)


def test_stored_file_record_is_valid_and_describes_its_content() -> None:
    first, second = StoredFileFactory.create(), StoredFileFactory.create()
    for file in (first, second):
        file.full_clean()
        assert file.status == StoredFile.Status.AVAILABLE
        assert file.key == f"users/{file.owner_id}/document/{file.pk}.pdf"
        assert file.size == len(SAMPLES["pdf"])
        assert file.sha256 == hashlib.sha256(SAMPLES["pdf"]).hexdigest()
        assert not file.is_attached and not file.is_deleted
    assert first.key != second.key
    assert first.owner_id != second.owner_id


def test_pending_upload_has_no_digest_yet() -> None:
    pending = StoredFileFactory.create(pending=True)
    pending.full_clean()
    assert pending.status == StoredFile.Status.PENDING
    assert pending.sha256 == ""
    assert pending.key.startswith(f"uploads/{pending.owner_id}/")


def test_attached_file_and_other_content() -> None:
    owner = UserFactory.create()
    png = StoredFileFactory.create(
        owner=owner,
        content=SAMPLES["png"],
        extension=".png",
        category=StoredFile.Category.IMAGE,
        content_type="image/png",
        attached_type="billing.invoice",
        attached_id="42",
        protected=True,
    )
    png.full_clean()
    assert png.is_attached and png.size == len(SAMPLES["png"])
    assert png.key.startswith(f"users/{owner.pk}/image/")


def test_stored_file_has_its_bytes_in_the_bucket(backend: str) -> None:
    file = stored_file(content=SAMPLES["png"], original_name="photo.png")
    assert file.category == StoredFile.Category.IMAGE
    with default_storage.open(file.key, "rb") as handle:
        assert handle.read() == SAMPLES["png"]
