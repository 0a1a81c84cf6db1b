"""Request middleware of the project: the request id and the acting user that every log line of a request carries."""

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from billing_site.logging import (
    ENVIRON_REQUEST_ID,
    ENVIRON_USER_ID,
    log_context_clear,
    log_context_start,
    log_context_update,
    log_context_values,
)

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like (uuid4 hex, nginx's $request_id, a UUID, ALB-style ids). Anything else, or
# nothing, gets a new id: a client must not write arbitrary text into our logs.
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def request_id_of(request: HttpRequest) -> str:
    """The incoming X-Request-ID when it is well formed (a proxy of ours chose it), else a new uuid4 hex."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if WELL_FORMED_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: everything logged while the request runs carries its request id (and, once
    authenticated, its user), the response echoes the id in X-Request-ID, and gunicorn's access log finds both in
    the WSGI environ."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        # Until the response is closed (request_finished, below), not just until this returns: Django logs a 4xx
        # or 5xx response after the middleware.
        log_context_start(request_id=request_id, user_id=None, request=request)
        response = self.get_response(request)
        user_id = log_context_values()["user_id"]
        response[REQUEST_ID_HEADER] = request_id
        request.META[ENVIRON_REQUEST_ID] = request_id
        request.META[ENVIRON_USER_ID] = user_id
        return response


@receiver(request_finished)
def _request_context_end(**kwargs: Any) -> None:
    """The response was sent and closed: nothing logged from here on (on this thread) belongs to that request."""
    log_context_clear()


class ActingUserMiddleware:
    """Right after AuthenticationMiddleware: notes the session's user in the log context when the request's own
    code first looks at request.user (the admin does at once), at no query cost to requests that never do.

    API requests authenticate inside the DRF view; DRF then sets the user on the Django request, which the log
    context reads directly (billing_site.logging)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session_user = request.user

        def noted() -> Any:
            log_context_update(user_id=session_user.pk if session_user.is_authenticated else None)
            return session_user

        request.user = SimpleLazyObject(noted)  # type: ignore[assignment]  # lazy, like AuthenticationMiddleware's
        return self.get_response(request)
