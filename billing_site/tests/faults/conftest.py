"""Fixtures of the fault tests: the project's real processes (harness/stack.py) on the test's own database.

Every fault test asks for `harness_redis` (the broker of the processes), which also makes it hold the harness's
server lock exclusively under pytest-xdist: no test of another worker runs while Redis is down or while these
processes run. The processes use the test's database (`connection.settings_dict`), the harness's S3 bucket (the
AWS_* variables the harness exported) and the test settings with Celery not eager (support.process_environment).
"""

import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery
from django.db import connection

from harness.postgres import PostgresServer
from harness.stack import StackProcess

from .support import database_url, process_environment


@pytest.fixture
def stack_env(transactional_db: None, harness_redis: Any) -> Callable[..., dict[str, str]]:
    """`stack_env(**extra)`: the environment for processes of this test (its database, the harness's Redis)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the processes share the test's database)")
    database = database_url(connection.settings_dict)

    def make(**extra: str) -> dict[str, str]:
        return process_environment(database=database, broker=harness_redis.url, **extra)

    return make


@pytest.fixture
def stack(transactional_db: None) -> Iterator[list[StackProcess]]:
    """Processes a test appends here are stopped after it (before the database is emptied), their logs printed."""
    started: list[StackProcess] = []
    yield started
    for process in reversed(started):
        print(f"--- {process.name} (pid {process.pid if process.returncode is None else '-'}) ---")
        print(process.log_tail(60))
        process.close()


@pytest.fixture
def broker_send(harness_redis: Any) -> Callable[..., None]:
    """`broker_send("jobs.run", job_id)`: a message for a task, sent to the harness's Redis as the app would."""

    def send(task: str, *args: Any) -> None:
        with Celery("faults", broker=harness_redis.url, set_as_current=False) as client:
            client.send_task(task, args=args)

    return send


@pytest.fixture
def database_copy(transactional_db: None) -> Iterator[Callable[[], tuple[PostgresServer, str]]]:
    """`database_copy()`: a PostgreSQL server of this test alone, holding a copy of the test database as it is now,
    and its DATABASE_URL. For a test that stops PostgreSQL: stopping the harness's server would break the open
    connections of every other pytest-xdist worker."""
    servers: list[PostgresServer] = []

    def copy() -> tuple[PostgresServer, str]:
        server = PostgresServer()
        servers.append(server)
        server.start()
        source = connection.settings_dict
        dump = subprocess.run(
            [
                str(server.bin_dir / "pg_dump"),
                "--no-owner",
                "--no-privileges",
                f"--host={source['HOST'] or '127.0.0.1'}",
                f"--port={source['PORT'] or 5432}",
                f"--username={source['USER']}",
                f"--dbname={source['NAME']}",
            ],
            capture_output=True,
            check=True,
            env={**os.environ, "PGPASSWORD": source["PASSWORD"] or ""},
        )
        subprocess.run(
            [
                str(server.bin_dir / "psql"),
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--host=127.0.0.1",
                f"--port={server.port}",
                "--username=postgres",
                "--dbname=postgres",
            ],
            input=dump.stdout,
            capture_output=True,
            check=True,
        )
        return server, server.url

    yield copy
    for server in servers:
        server.close()
