"""Time limits of every PostgreSQL connection: how long a statement may wait for a lock and how long it may run.

A web request must not hang behind a row lock or a runaway query: PostgreSQL cancels it and the API answers 503
`database_busy` (billing_site.api.errors). Celery workers render PDFs and renew subscriptions, so their
statements may run longer; the worker calls `database_role_set("worker")` in each process it forks.
"""

from typing import Any, Literal

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver

DatabaseRole = Literal["web", "worker"]
DATABASE_ROLES: tuple[DatabaseRole, ...] = ("web", "worker")

# Per process: the web servers keep "web"; a Celery worker process switches to "worker" before its first query.
_role: DatabaseRole = "web"


def database_role_set(role: str) -> None:
    """Choose the statement timeout of this process's connections from now on ("web" or "worker").

    Connections already open keep theirs, so call it before the process's first query (worker_process_init)."""
    global _role
    if role not in DATABASE_ROLES:
        raise ValueError(f"database role must be one of {', '.join(DATABASE_ROLES)}, not {role!r}")
    _role = role


def database_role() -> DatabaseRole:
    return _role


def database_timeouts_ms(role: DatabaseRole) -> tuple[int, int]:
    """(lock_timeout, statement_timeout) in milliseconds for `role`; 0 means no limit, as in PostgreSQL."""
    statement = (
        settings.WORKER_DATABASE_STATEMENT_TIMEOUT_MS if role == "worker" else settings.DATABASE_STATEMENT_TIMEOUT_MS
    )
    return int(settings.DATABASE_LOCK_TIMEOUT_MS), int(statement)


@receiver(connection_created)
def _timeouts_set(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Session settings, once per new connection (persistent connections keep them for their lifetime)."""
    if connection.vendor != "postgresql":
        return  # SQLite (a developer's machine) has neither setting
    lock_ms, statement_ms = database_timeouts_ms(_role)
    with connection.cursor() as cursor:
        # set_config rather than SET: SET takes no bind parameters. false: for the session, not one transaction.
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
            [str(lock_ms), str(statement_ms)],
        )
