"""Helpers of the fault tests: the environment of the processes they start, and waiting for what those do."""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

WAIT_SECONDS = 60.0
# The fault tests are marked with this group, so that under pytest-xdist they run one after another on one worker.
FAULTS_GROUP = "harness-faults"


def database_url(settings_dict: dict[str, Any]) -> str:
    """The DATABASE_URL (django-environ's form) of a Django connection's settings."""
    user = quote(settings_dict["USER"] or "", safe="")
    password = settings_dict["PASSWORD"] or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or "5432"
    return f"postgres://{credentials}@{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def process_environment(*, database: str, broker: str, **extra: str) -> dict[str, str]:
    """The environment of an app server, worker or beat of this test: test settings, not eager, `database`,
    `broker`, the harness's S3 (inherited), and `extra`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_", "CELERY_", "DATABASE_", "FAULTS_"))
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "billing_site.settings.test",
        "DJANGO_ENV_FILE": "",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "plain",
        **extra,
    }


def wait_until(condition: Callable[[], Any], *, seconds: float = WAIT_SECONDS, what: str = "the condition") -> Any:
    """Poll `condition` until it returns something true (returned), or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.2)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
