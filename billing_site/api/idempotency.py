"""Idempotency-Key for POST endpoints, with Stripe's semantics, as a mixin for any DRF view.

A client sends `Idempotency-Key: <unique string>` with a POST. The first request with that key (per user)
executes; its response (status and body) is stored for IDEMPOTENCY_KEY_TTL_HOURS and replayed to every
repeat, with the header `Idempotent-Replayed: true`. The same key with a different request (method, path,
query or body) is 422 `idempotency_key_reused`. A repeat that arrives while the first is still running
waits up to IDEMPOTENCY_WAIT_SECONDS for it, then gets 409 `idempotency_key_in_use`: the operation runs once.

Responses that say the request was not acted on are not stored, so the client may fix and resend under
the same key: 400 (did not validate), 401/403 (not allowed), 429 (throttled) and 5xx (failed on our side).

The stored records are billing.models.IdempotencyKey; `manage.py billing_purge_idempotency_keys` removes
expired ones. Requests without the header, and anonymous ones, pass through untouched.
"""

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from billing_site.errors import ApplicationError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
NOT_STORED_STATUSES = frozenset({400, 401, 403, 429})
# A record still "in progress" this long after it was claimed belongs to a request that died mid-way.
IN_PROGRESS_ABANDONED_AFTER = timedelta(minutes=5)
POLL_SECONDS = 0.05

IDEMPOTENCY_ERROR_CODES: dict[int, list[str]] = {
    400: ["invalid_idempotency_key"],
    409: ["idempotency_key_in_use"],
    422: ["idempotency_key_reused"],
}
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters (a UUID is ideal). A repeat with the same key replays the "
        "first response for 24 hours instead of acting twice; the same key with a different body is 422."
    ),
)


def _model() -> Any:
    return apps.get_model("billing", "IdempotencyKey")


def _key_validate(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ApplicationError(
            "invalid_idempotency_key",
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters.",
            fields={HEADER: ["Invalid key."]},
        )
    return key


def _canonical(value: Any) -> Any:
    """The request data as plain JSON values with sorted keys; uploaded files by their size and digest."""
    if isinstance(value, QueryDict):
        return {key: [_canonical(item) for item in value.getlist(key)] for key in sorted(value.keys())}
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    return value


def request_fingerprint(request: Request) -> str:
    """sha256 over what makes two requests "the same": method, path (either slash form), query and body."""
    payload = {
        "method": request.method,
        "path": request.path.rstrip("/"),
        "query": _canonical(request.query_params),
        "body": _canonical(request.data),
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=JSONEncoder, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def idempotency_claim(*, user: Any, key: str, method: str, path: str, fingerprint: str) -> tuple[bool, Any]:
    """(True, record) when this request must execute; (False, record) to replay a completed one.

    The unique (user, key) row is the lock: it is inserted and committed before the work starts, so a
    concurrent twin finds it, waits for it to complete and replays it instead of executing.
    """
    model = _model()
    deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_SECONDS
    while True:
        now = timezone.now()
        try:
            with transaction.atomic():
                record = model.objects.create(
                    user=user,
                    created_at=now,
                    key=key,
                    request_method=method,
                    request_path=path[:500],
                    request_fingerprint=fingerprint,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
            return True, record
        except IntegrityError:
            pass
        existing = model.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # released or purged in between: claim again
        abandoned = existing.state == "in_progress" and existing.created_at <= now - IN_PROGRESS_ABANDONED_AFTER
        if existing.expires_at <= now or abandoned:
            model.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            raise ApplicationError(
                "idempotency_key_reused",
                f"This {HEADER} was already used with a different request; use a new key for a new request.",
                status_code=422,
            )
        if existing.state == "completed":
            return False, existing
        if time.monotonic() >= deadline:
            raise ApplicationError(
                "idempotency_key_in_use",
                f"A request with this {HEADER} is still being processed; retry shortly.",
                status_code=409,
            )
        time.sleep(POLL_SECONDS)


def idempotency_complete(*, record: Any, status_code: int, body: Any) -> None:
    """Store the response to replay: the body as DRF's JSON encoder writes it, keys in the order the client saw."""
    text = json.dumps(body, cls=JSONEncoder, ensure_ascii=False) if body is not None else ""
    _model().objects.filter(pk=record.pk).update(
        state="completed", response_status=status_code, response_body=text, completed_at=timezone.now()
    )


def idempotency_release(*, record: Any) -> None:
    """Forget a claim whose request was not acted on, so the same key can be sent again."""
    _model().objects.filter(pk=record.pk, state="in_progress").delete()


def idempotency_keys_purge(*, now: Any = None) -> int:
    """Delete expired records; returns how many."""
    deleted, _ = _model().objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


class _Replay(Exception):  # control flow only: never leaves the mixin
    def __init__(self, record: Any) -> None:
        super().__init__("idempotent replay")
        self.record = record


class IdempotencyMixin:
    """Put first in a DRF view's bases: `class InvoiceCreateView(IdempotencyMixin, APIView)`."""

    idempotency_methods: tuple[str, ...] = ("POST",)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authentication, permissions, throttles
        self._idempotency_record = None
        raw_key = request.headers.get(HEADER)
        if raw_key is None or request.method not in self.idempotency_methods or not request.user.is_authenticated:
            return
        if getattr(request.user, "pk", None) is None:
            return  # not a stored user (an API key): nothing to key the record on; such endpoints dedup by content
        key = _key_validate(raw_key)
        execute, record = idempotency_claim(
            user=request.user,
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=request_fingerprint(request),
        )
        if not execute:
            raise _Replay(record)
        self._idempotency_record = record

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            body = json.loads(exc.record.response_body) if exc.record.response_body else None
            return Response(body, status=exc.record.response_status, headers={REPLAYED_HEADER: "true"})
        try:
            return super().handle_exception(exc)  # type: ignore[misc]
        except Exception:
            self._idempotency_finish(None)  # an unhandled error (500): the key may be sent again
            raise

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        self._idempotency_finish(response)
        return response

    def _idempotency_finish(self, response: Any) -> None:
        record = getattr(self, "_idempotency_record", None)
        if record is None:
            return
        self._idempotency_record = None
        status_code = getattr(response, "status_code", 500)
        if response is not None and status_code < 500 and status_code not in NOT_STORED_STATUSES:
            idempotency_complete(record=record, status_code=status_code, body=getattr(response, "data", None))
        else:
            idempotency_release(record=record)
