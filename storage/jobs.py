"""storage's background jobs: removing objects from the bucket after the rows that named them changed."""

from billing_site.jobs.registry import job_handler
from storage import services


@job_handler(services.OBJECT_DELETE_JOB, max_attempts=8, lease_seconds=120)
def object_delete_job(*, key: str) -> str:
    """Delete one object; a missing one counts as deleted, a bucket that does not answer raises (retry, backoff)."""
    return services.object_delete(key=key)
