"""Log lines of every process: the context each line carries (request id, acting user, job id), the plain and JSON
formats, gunicorn's access log in the same shape, and Sentry when SENTRY_DSN is set.

Imported by settings (LOGGING names its classes) and by gunicorn's master before Django is set up, so it reads no
Django setting at import time.
"""

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import LazyObject
from gunicorn import glogging  # type: ignore[import-untyped]
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

LOG_FORMATS = ("plain", "json")
# Always present on a record (None outside a request or job), so formats and log queries can rely on them.
CONTEXT_FIELDS = ("request_id", "user_id")

# The current request's or job's values. A dict per request or job, replaced (never shared) by log_context, so a
# value set inside a job cannot leak into the next one that runs on the same thread.
_context: ContextVar[dict[str, Any] | None] = ContextVar("billing_site_log_context", default=None)


@contextmanager
def log_context(**values: Any) -> Iterator[dict[str, Any]]:
    """Every log line written inside the block carries `values` (e.g. request_id=..., job_id=...), on top of the
    enclosing context's; the enclosing context is back when the block ends."""
    token = _context.set({**(_context.get() or {}), **values})
    try:
        yield _context.get() or {}
    finally:
        _context.reset(token)


def log_context_start(**values: Any) -> None:
    """Begin a context that lasts until log_context_clear(): a request's, which must outlive the middleware because
    Django writes its line about a 4xx/5xx response after the last middleware has returned."""
    _context.set(dict(values))


def log_context_clear() -> None:
    _context.set(None)


def log_context_update(**values: Any) -> None:
    """Add `values` to the current block's context (the acting user once authentication has found them); outside
    any block (no request or job) there is nothing to add to."""
    current = _context.get()
    if current is not None:
        current.update(values)


def log_context_values() -> Mapping[str, Any]:
    """The current context as the log lines see it (request_id, user_id and whatever the block added)."""
    values: dict[str, Any] = dict.fromkeys(CONTEXT_FIELDS)
    current = _context.get()
    if current:
        values.update({name: value for name, value in current.items() if name != "request"})
        request = current.get("request")
        if request is not None:
            values["user_id"] = _acting_user_id(request, default=values["user_id"])
    return values


def _acting_user_id(request: Any, default: Any) -> Any:
    """The user a request acts as, once something authenticated it; never runs a query from inside logging.

    DRF authenticates a JWT inside the view and then sets that user on the Django request (a plain object, read
    here). Until then request.user is AuthenticationMiddleware's lazy object, which ActingUserMiddleware wraps to
    note the user in the context when the request's own code resolves it (the admin, session logins).
    """
    user = vars(request).get("user")
    if user is None or isinstance(user, LazyObject):
        return default
    return user.pk if user.is_authenticated else None


class LogContextFilter(logging.Filter):
    """Puts the context's values (request_id, user_id, job_id, ...) on every record that passes the handler; a value
    passed explicitly with `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context_values().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class PlainFormatter(logging.Formatter):
    """One readable line for developers; the context follows the message in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)) is not None
        )
        return f"{line} [{context}]" if context else line


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, user_id, and any
    `extra=` or context values (job_id, ...); a traceback as exc_info."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", *CONTEXT_FIELDS],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,  # Korean messages stay readable
        )


def log_format_from_environment(default: str) -> str:
    """LOG_FORMAT (plain or json), else `default`; anything else is refused rather than logged in a surprise shape."""
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower() or default
    if chosen not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}.")
    return chosen


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: everything to stderr through one handler, which adds the context to each line."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "billing_site.logging.LogContextFilter"}},
        "formatters": {
            "plain": {"()": "billing_site.logging.PlainFormatter"},
            "json": {"()": "billing_site.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
    }


class GunicornLogger(glogging.Logger):
    """gunicorn's logger (deploy/gunicorn.conf.py): with LOG_FORMAT=json (its default) its own lines and the access
    log are JSON objects, each access line with the request id and acting user RequestIdMiddleware left in the WSGI
    environ. LOG_FORMAT=plain keeps gunicorn's usual lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if log_format_from_environment("json") != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        if log_format_from_environment("json") != "json":
            super().access(resp, req, environ, request_time)
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": environ.get(ENVIRON_REQUEST_ID),
            "user_id": environ.get(ENVIRON_USER_ID),
        }
        try:
            self.access_log.info("request", extra=fields)
        except Exception:  # gunicorn's own rule: a broken log line must never break the response
            self.exception("access log failed")


# Keys RequestIdMiddleware sets in the WSGI environ (request.META) for the access log above.
ENVIRON_REQUEST_ID = "billing_site.request_id"
ENVIRON_USER_ID = "billing_site.user_id"


def sentry_start(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float) -> None:
    """Report unhandled errors (web requests and Celery tasks) to Sentry; no personal data is sent."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,  # no user names, emails, cookies or request bodies leave for Sentry
        traces_sample_rate=traces_sample_rate,
    )
