"""Enqueue, run, retry and sweep background jobs.

The rule: a side effect is a `Job` row written in the transaction of the change that needs it, and a message to
the broker is sent only once that transaction commits. The row is the truth; the message is a hint. If the broker
is down at commit time, or a worker dies mid-run, the sweeper sends the message again, and the handler, being
idempotent, makes running twice harmless. No row lock is held while a handler runs: a run is claimed in a short
transaction (status `running` with a lease), carried out, and its outcome recorded in another.
"""

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from billing_site.errors import ApplicationError
from billing_site.logging import log_context, log_context_values
from billing_site.permissions import permission_require

from .models import Job, JobStatus
from .registry import job_kind

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
MAX_COUNTDOWN = timedelta(minutes=5)
JOB_RUN_TASK = "jobs.run"


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... at most 6 h."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def job_enqueue(*, kind: str, key: str, payload: dict[str, Any] | None = None, delay: timedelta | None = None) -> Job:
    """The job for `key`, created if new, and sent to a worker once the current transaction commits.

    Asking again for a key that exists changes nothing (a done job is not run again): callers put in the key
    whatever makes the effect distinct, e.g. the revision of the PDF.
    """
    return job_enqueue_created(kind=kind, key=key, payload=payload, delay=delay)[0]


def job_enqueue_created(
    *, kind: str, key: str, payload: dict[str, Any] | None = None, delay: timedelta | None = None
) -> tuple[Job, bool]:
    """`job_enqueue`, and whether this call created the job (False: someone asked for the same effect first)."""
    registered = job_kind(kind)
    if registered is None:
        raise ValueError(f"No handler is registered for jobs of kind {kind!r}.")
    now = timezone.now()
    with transaction.atomic():
        job, created = Job.objects.get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "payload": payload or {},
                "max_attempts": registered.max_attempts,
                "run_after": now + (delay or timedelta(0)),
                "request_id": str(log_context_values().get("request_id") or "")[:64],
            },
        )
    if created and delay is None:
        _dispatch_on_commit([job.pk])
    return job, created


def job_enqueue_new(
    *, kind: str, key: str, payload: dict[str, Any] | None = None, delay: timedelta | None = None
) -> Job:
    """`job_enqueue` for a key no job can have yet, because it names a row created in this same transaction (the
    email's id): one INSERT, no lookup and no savepoint, on the hot path of the event. A duplicate key would
    be a bug, and fails the transaction (IntegrityError) rather than hiding it."""
    registered = job_kind(kind)
    if registered is None:
        raise ValueError(f"No handler is registered for jobs of kind {kind!r}.")
    job = Job.objects.create(
        key=key,
        kind=kind,
        payload=payload or {},
        max_attempts=registered.max_attempts,
        run_after=timezone.now() + (delay or timedelta(0)),
        request_id=str(log_context_values().get("request_id") or "")[:64],
    )
    if delay is None:
        _dispatch_on_commit([job.pk])
    return job


def job_dispatch(*, job_id: int, countdown: float | None = None) -> bool:
    """Hand the job to the broker (eagerly run it when there is none). False when the broker refused: the
    sweeper will send it again, so a request that committed its change never fails because Redis is down."""
    job_run_task = current_app.tasks[JOB_RUN_TASK]  # billing_site.jobs.tasks, registered at start-up
    # Stamped before the message leaves: stamping after would race the worker that claims the row at once.
    Job.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    try:
        if countdown:
            job_run_task.apply_async(args=(job_id,), countdown=countdown)
        else:
            job_run_task.apply_async(args=(job_id,))
    except Exception as error:  # broker down: the row is pending and the next sweep sends it
        logger.warning("job %s not sent to the broker: %s: %s", job_id, type(error).__name__, error)
        Job.objects.filter(pk=job_id).update(enqueued_at=None)
        return False
    return True


@dataclass(frozen=True)
class JobRun:
    job_id: int
    status: str
    result: str = ""


def _claim(job_id: int, now: datetime) -> Job | None:
    """Mark the job running with a lease, in a short transaction; None when it is not due or someone runs it."""
    with transaction.atomic():
        job = (
            # Waits for a lock held elsewhere (they are all short: no job row stays locked while a handler runs);
            # skipping it would drop a message whose job was only being stamped or recorded at that instant.
            Job.objects.select_for_update().filter(pk=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).first()
        )
        if job is None:
            return None
        if job.status == JobStatus.PENDING and job.run_after > now:
            return None
        if job.status == JobStatus.RUNNING and _claimant_alive(job, now):
            return None  # another worker is on it (a redelivered message, or a sweep while it runs)
        if job.status == JobStatus.RUNNING and job.attempts >= job.max_attempts:
            # Its worker died on every attempt (a render that runs out of memory): stop feeding it workers.
            job.status = JobStatus.FAILED
            job.result = "The worker running it was lost on every attempt."
            job.lease_until = None
            job.finished_at = now
            job.save(update_fields=["status", "result", "lease_until", "finished_at", "updated_at"])
            return None
        kind = job_kind(job.kind)
        lease = kind.lease_seconds if kind is not None else 600
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.started_at = now
        job.lease_until = now + timedelta(seconds=lease)
        job.claimed_by = _claimant()
        job.save(update_fields=["status", "attempts", "started_at", "lease_until", "claimed_by", "updated_at"])
        return job


def _claimant() -> str:
    """This run's identity: the PostgreSQL backend of our connection (it ends when the worker process dies)."""
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return f"pg:{cursor.fetchone()[0]}"


def _claimant_gone() -> Q:
    """Running jobs whose claiming database session no longer exists (PostgreSQL; elsewhere: none)."""
    if connection.vendor != "postgresql":
        return Q(pk__in=[])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity")
        alive = [f"pg:{pid}" for (pid,) in cursor.fetchall()]
    return Q(claimed_by__startswith="pg:") & ~Q(claimed_by__in=alive)


def _claimant_alive(job: Job, now: datetime) -> bool:
    """A running job's worker still counts as alive until its lease ends, unless its database session is gone."""
    if job.lease_until is None or job.lease_until <= now:
        return False
    if not job.claimed_by.startswith("pg:") or connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [int(job.claimed_by[3:])])
        return cursor.fetchone() is not None


def job_run(*, job_id: int, now: datetime | None = None) -> JobRun | None:
    """Run one job if it is due and nobody else runs it; record the outcome. Never raises for a handler's error."""
    moment = now or timezone.now()
    job = _claim(job_id, moment)
    if job is None:
        return None
    kind = job_kind(job.kind)
    with log_context(request_id=job.request_id or None, job_id=job.pk, job_kind=job.kind):
        try:
            if kind is None:
                raise LookupError(f"No handler is registered for jobs of kind {job.kind!r}.")
            outcome = kind.handler(**job.payload)
        except Exception as error:
            return _failure_record(job, error)
    result = "" if outcome is None else str(outcome)[:500]
    finished = timezone.now()
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
        status=JobStatus.DONE, result=result, last_error="", lease_until=None, finished_at=finished, updated_at=finished
    )
    return JobRun(job_id=job.pk, status=JobStatus.DONE, result=result)


def _failure_record(job: Job, error: Exception) -> JobRun:
    message = f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
    logger.warning("job %s (%s) attempt %s failed: %s", job.pk, job.kind, job.attempts, message, exc_info=True)
    now = timezone.now()
    gave_up = job.attempts >= job.max_attempts
    status = JobStatus.FAILED if gave_up else JobStatus.PENDING
    wait = backoff(job.attempts)
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
        status=status,
        result=message[:500],
        last_error=traceback.format_exc()[-10_000:],
        lease_until=None,
        run_after=now + wait,
        finished_at=now if gave_up else None,
        updated_at=now,
    )
    if not gave_up and not settings.CELERY_TASK_ALWAYS_EAGER and wait <= MAX_COUNTDOWN:
        # A later retry is the sweeper's: a long countdown would sit in a worker's memory, redelivered by Redis after
        # its visibility timeout. Eagerly (no broker) a countdown is not honoured; the sweeper runs the retry.
        job_dispatch(job_id=job.pk, countdown=wait.total_seconds())
    return JobRun(job_id=job.pk, status=status, result=message[:500])


def job_retry(*, job: Job, actor: Any) -> Job:
    """Staff: run a failed (or waiting) job again now, with a fresh count of attempts."""
    permission_require(actor=actor, permission="jobs.retry_job")
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.status not in (JobStatus.FAILED, JobStatus.PENDING):
            raise ApplicationError(
                "job_not_retryable",
                f"Job {locked.pk} is {locked.status}; only failed or waiting jobs are retried.",
                status_code=409,
            )
        locked.status = JobStatus.PENDING
        locked.attempts = 0
        locked.run_after = timezone.now()
        locked.finished_at = None
        locked.save(update_fields=["status", "attempts", "run_after", "finished_at", "updated_at"])
        _dispatch_on_commit([locked.pk])
    return locked


@dataclass(frozen=True)
class SweepSummary:
    resent: int
    lost: int


def jobs_sweep(*, now: datetime | None = None, stale_after: timedelta | None = None, limit: int = 1000) -> SweepSummary:
    """Send again what the broker may have lost: pending jobs due and not sent for `stale_after` (default
    JOBS_RESEND_AFTER_SECONDS), and running jobs whose lease ran out (their worker died)."""
    moment = now or timezone.now()
    stale = stale_after if stale_after is not None else timedelta(seconds=settings.JOBS_RESEND_AFTER_SECONDS)
    waiting = Job.objects.filter(status=JobStatus.PENDING, run_after__lte=moment).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=moment - stale)
    )
    lost = Job.objects.filter(status=JobStatus.RUNNING).filter(
        Q(lease_until__lte=moment) | Q(lease_until__isnull=True) | _claimant_gone()
    )
    resent = lost_count = 0
    for job_id in list(waiting.order_by("run_after").values_list("pk", flat=True)[:limit]):
        resent += job_dispatch(job_id=job_id)
    for job_id in list(lost.order_by("lease_until").values_list("pk", flat=True)[:limit]):
        lost_count += 1
        job_dispatch(job_id=job_id)
    return SweepSummary(resent=resent, lost=lost_count)


@contextmanager
def exclusive(name: str) -> Iterator[bool]:
    """One holder at a time across every process: yields True to the holder, False to anyone else meanwhile.

    A PostgreSQL session advisory lock, so a scheduled job started twice (two beat processes by mistake) runs
    once at a time; it is released when the block ends or the process's connection dies. Other databases (SQLite:
    one developer process) always yield True.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [f"billing_site.exclusive:{name}"])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [f"billing_site.exclusive:{name}"])


def jobs_enqueue_many(*, kind: str, items: list[tuple[str, dict[str, Any]]], batch_size: int = 1000) -> int:
    """Many jobs of one kind at once (a fan-out); keys that exist are left alone. Returns how many were new.

    Each batch is inserted and committed, then sent; a crash in between leaves pending rows for the sweeper.
    """
    registered = job_kind(kind)
    if registered is None:
        raise ValueError(f"No handler is registered for jobs of kind {kind!r}.")
    created = 0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        keys = [key for key, _ in batch]
        now = timezone.now()
        with transaction.atomic():
            existing = set(Job.objects.filter(key__in=keys).values_list("key", flat=True))
            Job.objects.bulk_create(
                [
                    Job(kind=kind, key=key, payload=payload, max_attempts=registered.max_attempts, run_after=now)
                    for key, payload in batch
                    if key not in existing
                ],
                ignore_conflicts=True,  # a concurrent fan-out inserted some meanwhile: the constraint decides
            )
            new_ids = list(
                Job.objects.filter(key__in=keys, enqueued_at__isnull=True, status=JobStatus.PENDING)
                .exclude(key__in=existing)
                .values_list("pk", flat=True)
            )
            _dispatch_on_commit(new_ids)
        created += len(new_ids)
    return created


def _dispatch_on_commit(job_ids: list[int]) -> None:
    """Send the jobs once the current transaction commits (at once outside one); a broker that refuses leaves the
    rest to the sweeper. A named function, not a partial: Django logs a failing robust callback by its name."""

    def dispatch_jobs() -> None:
        for job_id in job_ids:
            if not job_dispatch(job_id=job_id):
                return

    if job_ids:
        transaction.on_commit(dispatch_jobs, robust=True)


def jobs_purge(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete done jobs finished more than `older_than` ago (failed ones stay until staff look at them)."""
    moment = now or timezone.now()
    deleted, _ = Job.objects.filter(status=JobStatus.DONE, finished_at__lt=moment - older_than).delete()
    return deleted
