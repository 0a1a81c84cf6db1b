"""GET /healthz: is the database, the file storage and (when on) Stripe reachable right now?"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_storage() -> None:
    # A HEAD on a key that need not exist: proves the bucket (or folder) answers with our credentials.
    default_storage.exists("healthz/probe")


def _check_stripe() -> None:
    import stripe

    stripe.Customer.list(limit=1, api_key=settings.STRIPE_SECRET_KEY)


def _checks() -> dict[str, Callable[[], None]]:
    checks = {"database": _check_database, "storage": _check_storage}
    if settings.STRIPE_ENABLED:
        checks["stripe"] = _check_stripe
    return checks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in _checks().items():
        started = time.perf_counter()
        try:
            check()
        except Exception as error:  # any failure means "down"; the reason goes to the log, not the client
            logger.warning("health check %s failed: %s", name, error)
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    healthy = all(result["ok"] for result in results.values())
    failed = [name for name, result in results.items() if not result["ok"]]
    body = {"status": "ok" if healthy else "unavailable", "checks": results, "failed": failed}
    return JsonResponse(body, status=200 if healthy else 503)
