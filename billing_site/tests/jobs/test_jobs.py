"""Background jobs (billing_site.jobs): a job is a row of the transaction that needs it, sent after commit, run once
by whoever claims it, retried with backoff, swept up when its message or its worker was lost."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from billing_site.errors import ApplicationError
from billing_site.jobs import services
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.registry import job_handler
from billing_site.jobs.services import (
    backoff,
    exclusive,
    job_enqueue,
    job_retry,
    job_run,
    jobs_enqueue_many,
    jobs_purge,
    jobs_sweep,
)

pytestmark = pytest.mark.django_db

CALLS: list[dict[str, Any]] = []


@job_handler("tests.record", max_attempts=3, lease_seconds=60)
def record_job(**payload: Any) -> str:
    CALLS.append(payload)
    if payload.get("fail"):
        raise RuntimeError("the provider said no")
    return f"recorded {payload.get('n')}"


@pytest.fixture(autouse=True)
def calls() -> list[dict[str, Any]]:
    CALLS.clear()
    return CALLS


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The job ids handed to the broker (nothing runs): for tests about when and what is sent."""
    dispatched: list[int] = []

    def dispatch(*, job_id: int, countdown: float | None = None) -> bool:
        dispatched.append(job_id)
        return True

    monkeypatch.setattr(services, "job_dispatch", dispatch)
    return dispatched


def test_a_job_is_sent_only_when_its_transaction_commits(django_capture_on_commit_callbacks, sent):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        job = job_enqueue(kind="tests.record", key="k1", payload={"n": 1})
        assert sent == []  # not before the change that asked for it is committed

    assert sent == [job.pk]
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.PENDING, 0, 3)


def test_a_rolled_back_change_leaves_no_job_and_sends_nothing(django_capture_on_commit_callbacks, sent):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        job_enqueue(kind="tests.record", key="k2", payload={"n": 2})
        raise RuntimeError("the change failed")

    assert sent == [] and not Job.objects.exists()


def test_asking_twice_for_the_same_effect_gives_one_job(django_capture_on_commit_callbacks, sent):
    with django_capture_on_commit_callbacks(execute=True):
        first = job_enqueue(kind="tests.record", key="same", payload={"n": 1})
        second = job_enqueue(kind="tests.record", key="same", payload={"n": 2})

    assert first.pk == second.pk and Job.objects.count() == 1 and sent == [first.pk]
    assert Job.objects.get().payload == {"n": 1}


def test_an_unknown_kind_is_refused_before_anything_is_written():
    with pytest.raises(ValueError, match="No handler"):
        job_enqueue(kind="tests.nobody", key="x")
    assert not Job.objects.exists()


def test_without_a_broker_the_job_runs_in_process_after_commit(django_capture_on_commit_callbacks, calls):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(kind="tests.record", key="eager", payload={"n": 7})

    job.refresh_from_db()
    assert calls == [{"n": 7}]
    assert (job.status, job.attempts, job.result, job.finished_at is not None) == (
        JobStatus.DONE,
        1,
        "recorded 7",
        True,
    )


def test_a_done_job_is_not_run_again(calls, sent):
    job = job_enqueue(kind="tests.record", key="once", payload={"n": 1})
    assert job_run(job_id=job.pk) is not None

    assert job_run(job_id=job.pk) is None  # a redelivered message finds it done
    assert len(calls) == 1


def test_a_failure_is_retried_with_backoff_then_given_up(calls, sent):
    job = job_enqueue(kind="tests.record", key="flaky", payload={"fail": True})
    now = timezone.now()

    first = job_run(job_id=job.pk, now=now)
    job.refresh_from_db()
    assert first is not None and first.status == JobStatus.PENDING
    assert job.attempts == 1 and "RuntimeError: the provider said no" in job.result
    assert job.run_after >= now + backoff(1) - timedelta(seconds=1) and "Traceback" in job.last_error
    assert job_run(job_id=job.pk, now=now) is None  # not due yet

    job_run(job_id=job.pk, now=job.run_after)
    job.refresh_from_db()
    job_run(job_id=job.pk, now=job.run_after)
    job.refresh_from_db()
    assert (job.status, job.attempts, len(calls)) == (JobStatus.FAILED, 3, 3)
    assert job_run(job_id=job.pk, now=job.run_after + timedelta(days=1)) is None  # failed stays failed


def test_backoff_doubles_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(50) == timedelta(hours=6)


def test_a_running_job_is_left_to_its_worker_until_its_lease_ends(calls, sent):
    job = job_enqueue(kind="tests.record", key="leased", payload={"n": 3})
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1, lease_until=now + timedelta(seconds=60), claimed_by=""
    )

    assert job_run(job_id=job.pk, now=now) is None
    assert job_run(job_id=job.pk, now=now + timedelta(seconds=61)) is not None  # its worker counts as lost

    job.refresh_from_db()
    assert (job.status, job.attempts, calls) == (JobStatus.DONE, 2, [{"n": 3}])


@pytest.mark.django_db(transaction=True)
def test_a_running_job_whose_worker_died_is_taken_over_at_once(postgresql, calls, sent):
    """On PostgreSQL the claimant is its database session: a killed worker's session ends, and the redelivered
    message may run the job before the lease is over; a live session keeps it."""
    job = job_enqueue(kind="tests.record", key="orphan", payload={"n": 4})
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            live_pid = cursor.fetchone()[0]
        lease = timezone.now() + timedelta(minutes=10)
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, attempts=1, lease_until=lease, claimed_by=f"pg:{live_pid}"
        )
        assert job_run(job_id=job.pk) is None  # its worker's session is alive
        assert jobs_sweep().lost == 0
    finally:
        other.close()
    Job.objects.filter(pk=job.pk).update(claimed_by="pg:2147483000")  # no such backend

    assert jobs_sweep().lost == 1
    assert job_run(job_id=job.pk) is not None
    job.refresh_from_db()
    assert (job.status, job.attempts, calls) == (JobStatus.DONE, 2, [{"n": 4}])


def test_the_sweeper_resends_what_waits_too_long_and_only_that(sent):
    never_sent = job_enqueue(kind="tests.record", key="never-sent")
    just_sent = job_enqueue(kind="tests.record", key="just-sent")
    not_due = job_enqueue(kind="tests.record", key="not-due")
    done = job_enqueue(kind="tests.record", key="done")
    now = timezone.now()
    Job.objects.filter(pk=just_sent.pk).update(enqueued_at=now)
    Job.objects.filter(pk=not_due.pk).update(run_after=now + timedelta(hours=1))
    Job.objects.filter(pk=done.pk).update(status=JobStatus.DONE)
    sent.clear()

    summary = jobs_sweep(now=now, stale_after=timedelta(minutes=5))

    assert sent == [never_sent.pk] and (summary.resent, summary.lost) == (1, 0)
    assert jobs_sweep(now=now + timedelta(minutes=6), stale_after=timedelta(minutes=5)).resent == 2


def test_a_fan_out_creates_each_job_once(django_capture_on_commit_callbacks, sent):
    items = [(f"fan:{n}", {"n": n}) for n in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_enqueue_many(kind="tests.record", items=items, batch_size=2) == 5
        assert jobs_enqueue_many(kind="tests.record", items=[*items, ("fan:5", {"n": 5})]) == 1

    assert Job.objects.count() == 6 and sorted(sent) == sorted(Job.objects.values_list("pk", flat=True))


def test_staff_retry_needs_the_permission_and_a_failed_job(support_user, billing_staff_user, sent):
    job = job_enqueue(kind="tests.record", key="to-retry")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, attempts=3)

    with pytest.raises(ApplicationError) as denied:
        job_retry(job=job, actor=support_user)
    retried = job_retry(job=job, actor=billing_staff_user)

    assert denied.value.code == "permission_denied"
    assert (retried.status, retried.attempts) == (JobStatus.PENDING, 0)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    with pytest.raises(ApplicationError) as done:
        job_retry(job=job, actor=billing_staff_user)
    assert (done.value.code, done.value.status_code) == ("job_not_retryable", 409)


def test_is_staff_alone_cannot_retry(sent):
    from billing.tests.factories import StaffUserFactory

    job = job_enqueue(kind="tests.record", key="staff-only")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)

    with pytest.raises(ApplicationError):
        job_retry(job=job, actor=StaffUserFactory.create(username="bare-staff"))


@pytest.mark.django_db(transaction=True)
def test_exclusive_admits_one_holder_across_connections(postgresql):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", ["billing_site.exclusive:beat"])
            assert cursor.fetchone()[0] is True
        with exclusive("beat") as mine:
            assert mine is False
        with exclusive("something else") as mine:
            assert mine is True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", ["billing_site.exclusive:beat"])
        with exclusive("beat") as mine:
            assert mine is True
        with other.cursor() as cursor:  # and released when the block ends
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", ["billing_site.exclusive:beat"])
            assert cursor.fetchone()[0] is True
    finally:
        other.close()
    assert connection.vendor == "postgresql"


def test_done_jobs_are_purged_after_the_retention_and_failed_ones_kept(sent):
    now = timezone.now()
    old_done = job_enqueue(kind="tests.record", key="old-done")
    recent_done = job_enqueue(kind="tests.record", key="recent-done")
    old_failed = job_enqueue(kind="tests.record", key="old-failed")
    Job.objects.filter(pk=old_done.pk).update(status=JobStatus.DONE, finished_at=now - timedelta(days=31))
    Job.objects.filter(pk=recent_done.pk).update(status=JobStatus.DONE, finished_at=now - timedelta(days=29))
    Job.objects.filter(pk=old_failed.pk).update(status=JobStatus.FAILED, finished_at=now - timedelta(days=90))

    assert jobs_purge(older_than=timedelta(days=30), now=now) == 1
    assert set(Job.objects.values_list("key", flat=True)) == {"recent-done", "old-failed"}


@pytest.mark.django_db(transaction=True)
def test_a_message_arriving_while_its_row_is_briefly_locked_still_runs_the_job(postgresql, calls, sent):
    """The row is locked for an instant elsewhere (the sender stamping it, an outcome being recorded) just as a
    worker takes the message: the worker waits for it instead of dropping the message until the next sweep."""
    import threading

    job = job_enqueue(kind="tests.record", key="briefly-locked", payload={"n": 5})
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                cursor.execute("SELECT id FROM jobs_job WHERE id = %s FOR UPDATE", [job.pk])
                locked.set()
                release.wait(timeout=10)
            other.rollback()
        finally:
            other.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(timeout=10)
    threading.Timer(0.3, release.set).start()

    outcome = job_run(job_id=job.pk)
    holder.join(timeout=10)

    assert outcome is not None and outcome.status == JobStatus.DONE
    assert calls == [{"n": 5}]


def test_a_job_whose_worker_dies_on_every_attempt_ends_failed(calls, sent):
    job = job_enqueue(kind="tests.record", key="killer", payload={"n": 6})
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=3, lease_until=now - timedelta(seconds=1), claimed_by=""
    )

    assert job_run(job_id=job.pk, now=now) is None

    job.refresh_from_db()
    assert (job.status, job.attempts, calls) == (JobStatus.FAILED, 3, [])
    assert "lost on every attempt" in job.result
