"""Fixtures of the storage tests: a storage backend per test (S3 and local), the bucket under a prefix of its own.

The people and their JWT clients (`customer_user`, `customer_client`, ...) and `harness_s3` / `unreachable_s3`
are the root conftest's.

`backend` runs a test on each storage backend: "s3" (the harness's LocalStack bucket, under a prefix of
its own) and "local" (the signed filesystem backend in a temp folder). With HARNESS_SERVICES=none there is
no bucket and only "local" is generated; under `make test` both always run.
"""

from typing import Any

import pytest
from django.conf import settings as django_settings
from storages.backends.s3 import S3Storage

from .helpers import current_storage, s3_storage_options

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
