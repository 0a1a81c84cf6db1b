"""file_delete: the row is marked deleted in a short transaction, the object is removed by a job after it; the
bucket is never called while the row is locked, and a bucket that stops answering leaves a job to finish it."""

import pytest
from django.core.files.storage import default_storage

from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.registry import job_kind
from billing_site.jobs.services import job_run
from storage import jobs
from storage.models import StoredFile
from storage.services import OBJECT_DELETE_JOB, file_delete, file_store

from ..helpers import SAMPLES, bucket_keys


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by_customer", [True, False])
def test_the_bucket_is_called_only_once_the_row_is_marked_and_unlocked(
    backend: str, customer_user, bucket_spy, by_customer: bool
) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")

    with bucket_spy.watching(stored):
        file_delete(file=stored, by_customer=by_customer)

    deletes = [call for call in bucket_spy.calls if call.operation in ("DeleteObject", "delete")]
    assert len(deletes) == 1
    assert bucket_spy.calls, "the spy saw no call to the bucket"
    assert [call for call in bucket_spy.calls if call.in_transaction] == []
    assert {call.row_lock for call in bucket_spy.calls} <= {"free", "-"}
    if deletes[0].row_lock == "free":  # PostgreSQL: what another connection saw while the object was deleted
        assert deletes[0].committed is not None and deletes[0].committed.deleted_at is not None
    assert StoredFile.objects.get(pk=stored.pk).deleted_at is not None
    assert bucket_keys(f"users/{customer_user.pk}") == []


@pytest.mark.django_db(transaction=True)
def test_the_object_is_removed_by_a_storage_object_delete_job_after_the_commit(backend: str, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["png"], original_name="a.png")

    file_delete(file=stored)

    job = Job.objects.get(kind=OBJECT_DELETE_JOB)
    assert job.key.startswith(f"storage_object_delete:{stored.pk}:")
    assert job.payload == {"key": stored.key}
    assert (job.status, job.attempts, job.result) == (JobStatus.DONE, 1, f"deleted {stored.key}")
    assert not default_storage.exists(stored.key)
    assert stored.deleted_at is not None  # the caller's instance follows the row


def test_the_job_is_registered_and_a_missing_object_counts_as_deleted(backend: str) -> None:
    registered = job_kind(OBJECT_DELETE_JOB)
    assert registered is not None and registered.handler is jobs.object_delete_job
    assert jobs.object_delete_job(key="users/0/document/never-there.pdf") == "deleted users/0/document/never-there.pdf"


def test_a_deleted_file_is_not_deleted_twice(backend: str, customer_user) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="a.pdf")
    file_delete(file=stored)
    with pytest.raises(ApplicationError) as again:
        file_delete(file=StoredFile.objects.get(pk=stored.pk))
    assert (again.value.code, again.value.status_code) == ("not_found", 404)
    assert Job.objects.filter(kind=OBJECT_DELETE_JOB).count() == 1


def test_with_the_bucket_down_a_deferred_delete_marks_the_row_and_the_job_finishes_later(
    s3, settings, customer_user
) -> None:
    stored = file_store(owner=customer_user, content=SAMPLES["pdf"], original_name="superseded.pdf")
    reachable = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**reachable, "OPTIONS": {**reachable["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }

    file_delete(file=stored, by_customer=False, defer_when_storage_down=True)

    assert StoredFile.objects.get(pk=stored.pk).deleted_at is not None
    job = Job.objects.get(kind=OBJECT_DELETE_JOB)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)
    assert job.result == "ApplicationError: File storage is unavailable right now; please try again shortly."
    assert "EndpointConnectionError" in job.last_error
    assert job.run_after > job.updated_at  # waits for its backoff

    settings.STORAGES = {**settings.STORAGES, "default": reachable}
    assert default_storage.exists(stored.key)
    run = job_run(job_id=job.pk, now=job.run_after)
    assert run is not None and run.status == JobStatus.DONE
    assert not default_storage.exists(stored.key)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.last_error) == (JobStatus.DONE, 2, "")
