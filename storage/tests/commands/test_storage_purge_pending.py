"""storage_purge_pending: abandoned direct uploads leave the bucket and the database; everything else stays."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from storage import services
from storage.models import StoredFile
from storage.services import file_store

from ..helpers import SAMPLES, bucket_keys, pending_upload


def test_purges_only_stale_pending_uploads(backend: str, customer_user) -> None:
    stale_arrived = pending_upload(customer_user, 30, arrived=True)
    stale_never_sent = pending_upload(customer_user, 25, arrived=False)
    fresh = pending_upload(customer_user, 1, arrived=True)
    old_available = file_store(owner=customer_user, content=SAMPLES["png"], original_name="old.png")
    StoredFile.objects.filter(pk=old_available.pk).update(created_at=timezone.now() - datetime.timedelta(days=30))

    out, err = io.StringIO(), io.StringIO()
    call_command("storage_purge_pending", "--older-than-hours", "24", stdout=out, stderr=err)

    assert "Purged 2 pending upload(s) older than 24 h; 0 failed." in out.getvalue()
    assert set(StoredFile.objects.values_list("pk", flat=True)) == {fresh.pk, old_available.pk}
    assert bucket_keys("") == sorted([fresh.key, old_available.key])
    assert not StoredFile.objects.filter(pk__in=[stale_arrived.pk, stale_never_sent.pk]).exists()


def test_dry_run_changes_nothing(backend: str, customer_user) -> None:
    stale = pending_upload(customer_user, 48, arrived=True)
    out = io.StringIO()
    call_command("storage_purge_pending", "--dry-run", stdout=out)
    assert "1 pending upload(s) older than 24 h would be purged." in out.getvalue()
    assert StoredFile.objects.filter(pk=stale.pk).exists()
    assert bucket_keys("") == [stale.key]


def test_the_default_age_comes_from_the_setting(backend: str, customer_user, settings) -> None:
    settings.STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS = 2
    pending_upload(customer_user, 3, arrived=False)
    kept = pending_upload(customer_user, 1, arrived=False)
    out = io.StringIO()
    call_command("storage_purge_pending", "--no-progress", stdout=out)
    assert "Purged 1 pending upload(s) older than 2 h" in out.getvalue()
    assert list(StoredFile.objects.values_list("pk", flat=True)) == [kept.pk]


def test_with_s3_unreachable_rows_are_kept_and_the_command_fails(s3, settings, customer_user) -> None:
    stale = pending_upload(customer_user, 48, arrived=True)
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }
    err = io.StringIO()
    with pytest.raises(CommandError, match="could not be purged"):
        call_command("storage_purge_pending", "--no-progress", stdout=io.StringIO(), stderr=err)
    assert str(stale.pk) in err.getvalue()
    assert StoredFile.objects.filter(pk=stale.pk).exists()


def test_shows_a_progress_bar(backend: str, customer_user) -> None:
    pending_upload(customer_user, 48, arrived=False)
    err = io.StringIO()
    err.isatty = lambda: True  # type: ignore[method-assign]
    call_command("storage_purge_pending", stdout=io.StringIO(), stderr=err)
    assert "purging pending uploads" in err.getvalue()
    assert "1/1" in err.getvalue()


def test_a_negative_age_is_refused(backend: str) -> None:
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("storage_purge_pending", "--older-than-hours", "-1")


class Crash(BaseException):
    """The process dying: not an Exception, so no cleanup code of the service runs."""


def test_purges_the_copy_left_by_a_completion_that_crashed_before_marking_it_available(
    backend: str, customer_user, monkeypatch
) -> None:
    pending = pending_upload(customer_user, 48, arrived=True)

    def crash(**kwargs: object) -> None:
        raise Crash

    monkeypatch.setattr(services, "_direct_upload_mark_available", crash)
    with pytest.raises(Crash):
        services.file_direct_upload_complete(file=pending)
    copies = [key for key in bucket_keys("") if key != pending.key]
    assert len(copies) == 1 and copies[0].startswith(f"users/{customer_user.pk}/document/{pending.pk}-")
    assert StoredFile.objects.get(pk=pending.pk).status == StoredFile.Status.PENDING

    out = io.StringIO()
    call_command("storage_purge_pending", "--no-progress", stdout=out)
    assert "Purged 1 pending upload(s)" in out.getvalue()
    assert bucket_keys("") == []
    assert not StoredFile.objects.filter(pk=pending.pk).exists()
