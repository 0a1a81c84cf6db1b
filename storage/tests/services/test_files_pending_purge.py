"""file_pending_purge / files_pending_purge: the row goes in a short transaction, the objects by jobs after it; the
bucket is never called while the row is locked; a file the bucket cannot be asked about is kept and reported."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job, JobStatus
from storage.models import StoredFile
from storage.services import OBJECT_DELETE_JOB, file_pending_purge, files_pending_purge

from ..helpers import SAMPLES, bucket_keys, pending_upload


@pytest.mark.django_db(transaction=True)
def test_the_bucket_is_called_only_once_the_row_is_gone_and_unlocked(backend: str, customer_user, bucket_spy) -> None:
    pending = pending_upload(customer_user, 48, arrived=True)
    leftover = f"users/{customer_user.pk}/document/{pending.pk}-0123456789abcdef.pdf"  # a crashed completion's copy
    default_storage.save(leftover, ContentFile(SAMPLES["pdf"]))

    with bucket_spy.watching(pending):
        assert file_pending_purge(file=pending) is True

    assert bucket_spy.calls, "the spy saw no call to the bucket"
    assert [call for call in bucket_spy.calls if call.in_transaction] == []
    assert {call.row_lock for call in bucket_spy.calls} <= {"free", "-"}
    assert not StoredFile.objects.filter(pk=pending.pk).exists()
    assert bucket_keys("") == []
    jobs = Job.objects.filter(kind=OBJECT_DELETE_JOB)
    assert sorted(job.payload["key"] for job in jobs) == sorted([pending.key, leftover])
    assert {job.status for job in jobs} == {JobStatus.DONE}


def test_a_completed_upload_is_left_alone(backend: str, customer_user) -> None:
    pending = pending_upload(customer_user, 48, arrived=True)
    StoredFile.objects.filter(pk=pending.pk).update(status=StoredFile.Status.AVAILABLE, sha256="0" * 64)
    assert file_pending_purge(file=pending) is False
    assert StoredFile.objects.filter(pk=pending.pk).exists()
    assert bucket_keys("") == [pending.key]
    assert not Job.objects.filter(kind=OBJECT_DELETE_JOB).exists()


def test_files_pending_purge_reports_each_file_and_sums_up(backend: str, customer_user) -> None:
    stale = [pending_upload(customer_user, 30, arrived=True), pending_upload(customer_user, 25, arrived=False)]
    fresh = pending_upload(customer_user, 1, arrived=True)
    seen: list[tuple[object, ApplicationError | None]] = []

    summary = files_pending_purge(
        older_than=datetime.timedelta(hours=24), on_progress=lambda file, error: seen.append((file.pk, error))
    )

    assert (summary.purged, summary.failed) == (2, 0)
    assert seen == [(stale[0].pk, None), (stale[1].pk, None)]  # oldest first
    assert list(StoredFile.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert bucket_keys("") == [fresh.key]


def test_files_pending_purge_keeps_what_the_bucket_cannot_be_asked_about(s3, settings, customer_user) -> None:
    stale = pending_upload(customer_user, 48, arrived=True)
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }
    seen: list[tuple[object, object]] = []

    summary = files_pending_purge(
        older_than=datetime.timedelta(hours=24),
        on_progress=lambda file, error: seen.append((file.pk, error and error.code)),
    )

    assert (summary.purged, summary.failed) == (0, 1)
    assert seen == [(stale.pk, "storage_unavailable")]
    assert StoredFile.objects.filter(pk=stale.pk, status=StoredFile.Status.PENDING).exists()
    assert not Job.objects.exists()
    settings.STORAGES = {**settings.STORAGES, "default": reachable}
    assert bucket_keys("") == [stale.key]
