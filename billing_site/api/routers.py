"""URL helpers: every API path answers with and without a trailing slash, and POSTs are never redirected."""

from typing import Any

from django.urls import URLPattern, re_path
from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    """A DRF router whose routes match `path` and `path/` alike."""

    def __init__(self) -> None:
        super().__init__()
        # Set after: SimpleRouter's __init__ turns any true `trailing_slash` into "/" (DRF 3.15+).
        self.trailing_slash = "/?"


def api_path(route: str, view: Any, name: str | None = None) -> URLPattern:
    """`route` without leading or trailing slash, e.g. "api/auth/token"; matched with an optional slash."""
    return re_path(rf"^{route}/?$", view, name=name)
