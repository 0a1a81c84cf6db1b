"""Settings package: base.py holds what every environment shares; local, test and production adjust it.

This module itself only chooses which of them to load (manage.py, wsgi, asgi and celery call
`settings_module_select`) and must not import Django.
"""

import os
from pathlib import Path

import environ

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent

# Cache backends that keep their data inside one process (or nowhere): throttle counters in them are not
# shared between workers or servers, so every process allows the full rate again.
PER_PROCESS_CACHE_BACKENDS = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    }
)


def env_file_path() -> Path | None:
    """The .env file to read: DJANGO_ENV_FILE when set (empty: none), otherwise .env in the project folder."""
    configured = os.environ.get("DJANGO_ENV_FILE")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    return PROJECT_DIR / ".env"


def env_file_read() -> None:
    """Copy the variables of the .env file into the environment; variables already set there win."""
    path = env_file_path()
    if path is not None and path.is_file():
        environ.Env.read_env(path, overwrite=False)


def settings_module_select(*, default: str) -> str:
    """Read .env, then choose DJANGO_SETTINGS_MODULE: the environment's, else .env's, else the entry point's default.

    Servers (wsgi, asgi, celery) pass the production module, manage.py the local one for developers.
    """
    env_file_read()
    return os.environ.setdefault("DJANGO_SETTINGS_MODULE", default)
