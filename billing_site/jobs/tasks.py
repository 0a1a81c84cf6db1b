"""Celery's side of the jobs: one task runs a job by id; a periodic one sweeps up what the broker lost."""

from typing import Any

from celery import shared_task


@shared_task(name="jobs.run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def job_run_task(job_id: int) -> None:
    from .services import job_run

    job_run(job_id=job_id)


@shared_task(name="jobs.sweep", ignore_result=True)
def jobs_sweep_task() -> dict[str, Any]:
    from .services import exclusive, jobs_sweep

    with exclusive("jobs.sweep") as mine:
        if not mine:
            return {"skipped": True}
        summary = jobs_sweep()
    return {"resent": summary.resent, "lost": summary.lost}


@shared_task(name="jobs.purge", ignore_result=True)
def jobs_purge_task() -> dict[str, Any]:
    from datetime import timedelta

    from django.conf import settings

    from .services import exclusive, jobs_purge

    with exclusive("jobs.purge") as mine:
        if not mine:
            return {"skipped": True}
        return {"deleted": jobs_purge(older_than=timedelta(days=settings.JOBS_KEEP_DONE_DAYS))}
