"""pytest plugin (`-p harness.plugin`): starts the servers before Django settings load and stops them at the end.

Under pytest-xdist (`-n` in pytest.ini) the servers stay one per run: the controller starts them and the workers
attach to them (`harness.session.attach`). Two rules keep the workers from disturbing each other:
- every test that can reach localstripe runs on one worker (xdist group "harness-stripe"), because emptying it
  (`stripe_server.reset()`) or stopping it would pull the Stripe objects out from under a test on another worker;
- a test that stops S3 or Redis (`harness_s3`, `harness_redis`) holds the run's server lock exclusively; every
  other test holds it shared, so no test of another worker is running while S3 or Redis is down.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import session
from harness.process import ServiceStartError

# HARNESS_SERVICES=none (or sqlite) runs the suite without servers, for a quick run of one file on SQLite.
SERVERS_OFF = ("none", "sqlite")
SERVERS_ON = ("", "all")
# Tests that use one of these fixtures talk to localstripe; tests that use `harness_s3` or `harness_redis` may stop
# that server.
STRIPE_FIXTURES = frozenset({"stripe_server", "stripe_client"})
STOPS_SERVER_FIXTURES = frozenset({"harness_s3", "harness_redis"})
STRIPE_GROUP = "harness-stripe"
LOCK_VARIABLE = "HARNESS_SERVER_LOCK"


def _worker_id() -> str | None:
    return os.environ.get("PYTEST_XDIST_WORKER")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pytest.ini's addopts carry `-n ... --dist ...`; with `-p no:xdist` nobody else defines them.
    if pluginmanager.is_blocked("xdist"):
        group = parser.getgroup("harness", "xdist options, ignored because of -p no:xdist")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None)  # xdist does the same
        group.addoption("--dist", dest="dist", default="no")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # Stripe is off in the suite unless a test switches it on; a key from the developer's shell must not leak in.
    os.environ.pop("STRIPE_SECRET_KEY", None)
    mode = os.environ.get("HARNESS_SERVICES", "").strip().lower()
    if mode in SERVERS_OFF:
        return
    if mode not in SERVERS_ON:
        raise pytest.UsageError(f"HARNESS_SERVICES={mode!r}: use 'all' (the default), 'none' or 'sqlite'")
    try:
        if _worker_id() is not None:
            session.attach()
            return
        session.start()
    except ServiceStartError as error:
        raise pytest.UsageError(f"harness: a server did not start, so no test ran.\n{error}") from None
    descriptor, lock = tempfile.mkstemp(prefix="harness-servers-", suffix=".lock")
    os.close(descriptor)
    os.environ[LOCK_VARIABLE] = lock


def pytest_report_header(config: pytest.Config) -> str:
    try:
        running = session.services()
    except RuntimeError:
        return "harness: no servers (HARNESS_SERVICES=none)"
    addresses = ", ".join(f"{server.name} {server.url}" for server in running.all)
    return f"harness: {addresses} (started in {running.startup_seconds:.1f} s)"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that can reach localstripe goes to one worker (before xdist reads the groups)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if STRIPE_FIXTURES & fixtures or item.nodeid.startswith("harness/tests/"):
            item.add_marker(pytest.mark.xdist_group(STRIPE_GROUP))


@pytest.fixture(autouse=True)
def _harness_server_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """In an xdist worker: hold the run's server lock, exclusively for a test that may stop S3 or Redis, else shared."""
    path = os.environ.get(LOCK_VARIABLE)
    if _worker_id() is None or not path:
        yield
        return
    exclusive = bool(STOPS_SERVER_FIXTURES & set(request.fixturenames))
    with open(path) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _worker_id() is None and os.environ.get(LOCK_VARIABLE):
        Path(os.environ.pop(LOCK_VARIABLE)).unlink(missing_ok=True)
    session.stop()
