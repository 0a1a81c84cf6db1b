"""storage.purge_pending, the hourly Celery task: it purges what the command purges, and runs once at a time."""

import datetime
import threading

from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from billing_site.celery import app
from billing_site.jobs.services import exclusive
from storage.models import StoredFile
from storage.services import file_direct_upload_start
from storage.tasks import purge_pending_task

from ..helpers import SAMPLES, bucket_keys


def _pending(owner, hours_ago: float) -> StoredFile:
    pending, _form, _expires = file_direct_upload_start(
        owner=owner, original_name="a.pdf", content_type="application/pdf"
    )
    default_storage.save(pending.key, ContentFile(SAMPLES["pdf"]))
    StoredFile.objects.filter(pk=pending.pk).update(created_at=timezone.now() - datetime.timedelta(hours=hours_ago))
    return pending


def test_the_beat_schedule_runs_this_task() -> None:
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "storage.purge_pending" in scheduled
    assert app.tasks["storage.purge_pending"].name == purge_pending_task.name


def test_purges_uploads_older_than_the_setting(backend: str, customer_user, settings) -> None:
    settings.STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS = 2
    _pending(customer_user, 3)
    kept = _pending(customer_user, 1)

    assert purge_pending_task.apply().result == {"purged": 1, "failed": 0}

    assert list(StoredFile.objects.values_list("pk", flat=True)) == [kept.pk]
    assert bucket_keys("") == [kept.key]


def test_is_skipped_while_another_process_holds_it(postgresql, backend: str, customer_user) -> None:
    stale = _pending(customer_user, 48)
    holding, release = threading.Event(), threading.Event()

    def other_beat() -> None:
        try:
            with exclusive("storage.purge_pending") as mine:
                assert mine
                holding.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    other = threading.Thread(target=other_beat)
    other.start()
    try:
        assert holding.wait(timeout=30)
        assert purge_pending_task() == {"skipped": True}
        assert StoredFile.objects.filter(pk=stale.pk).exists()
        assert bucket_keys("") == [stale.key]
    finally:
        release.set()
        other.join(timeout=30)

    assert purge_pending_task() == {"purged": 1, "failed": 0}
    assert not StoredFile.objects.filter(pk=stale.pk).exists()
    assert bucket_keys("") == []
