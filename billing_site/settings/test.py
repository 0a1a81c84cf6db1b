"""Settings for the test suite: fast hashing, and the servers the harness started (see harness/)."""

from .base import *  # noqa: F403

SECRET_KEY = "django-insecure-test-suite-key-for-tests-only"  # noqa: S105 (signs nothing outside the test run)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Connections are closed after each request so threaded tests don't exhaust PostgreSQL (an app server started by a
# fault test keeps them, as in production, with TEST_DATABASE_CONN_MAX_AGE).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("TEST_DATABASE_CONN_MAX_AGE", default=0)  # noqa: F405
# Throttling counters must not leak between tests; each test gets a fresh cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Jobs run in-process after commit; processes the fault tests start (billing_site/tests/faults) set it false and
# CELERY_BROKER_URL to the harness's Redis, and may load test-only hooks into Celery (TEST_CELERY_IMPORTS).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)  # noqa: F405
CELERY_IMPORTS = env.list("TEST_CELERY_IMPORTS", default=[])  # noqa: F405
# Health results are not reused between tests; tests of that reuse switch it on.
HEALTH_CHECK_CACHE_SECONDS = 0
