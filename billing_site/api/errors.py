"""Turns every API failure into one shape: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any, cast

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from psycopg import errors as postgresql_errors
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from billing_site.errors import ApplicationError

logger = logging.getLogger(__name__)

# How long a client should wait before retrying a request PostgreSQL cancelled (a lock held too long elsewhere).
DATABASE_BUSY_RETRY_AFTER_SECONDS = 2


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _validation_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    return {"non_field_errors": _plain(detail)}


def _plain(value: Any) -> Any:
    """ErrorDetail strings and nested containers as plain JSON values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value)


def _first_message(detail: Any) -> str | None:
    if isinstance(detail, dict):
        for value in detail.values():
            found = _first_message(value)
            if found:
                return found
        return None
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else None
    return str(detail)


def _database_busy(exc: Exception) -> bool:
    """PostgreSQL cancelled the statement: it waited past lock_timeout or ran past statement_timeout."""
    if not isinstance(exc, OperationalError):
        return False
    return isinstance(exc.__cause__, postgresql_errors.QueryCanceled | postgresql_errors.LockNotAvailable)


def _database_unreachable(exc: Exception) -> bool:
    """The connection to PostgreSQL failed or was lost (a restart, a failover): Django reconnects on a later
    request (CONN_HEALTH_CHECKS), so this one is a 503 to retry, not a bug."""
    if not isinstance(exc, OperationalError) or _database_busy(exc):
        return False
    return isinstance(exc.__cause__, postgresql_errors.OperationalError)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: application errors and DRF's own exceptions in the error shape."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if _database_busy(exc):
        # Not a bug to page anybody for: the cancelled statement's transaction rolls back, and the client may retry.
        set_rollback()
        logger.warning("database busy, statement cancelled: %s", type(exc.__cause__).__name__)
        retry_after = DATABASE_BUSY_RETRY_AFTER_SECONDS
        return Response(
            error_body(
                "database_busy",
                "The database is busy; please try again in a moment.",
                {"retry_after_seconds": retry_after},
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(retry_after)},
        )

    if _database_unreachable(exc):
        set_rollback()
        logger.error("database unreachable: %s", exc)
        return Response(
            error_body("database_unavailable", "The database cannot be reached; please try again in a moment."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_BUSY_RETRY_AFTER_SECONDS)},
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # An unexpected exception: Django's handler500 answers without leaking details.

    if isinstance(exc, exceptions.ValidationError):
        body = error_body(
            "validation_error",
            _first_message(exc.detail) or "The request is not valid.",
            _validation_fields(exc.detail),
        )
    else:
        detail = getattr(exc, "detail", None)
        code = getattr(exc, "default_code", "error")
        message = str(detail) if detail is not None else str(exc)
        if isinstance(detail, dict):  # simplejwt's InvalidToken carries {"detail", "code", "messages"}
            code = str(detail.get("code", code))
            message = str(detail.get("detail", message))
        elif isinstance(exc, exceptions.APIException):
            codes = exc.get_codes()
            if isinstance(codes, str):
                code = codes
        # The stubs do not declare Throttled.wait (seconds until the next allowed request, or None).
        wait: float | None = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        if wait is not None:
            body = error_body(code, message, {"retry_after_seconds": int(wait)})
        else:
            body = error_body(code, message)
    response.data = body
    return response


def _is_api(request: HttpRequest) -> bool:
    # /healthz and its probes (/healthz/live, /healthz/ready) answer JSON like the API.
    return request.path.startswith(("/api/", "/healthz/")) or request.path == "/healthz"


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return defaults.bad_request(request, cast(Exception, exception))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, cast(Exception, exception))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)
