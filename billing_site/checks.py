"""System checks of the project settings (registered by BillingSiteConfig.ready)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from billing_site.settings import PER_PROCESS_CACHE_BACKENDS


@register(Tags.caches, Tags.security)
def throttle_cache_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """billing_site.E001: where CACHE_MUST_BE_SHARED (production), throttle counters need a shared cache.

    In a per-process cache every worker counts on its own, so N workers allow N times every rate, and a restart
    forgets them all.
    """
    if not getattr(settings, "CACHE_MUST_BE_SHARED", False):
        return []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in PER_PROCESS_CACHE_BACKENDS:
        return []
    return [
        Error(
            f"The default cache ({backend}) is not shared between processes, so throttles do not hold.",
            hint="Set CACHE_URL to a cache every process reaches, e.g. redis://host:6379/1.",
            id="billing_site.E001",
        )
    ]
