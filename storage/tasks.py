"""storage's scheduled Celery tasks (settings.CELERY_BEAT_SCHEDULE), each under an advisory lock so two beat
processes started by mistake run it once at a time."""

import datetime
from typing import Any

from celery import shared_task
from django.conf import settings

from billing_site.jobs.services import exclusive
from storage import services


@shared_task(name="storage.purge_pending", ignore_result=True)
def purge_pending_task() -> dict[str, Any]:
    """Remove direct uploads never completed within STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS; one the bucket could not
    be asked about is kept and tried again on the next run."""
    with exclusive("storage.purge_pending") as mine:
        if not mine:
            return {"skipped": True}
        hours = float(settings.STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS)
        summary = services.files_pending_purge(older_than=datetime.timedelta(hours=hours))
    return {"purged": summary.purged, "failed": summary.failed}
