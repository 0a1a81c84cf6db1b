"""Which function carries out each kind of job: apps register handlers in their `jobs` module."""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.apps import apps

Handler = Callable[..., Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int
    lease_seconds: int


_KINDS: dict[str, JobKind] = {}


def job_handler(name: str, *, max_attempts: int = 8, lease_seconds: int = 600) -> Callable[[Handler], Handler]:
    """Register `handler(**payload)` for jobs of kind `name`. It must be idempotent: a job runs at least once.

    `lease_seconds` is how long a run may take before it counts as lost (its worker killed) and runs again.
    """

    def register(handler: Handler) -> Handler:
        _KINDS[name] = JobKind(name=name, handler=handler, max_attempts=max_attempts, lease_seconds=lease_seconds)
        return handler

    return register


def job_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def job_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def handlers_autodiscover() -> None:
    """Import `<app>.jobs` of every installed app, which registers its handlers."""
    for config in apps.get_app_configs():
        try:
            import_module(f"{config.name}.jobs")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.jobs":
                raise
