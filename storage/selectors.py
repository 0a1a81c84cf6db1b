"""Reads of the storage app: a customer's files, never anyone else's, and what the purge and admin look for."""

import datetime
import uuid

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.utils import timezone

from billing_site.errors import ApplicationError

from .models import StoredFile


def file_list(*, owner: User) -> QuerySet[StoredFile]:
    """The owner's available files, newest first (the API narrows them by category with storage.api.filters)."""
    files = StoredFile.objects.filter(owner=owner, deleted_at__isnull=True, status=StoredFile.Status.AVAILABLE)
    return files.order_by("-created_at", "-pk")


def file_get(*, owner: User, file_id: uuid.UUID | str) -> StoredFile:
    """One of the owner's files that is not deleted; another customer's file is `not_found` (404), never 403."""
    try:
        return StoredFile.objects.get(pk=file_id, owner=owner, deleted_at__isnull=True)
    except (StoredFile.DoesNotExist, ValidationError, ValueError, TypeError):
        raise ApplicationError("not_found", "File not found.", status_code=404) from None


def file_upload_open(*, key: str) -> bool:
    """Whether a direct upload still waits for its bytes at upload key `key`: no longer once completed,
    refused or purged (the local backend's upload form then refuses, as S3 cannot)."""
    return StoredFile.objects.filter(key=key, status=StoredFile.Status.PENDING, deleted_at__isnull=True).exists()


def file_pending_stale_list(*, older_than: datetime.timedelta) -> QuerySet[StoredFile]:
    """Direct uploads never completed within `older_than`: what the purge command removes."""
    return StoredFile.objects.filter(
        status=StoredFile.Status.PENDING, created_at__lt=timezone.now() - older_than
    ).order_by("created_at")


def file_read_bytes(*, file: StoredFile, max_bytes: int) -> bytes | None:
    """The stored bytes of an available file, or None when it is larger than `max_bytes` (link to it instead).

    For the system's own use (an invoice PDF attached to its email): the caller decides who may see the file.
    Storage errors propagate, so a caller that runs as a job is retried. Never reads more than `max_bytes` + 1.
    """
    if file.deleted_at is not None:
        raise ApplicationError("not_found", "File not found.", status_code=404)
    if file.status != StoredFile.Status.AVAILABLE:
        raise ApplicationError("file_not_ready", "The upload of this file has not been completed.", status_code=409)
    if file.size > max_bytes:
        return None
    with default_storage.open(file.key, "rb") as handle:
        content = bytes(handle.read(max_bytes + 1))
    return content if len(content) <= max_bytes else None
