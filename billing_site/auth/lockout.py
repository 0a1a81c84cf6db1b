"""Login lockout (django-axes): the error a locked-out client gets, on the API and in the admin alike."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.request import Request

from billing_site.api.errors import error_body
from billing_site.errors import ApplicationError

LOCKED_MESSAGE = "Too many failed logins for this account or address; try again later."


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def account_locked_error() -> ApplicationError:
    return ApplicationError(
        "account_locked", LOCKED_MESSAGE, fields={"retry_after_seconds": lockout_seconds()}, status_code=429
    )


def is_locked_out(request: HttpRequest | Request) -> bool:
    """Whether django-axes refused or locked this request's login attempt (it marks the request it was given)."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what AxesMiddleware answers to a locked-out login (in practice the admin's)."""
    if request.path.startswith("/api/"):
        error = account_locked_error()
        response: HttpResponse = JsonResponse(error_body(error.code, error.message, error.fields), status=429)
    else:
        response = HttpResponse(LOCKED_MESSAGE, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(lockout_seconds())
    return response
