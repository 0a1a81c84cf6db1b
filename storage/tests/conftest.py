"""Fixtures of the storage tests: customers with JWT clients, a storage backend per test, sample files, bucket access.

`backend` runs a test on each storage backend: "s3" (the harness's LocalStack bucket, under a prefix of
its own) and "local" (the signed filesystem backend in a temp folder). With HARNESS_SERVICES=none there is
no bucket and only "local" is generated; under `make test` both always run.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken
from storages.backends.s3 import S3Storage

from .helpers import current_storage, dead_port, s3_storage_options

User = get_user_model()

S3_AVAILABLE = bool(django_settings.AWS_STORAGE_BUCKET_NAME)
BACKENDS = ["s3", "local"] if S3_AVAILABLE else ["local"]


NEEDS_S3 = {"s3", "harness_s3"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With HARNESS_SERVICES=none there is no bucket: leave out (not skip) the tests that need one, and say so."""
    if S3_AVAILABLE:
        return
    needs_s3 = [item for item in items if NEEDS_S3 & set(getattr(item, "fixturenames", ()))]
    if needs_s3:
        config.hook.pytest_deselected(items=needs_s3)
        items[:] = [item for item in items if item not in needs_s3]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


# --- customers ---------------------------------------------------------------------------------------


def _customer(username: str) -> Any:
    return User.objects.create_user(username=username, email=f"{username}@example.com", password="pw-Str0ng-enough")


def _jwt_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def customer(db: None) -> Any:
    return _customer(f"customer-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def other_customer(db: None) -> Any:
    return _customer(f"other-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    return _jwt_client


@pytest.fixture
def customer_client(customer: Any) -> APIClient:
    return _jwt_client(customer)


@pytest.fixture
def other_client(other_customer: Any) -> APIClient:
    return _jwt_client(other_customer)


# --- storage backends --------------------------------------------------------------------------------


@pytest.fixture
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Any) -> str:
    """The default storage for this test: a fresh prefix of the S3 bucket, or a fresh local folder."""
    if request.param == "s3":
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()},
        }
    else:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storage.backends.SignedFileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "media")},
            },
        }
    return request.param


@pytest.fixture
def local_storage(settings: Any, tmp_path: Any) -> Any:
    """The signed local filesystem backend in a temp folder, for tests of what only it does."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storage.backends.SignedFileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return current_storage()


@pytest.fixture
def s3(settings: Any) -> S3Storage:
    """The real S3 bucket (LocalStack) under a prefix of this test's own; fails when no bucket is configured."""
    assert S3_AVAILABLE, "this test needs the harness's S3 server (run without HARNESS_SERVICES=none)"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()},
    }
    storage = current_storage()
    assert isinstance(storage, S3Storage)
    return storage


@pytest.fixture
def harness_s3(s3: S3Storage) -> Iterator[Any]:
    """The harness's S3 server process, to stop and start again; it is running again after the test."""
    import harness

    server = harness.services().s3
    yield server
    if not server.running:
        server.start()


@pytest.fixture
def unreachable_s3(settings: Any) -> S3Storage:
    """S3Storage pointing at a port where no server listens: every request fails to connect."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(
                bucket_name=django_settings.AWS_STORAGE_BUCKET_NAME or "billing-test",
                endpoint_url=f"http://127.0.0.1:{dead_port()}",
                access_key="test",
                secret_key="test",
                region_name="us-east-1",
                addressing_style="path",
                client_config=BotoConfig(
                    connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"}
                ),
            ),
        },
    }
    return current_storage()
