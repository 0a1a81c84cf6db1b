"""Who the client is (its address behind our trusted proxies), and scoped throttles keyed on it.

The address comes from `settings.NUM_PROXIES`, the number of proxies in front of the app that append to
X-Forwarded-For: 0 (the default) means the socket address (REMOTE_ADDR) and X-Forwarded-For is ignored, since
any client can send it. DRF's own throttles read REST_FRAMEWORK["NUM_PROXIES"], which base.py sets to the same
number (never None: DRF's None trusts the whole header). Login lockout (django-axes) uses the same function.
"""

import ipaddress
import logging
from typing import Any, cast

import redis
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest | Request) -> str:
    """The client's IP address: the socket's, or the one our N-th trusted proxy saw, counted from the right.

    Each trusted proxy appends the address it received the request from, so with N proxies the N-th entry from
    the right was written by our outermost proxy; everything to its left is the client's own claim.
    """
    remote_address = request.META.get("REMOTE_ADDR", "")
    trusted_proxies = settings.NUM_PROXIES
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR")
    if not trusted_proxies or not forwarded_for:
        return remote_address
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    candidate = hops[-min(trusted_proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # our proxy wrote something that is not an address: a misconfiguration, not the client
        return remote_address


class ScopedThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading DEFAULT_THROTTLE_RATES at request time instead of import time, and
    identifying anonymous clients by `client_address`."""

    def get_rate(self) -> str | None:
        # The stubs type the rates as numbers; they are strings such as "30/hour".
        rates = cast(dict[str | None, str | None], api_settings.DEFAULT_THROTTLE_RATES)
        return rates.get(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_address(request)

    def allow_request(self, request: Request, view: Any) -> bool:
        """DRF's check, but a shared cache that does not answer (Redis down) lets the request through: a login,
        an upload or an invoice must not fail because a counter cannot be read. Logins stay protected by the
        lockout, whose attempts are database rows (django-axes)."""
        try:
            return super().allow_request(request, view)
        except (redis.RedisError, OSError) as error:
            logger.warning("throttle %s not applied, the cache does not answer: %s", self.scope, error)
            return True
