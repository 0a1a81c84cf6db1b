"""pytest plugin (`-p harness.plugin`): starts the servers before Django settings load and stops them at the end."""

from __future__ import annotations

import os

import pytest

from harness import session
from harness.process import ServiceStartError

# HARNESS_SERVICES=none (or sqlite) runs the suite without servers, for a quick run of one file on SQLite.
SERVERS_OFF = ("none", "sqlite")
SERVERS_ON = ("", "all")


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
        session.start()
    except ServiceStartError as error:
        raise pytest.UsageError(f"harness: a server did not start, so no test ran.\n{error}") from None


def pytest_report_header(config: pytest.Config) -> str:
    try:
        running = session.services()
    except RuntimeError:
        return "harness: no servers (HARNESS_SERVICES=none)"
    addresses = ", ".join(f"{server.name} {server.url}" for server in running.all)
    return f"harness: {addresses} (started in {running.startup_seconds:.1f} s)"


def pytest_unconfigure(config: pytest.Config) -> None:
    session.stop()
