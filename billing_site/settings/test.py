"""Settings for the test suite: fast hashing, and the servers the harness started (see harness/)."""

from .base import *  # noqa: F403

SECRET_KEY = "django-insecure-test-suite-key-for-tests-only"  # noqa: S105 (signs nothing outside the test run)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Connections are closed after each request so threaded tests don't exhaust PostgreSQL.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Throttling counters must not leak between tests; each test gets a fresh cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
# Health results are not reused between tests; tests of that reuse switch it on.
HEALTH_CHECK_CACHE_SECONDS = 0
