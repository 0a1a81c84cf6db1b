"""Scoped throttles whose rates are read per request, so configuration (and tests) can change them."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading DEFAULT_THROTTLE_RATES at request time instead of import time."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
