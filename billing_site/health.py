"""Health probes: /healthz/live (the process answers), /healthz/ready (can it serve: database, storage, and Redis
when the Celery broker is Redis), and /healthz (everything we depend on, Stripe included when on).

Load balancers probe often, so a check's result is reused for HEALTH_CHECK_CACHE_SECONDS, per process.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

CheckResult = dict[str, Any]

_clock: Callable[[], float] = time.monotonic
_results: dict[str, tuple[float, CheckResult]] = {}  # check name -> (when it ran, its result)
_results_lock = threading.Lock()


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_storage() -> None:
    # A HEAD on a key that need not exist: proves the bucket (or folder) answers with our credentials.
    default_storage.exists("healthz/probe")


def _check_redis() -> None:
    import redis

    timeout = settings.HEALTH_CHECK_REDIS_TIMEOUT_SECONDS
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _check_stripe() -> None:
    import stripe

    stripe.Customer.list(limit=1, api_key=settings.STRIPE_SECRET_KEY)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "storage": _check_storage,
    "redis": _check_redis,
    "stripe": _check_stripe,
}


def _run(name: str) -> CheckResult:
    started = time.perf_counter()
    try:
        CHECKS[name]()
    except Exception as error:  # any failure means "down"; the reason goes to the log, not the client
        logger.warning("health check %s failed: %s", name, error)
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_result(name: str) -> CheckResult:
    """The result of one check, from the last HEALTH_CHECK_CACHE_SECONDS if it ran since (failures too)."""
    max_age = settings.HEALTH_CHECK_CACHE_SECONDS
    now = _clock()
    with _results_lock:
        cached = _results.get(name)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    result = _run(name)
    with _results_lock:
        _results[name] = (now, result)
    return result


@receiver(setting_changed)
def _forget_results(**kwargs: Any) -> None:
    """A settings change (tests) may point a check elsewhere: the results of the old configuration do not count."""
    with _results_lock:
        _results.clear()


def _answer(required: list[str], optional: list[str]) -> JsonResponse:
    results = {name: check_result(name) for name in [*required, *optional]}
    failed = [name for name in required if not results[name]["ok"]]
    body: dict[str, Any] = {"status": "unavailable" if failed else "ok", "checks": results, "failed": failed}
    if optional:
        body["degraded"] = [name for name in optional if not results[name]["ok"]]
    return JsonResponse(body, status=503 if failed else 200)


def _redis_if_broker() -> list[str]:
    # Only a Redis broker is checked: memory:// (no broker, tasks run in-process) has nothing to reach.
    scheme = str(getattr(settings, "CELERY_BROKER_URL", None) or "").split("://", 1)[0].lower()
    return ["redis"] if scheme in ("redis", "rediss") else []


def _stripe_if_on() -> list[str]:
    return ["stripe"] if settings.STRIPE_ENABLED else []


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: 200 when the database, the file storage, Redis (when the broker) and (when on) Stripe answer;
    503 naming what failed."""
    return _answer(["database", "storage", *_redis_if_broker(), *_stripe_if_on()], [])


@never_cache
@require_GET
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """GET /healthz/ready: can this process serve? The database and the file storage must answer.

    Redis (when it is the Celery broker) and Stripe (when on) are reported under "degraded" but never fail
    readiness: without Redis requests still commit and their jobs wait as rows until the sweeper sends them, and a
    Stripe outage must not take every server out of the load balancer when everything but card payments works.
    `/healthz` requires all of them.
    """
    return _answer(["database", "storage"], [*_redis_if_broker(), *_stripe_if_on()])


@never_cache
@require_GET
def healthz_live(request: HttpRequest) -> JsonResponse:
    """GET /healthz/live: the process answers requests. Touches no dependency, so an outage elsewhere never makes
    an orchestrator restart healthy processes."""
    return JsonResponse({"status": "ok"})
