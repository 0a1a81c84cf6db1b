"""Turns every API failure into one shape: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from billing_site.errors import ApplicationError

logger = logging.getLogger(__name__)


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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: application errors and DRF's own exceptions in the error shape."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)

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
