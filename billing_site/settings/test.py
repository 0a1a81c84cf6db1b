"""Settings for the test suite: fast hashing, and the servers the harness started (see harness/)."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Connections are closed after each request so threaded tests don't exhaust PostgreSQL.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Throttling counters must not leak between tests; each test gets a fresh cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
