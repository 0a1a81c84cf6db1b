"""Project-wide test fixtures: users and API clients authenticated with real JWTs."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

DEFAULT_PASSWORD = "correct-Horse-battery-9"


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    counter = iter(range(1, 10_000))

    def _make(username: str | None = None, *, password: str = DEFAULT_PASSWORD, **fields: Any) -> Any:
        name = username or f"user{next(counter)}"
        fields.setdefault("email", f"{name}@example.com")
        return get_user_model().objects.create_user(username=name, password=password, **fields)

    return _make


@pytest.fixture
def customer(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def other_customer(make_user: Callable[..., Any]) -> Any:
    return make_user("mallory")


@pytest.fixture
def staff_user(make_user: Callable[..., Any]) -> Any:
    return make_user("staffer", is_staff=True, is_superuser=True)


def authenticated_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def customer_client(customer: Any) -> APIClient:
    return authenticated_client(customer)


@pytest.fixture
def other_client(other_customer: Any) -> APIClient:
    return authenticated_client(other_customer)


@pytest.fixture
def staff_client(staff_user: Any) -> APIClient:
    return authenticated_client(staff_user)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Throttle counters live in the cache; every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
