"""Writes of the storage app: store, sign, delete and direct-upload customer files, never leaving orphans behind."""

import contextlib
import datetime
import hashlib
import io
import logging
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job
from billing_site.jobs.services import job_enqueue, job_run

from . import backends, selectors
from .models import StoredFile
from .validators import ALLOWED_KINDS, FileKind, content_disposition, file_kind_detect, original_name_sanitize

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 1024 * 1024
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
# Set on an UploadedFile by storage.upload_handlers: the SHA-256 of its bytes, computed as they streamed in.
STREAMED_SHA256_ATTRIBUTE = "storage_sha256"
# The background job that removes one object from the bucket (handler in storage.jobs).
OBJECT_DELETE_JOB = "storage.object_delete"


def max_upload_bytes() -> int:
    return int(settings.STORAGE_MAX_UPLOAD_BYTES)


def file_too_large(size: int | None = None) -> ApplicationError:
    limit = max_upload_bytes()
    readable = f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    return ApplicationError(
        "file_too_large",
        f"Files may be at most {readable}.",
        fields={"max_bytes": limit, **({"size": size} if size is not None else {})},
        status_code=413,
    )


@contextlib.contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn "the bucket did not answer" into 503 `storage_unavailable`; anything else stays a bug."""
    try:
        yield
    except (BotoCoreError, ClientError, Boto3Error, OSError) as error:
        status = (
            error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(error, ClientError) else 0
        )
        # A 4xx from S3 (credentials, policy, bucket name) needs a person; a timeout or 5xx needs a retry.
        log = logger.error if 400 <= status < 500 else logger.warning
        log("storage %s failed: %s: %s", action, type(error).__name__, error)
        raise ApplicationError(
            "storage_unavailable",
            "File storage is unavailable right now; please try again shortly.",
            status_code=503,
        ) from error


def _category_check(requested: str | None, detected: FileKind) -> None:
    if requested in (None, ""):
        return
    if requested not in StoredFile.Category.values:
        raise ApplicationError(
            "invalid_category",
            f"Unknown category {requested!r}.",
            fields={"category": [f"One of: {', '.join(StoredFile.Category.values)}."]},
        )
    if requested != detected.category:
        raise ApplicationError(
            "category_mismatch",
            f"The file is {detected.content_type}, which is a {detected.category}, not a {requested}.",
            fields={"category": [f"The content is a {detected.category}."]},
        )


def _file_key(*, owner: User, file_id: uuid.UUID, kind: FileKind) -> str:
    """`users/<owner id>/<category>/<uuid><ext>`: chosen by the server, so no customer can address another's."""
    return f"users/{owner.pk}/{kind.category}/{file_id}{kind.extension}"


def _upload_key(*, owner: User, file_id: uuid.UUID, kind: FileKind) -> str:
    """`uploads/<owner id>/<uuid><ext>`: where a direct upload's form writes. Never served: the form stays valid
    until it expires, so whatever is there may have changed since it was checked."""
    return f"uploads/{owner.pk}/{file_id}{kind.extension}"


def _final_key_prefix(file: StoredFile) -> str:
    """Where the checked copies of a direct upload go: `users/<owner id>/<category>/<uuid>-`."""
    return f"users/{file.owner_id}/{file.category}/{file.pk}-"


def _final_key(file: StoredFile) -> str:
    """A key of this completion attempt's own, which no upload form was ever signed for.

    Each attempt copies to its own key, so an attempt that loses a race against another (which may have
    copied different bytes, re-POSTed meanwhile) can never overwrite the object that is served.
    """
    return f"{_final_key_prefix(file)}{secrets.token_hex(8)}{ALLOWED_KINDS[file.content_type].extension}"


@contextlib.contextmanager
def _seekable(content: bytes | IO[bytes]) -> Iterator[IO[bytes]]:
    """The content as a seekable binary stream; a non-seekable one is spooled to disk, refusing it past the limit."""
    if isinstance(content, bytes | bytearray | memoryview):
        yield io.BytesIO(content)
        return
    if getattr(content, "seekable", lambda: False)():
        yield content
        return
    limit = max_upload_bytes()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        copied = 0
        while chunk := content.read(READ_CHUNK_BYTES):
            copied += len(chunk)
            if copied > limit:
                raise file_too_large()
            spool.write(chunk)
        spool.seek(0)
        yield spool


def _stream_size(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(READ_CHUNK_BYTES):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _object_delete_quietly(key: str) -> None:
    """Remove an object whose row could not be written; if even that fails, the key is logged for removal by hand."""
    try:
        default_storage.delete(key)
    except Exception:
        logger.exception("could not delete orphaned object %s", key)


def file_store(
    *,
    owner: User,
    content: bytes | IO[bytes],
    original_name: str,
    category: str | None = None,
    attached_type: str = "",
    attached_id: str = "",
    protected: bool = False,
) -> StoredFile:
    """Check the bytes against the whitelist, put them in the bucket under a generated key, then record them.

    The object is written first (S3 cannot join our transaction); if the row cannot be written, the
    object is deleted again so nothing is left behind. Raises ApplicationError: `unsupported_file_type`,
    `empty_file`, `invalid_category`, `category_mismatch` (400), `file_too_large` (413),
    `storage_unavailable` (503).

    Call it outside an enclosing transaction (or from `transaction.on_commit`) when that transaction may
    still roll back after this returns: a rollback there cannot take the object back out of the bucket.
    """
    name = original_name_sanitize(original_name)
    with _seekable(content) as stream:
        size = _stream_size(stream)
        if size > max_upload_bytes():
            raise file_too_large(size)
        kind = file_kind_detect(stream)
        _category_check(category, kind)
        streamed = getattr(content, STREAMED_SHA256_ATTRIBUTE, None) if isinstance(content, UploadedFile) else None
        sha256 = streamed or _sha256(stream)
        file_id = uuid.uuid4()
        key = _file_key(owner=owner, file_id=file_id, kind=kind)
        with storage_errors("upload"):
            stored_key = backends.object_put(
                default_storage, key, stream, content_type=kind.content_type, sha256=sha256
            )
    try:
        with transaction.atomic():
            stored = StoredFile.objects.create(
                id=file_id,
                owner=owner,
                key=stored_key,
                original_name=name,
                content_type=kind.content_type,
                size=size,
                category=kind.category,
                sha256=sha256,
                status=StoredFile.Status.AVAILABLE,
                attached_type=attached_type,
                attached_id=attached_id,
                protected=protected,
            )
            # Foreign keys are checked at commit; check now, while we can still take the object back.
            connection.check_constraints(table_names=[StoredFile._meta.db_table])
    except Exception:
        _object_delete_quietly(stored_key)
        raise
    return stored


def file_signed_url(*, file: StoredFile, expires_in: datetime.timedelta) -> tuple[str, datetime.datetime]:
    """A time-limited URL that downloads the file's exact bytes under its original name, and when it expires.

    S3 presigned (or CloudFront-signed when a CloudFront domain and key pair are configured) or, on the
    local backend, a Django-signed URL served by the project. Raises ApplicationError `file_not_ready`
    (409) for a pending direct upload.
    """
    if file.deleted_at is not None:
        raise ApplicationError("not_found", "File not found.", status_code=404)
    if file.status != StoredFile.Status.AVAILABLE:
        raise ApplicationError("file_not_ready", "The upload of this file has not been completed.", status_code=409)
    seconds = int(expires_in.total_seconds())
    if seconds < 1:
        raise ApplicationError("invalid_expiry", "A link must be valid for at least one second.")
    disposition = content_disposition(file.original_name)
    storage: Any = default_storage
    if getattr(storage, "custom_domain", None):
        # Behind CloudFront the origin request carries S3's own query parameter, which the distribution forwards.
        parameters = {"response-content-disposition": disposition}
    else:
        parameters = {"ResponseContentDisposition": disposition, "ResponseContentType": file.content_type}
    expires_at = timezone.now() + datetime.timedelta(seconds=seconds)
    with storage_errors("sign"):
        url = storage.url(file.key, parameters=parameters, expire=seconds)
    return url, expires_at


def _deletable(files: QuerySet[StoredFile], *, file: StoredFile, by_customer: bool) -> StoredFile:
    found = files.filter(pk=file.pk, deleted_at__isnull=True).first()
    if found is None:
        raise ApplicationError("not_found", "File not found.", status_code=404)
    if by_customer and found.protected:
        raise ApplicationError(
            "file_attached",
            "This file belongs to an issued document and cannot be deleted.",
            fields={"attached_type": found.attached_type, "attached_id": found.attached_id},
            status_code=409,
        )
    return found


def object_delete(*, key: str) -> str:
    """Remove one object from the bucket (the `storage.object_delete` job). An object that is not there counts as
    removed, so running it twice is harmless; a bucket that does not answer raises `storage_unavailable`."""
    with storage_errors("delete"):
        default_storage.delete(key)
    return f"deleted {key}"


def _object_delete_enqueue(*, file_id: uuid.UUID, key: str) -> Job:
    """The job removing object `key` of file `file_id`, written in the caller's transaction."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return job_enqueue(kind=OBJECT_DELETE_JOB, key=f"storage_object_delete:{file_id}:{digest}", payload={"key": key})


def file_delete(*, file: StoredFile, by_customer: bool = True, defer_when_storage_down: bool = False) -> None:
    """Mark the file deleted, then remove its object from the bucket; no row lock is held while the bucket is called.

    (1) Without a lock, check the file may be deleted and the bucket answers: if not, nothing changes (503
    `storage_unavailable`) so the owner can retry. (2) A short transaction locks the row, checks again, marks it
    deleted and writes a `storage.object_delete` job. (3) The job runs right away; if the bucket stopped answering
    meanwhile, it removes the object once the bucket is back. `defer_when_storage_down` (clean-ups nobody waits for)
    skips the bucket check of (1). A protected file (an issued invoice's PDF) cannot be deleted by its owner: 409
    `file_attached`; staff (`by_customer=False`) may. Call it outside a transaction, which would keep the row locked.
    """
    found = _deletable(StoredFile.objects.all(), file=file, by_customer=by_customer)
    if not defer_when_storage_down:
        with storage_errors("delete"):
            default_storage.exists(found.key)
    with transaction.atomic():
        current = _deletable(StoredFile.objects.select_for_update(), file=file, by_customer=by_customer)
        current.deleted_at = timezone.now()
        current.save(update_fields=["deleted_at"])
        job = _object_delete_enqueue(file_id=current.pk, key=current.key)
    file.deleted_at = current.deleted_at
    job_run(job_id=job.pk)  # now that the row is unlocked: whoever asked expects the object gone (retried if not)


def file_direct_upload_start(
    *,
    owner: User,
    original_name: str,
    content_type: str,
    category: str | None = None,
    size: int | None = None,
) -> tuple[StoredFile, dict[str, Any], datetime.datetime]:
    """Reserve a key and give the client a presigned POST to send the bytes straight to the bucket.

    Returns the pending file, the form (`{"url", "fields"}`) and its expiry. The declared content type
    only chooses the key; `file_direct_upload_complete` checks the bytes and refuses a mismatch. The form
    writes to an upload key (`uploads/…`) that is never served; completion copies the bytes to a final key.
    """
    kind = ALLOWED_KINDS.get(content_type)
    if kind is None:
        raise ApplicationError(
            "unsupported_file_type",
            f"Files of type {content_type!r} are not accepted.",
            fields={"content_type": [f"One of: {', '.join(sorted(ALLOWED_KINDS))}."]},
        )
    _category_check(category, kind)
    if size is not None and size > max_upload_bytes():
        raise file_too_large(size)
    expire = int(settings.STORAGE_DIRECT_UPLOAD_EXPIRY_SECONDS)
    file_id = uuid.uuid4()
    key = _upload_key(owner=owner, file_id=file_id, kind=kind)
    # Sign first: if that fails there is no pending row to clean up.
    with storage_errors("presign upload"):
        form = backends.presigned_post(
            default_storage, key, content_type=kind.content_type, max_bytes=max_upload_bytes(), expire=expire
        )
    with transaction.atomic():
        pending = StoredFile.objects.create(
            id=file_id,
            owner=owner,
            key=key,
            original_name=original_name_sanitize(original_name),
            content_type=kind.content_type,
            size=size or 0,
            category=kind.category,
            status=StoredFile.Status.PENDING,
        )
    return pending, form, timezone.now() + datetime.timedelta(seconds=expire)


def _pending_reject(file: StoredFile, error: ApplicationError, *, final_key: str) -> ApplicationError:
    """Drop a direct upload whose bytes were refused: the objects (the checked copy, the upload) first, then the row."""
    with storage_errors("delete"):
        default_storage.delete(final_key)
        default_storage.delete(file.key)
    StoredFile.objects.filter(pk=file.pk, status=StoredFile.Status.PENDING).delete()
    return error


def _object_check(*, key: str, announced_content_type: str) -> tuple[int, str]:
    """Size and SHA-256 of an object whose bytes are on the whitelist and of the announced type; ApplicationError
    (`file_too_large`, `unsupported_file_type`, `empty_file`, `document_too_complex`, `storage_unavailable`)."""
    with storage_errors("inspect upload"):
        size = default_storage.size(key)
    if size > max_upload_bytes():
        raise file_too_large(size)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        with storage_errors("read upload"):
            body = backends.object_open_stream(default_storage, key)
            try:
                while chunk := body.read(READ_CHUNK_BYTES):
                    spool.write(chunk)
            finally:
                body.close()
        kind = file_kind_detect(spool)
        if kind.content_type != announced_content_type:
            raise ApplicationError(
                "unsupported_file_type",
                f"The file was announced as {announced_content_type} but its content is {kind.content_type}.",
            )
        return size, _sha256(spool)


def _direct_upload_mark_available(*, file: StoredFile, final_key: str, size: int, sha256: str) -> StoredFile | None:
    """The short transaction that ends a completion: the checked copy becomes the file's key, unless another
    completion got there first (then that one's row is returned unchanged) or the upload was purged (None)."""
    with transaction.atomic():
        locked = StoredFile.objects.select_for_update().filter(pk=file.pk, deleted_at__isnull=True).first()
        if locked is not None and locked.status == StoredFile.Status.PENDING:
            locked.key = final_key
            locked.size = size
            locked.sha256 = sha256
            locked.status = StoredFile.Status.AVAILABLE
            locked.save(update_fields=["key", "size", "sha256", "status"])
    return locked


def file_direct_upload_complete(*, file: StoredFile) -> StoredFile:
    """Copy a direct upload to a key of its own, check the copy (size, bytes on the whitelist, declared type),
    then make it available: served from then on, whatever the customer POSTs to the old form.

    Steps, none of them holding a row lock during a storage call: (1) server-side copy of the upload key to
    a new final key; (2) check the copy's bytes; (3) a short transaction sets the row's key to the copy and
    makes it available; (4) the upload key is deleted. A crash after (1) leaves a pending row and a copy
    under its final-key prefix, both removed by `storage_purge_pending`; a crash after (3) leaves only the
    upload key, which nothing serves (a bucket lifecycle rule on `uploads/` removes it, see docs/api/files.md).

    Idempotent for a file that is already available. A refused upload is removed from the bucket and the
    database. Raises ApplicationError: `upload_missing` (409), `file_too_large` (413),
    `unsupported_file_type`, `empty_file`, `document_too_complex` (400), `storage_unavailable` (503).
    """
    current = StoredFile.objects.filter(pk=file.pk, deleted_at__isnull=True).first()
    if current is None:
        raise ApplicationError("not_found", "File not found.", status_code=404)
    if current.status == StoredFile.Status.AVAILABLE:
        return current
    final_key = _final_key(current)
    with storage_errors("copy upload"):
        try:
            final_key = backends.object_copy(default_storage, current.key, final_key, content_type=current.content_type)
        except FileNotFoundError:
            again = StoredFile.objects.filter(pk=current.pk, deleted_at__isnull=True).first()
            if again is not None and again.status == StoredFile.Status.AVAILABLE:
                return again  # a concurrent completion finished and removed the upload key
            raise ApplicationError(
                "upload_missing",
                "The file has not been uploaded yet; POST it to the upload form first.",
                status_code=409,
            ) from None
    try:
        size, sha256 = _object_check(key=final_key, announced_content_type=current.content_type)
    except ApplicationError as error:
        if error.code == "storage_unavailable":
            _object_delete_quietly(final_key)  # the upload stays pending; a retry copies again
            raise
        raise _pending_reject(current, error, final_key=final_key) from None
    try:
        completed = _direct_upload_mark_available(file=current, final_key=final_key, size=size, sha256=sha256)
    except Exception:
        _object_delete_quietly(final_key)
        raise
    if completed is None or completed.key != final_key:
        _object_delete_quietly(final_key)  # another completion won, or the upload was purged meanwhile
        if completed is None:
            raise ApplicationError("not_found", "File not found.", status_code=404)
        return completed
    _object_delete_quietly(current.key)
    return completed


def file_pending_purge(*, file: StoredFile) -> bool:
    """Remove an abandoned direct upload: its row, then its object (if any arrived) and the copies left by a
    completion that crashed. False when it was completed meanwhile.

    The copies are listed first, without a lock (no answer: 503 `storage_unavailable`, the row is kept); a short
    transaction deletes the row if still pending and writes a `storage.object_delete` job per object, run right
    after. A completion running meanwhile finds the row gone and removes its own copy.
    """
    with storage_errors("list upload copies"):
        leftovers = backends.object_names_with_prefix(default_storage, _final_key_prefix(file))
    with transaction.atomic():
        locked = StoredFile.objects.select_for_update().filter(pk=file.pk, status=StoredFile.Status.PENDING).first()
        if locked is None:
            return False
        keys = dict.fromkeys([locked.key, *leftovers])
        jobs = [_object_delete_enqueue(file_id=locked.pk, key=key) for key in keys]
        locked.delete()
    for job in jobs:
        job_run(job_id=job.pk)
    return True


@dataclass(frozen=True)
class PendingPurgeSummary:
    purged: int
    failed: int


PurgeProgress = Callable[[StoredFile, ApplicationError | None], None]


def files_pending_purge(
    *, older_than: datetime.timedelta, on_progress: PurgeProgress | None = None
) -> PendingPurgeSummary:
    """Purge every direct upload not completed within `older_than` (`storage_purge_pending`, `storage.purge_pending`).

    A file whose purge failed (the bucket did not answer) is counted and kept for the next run; `on_progress(file,
    error)` is called after each file, with the error that kept it or None."""
    purged = failed = 0
    for file in selectors.file_pending_stale_list(older_than=older_than).iterator(chunk_size=500):
        error: ApplicationError | None = None
        try:
            if file_pending_purge(file=file):
                purged += 1
        except ApplicationError as refused:
            failed += 1
            error = refused
        if on_progress is not None:
            on_progress(file, error)
    return PendingPurgeSummary(purged=purged, failed=failed)
