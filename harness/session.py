"""Owns the session's servers: starts them in parallel, exports their addresses to os.environ, stops them."""

from __future__ import annotations

import atexit
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import reaper
from harness.postgres import PostgresServer
from harness.process import ServerProcess, ServiceStartError
from harness.s3 import S3Server
from harness.stripe_server import StripeServer


@dataclass(frozen=True)
class Services:
    """The running servers; `startup_seconds` is how long starting all of them took."""

    postgres: PostgresServer
    s3: S3Server
    stripe: StripeServer
    startup_seconds: float

    @property
    def all(self) -> tuple[ServerProcess, ...]:
        return (self.postgres, self.s3, self.stripe)


_running: Services | None = None


def services() -> Services:
    """The servers of this pytest session; raise if the harness did not start them."""
    if _running is None:
        raise RuntimeError(
            "harness servers are not running: load the plugin with `-p harness.plugin` and leave HARNESS_SERVICES unset"
        )
    return _running


def environment(running: Services) -> dict[str, str]:
    """The variables the Django settings read. STRIPE_SECRET_KEY stays unset: Stripe is off until a test turns it on."""
    return {
        "DATABASE_URL": running.postgres.url,
        "AWS_STORAGE_BUCKET_NAME": running.s3.bucket,
        "AWS_S3_ENDPOINT_URL": running.s3.url,
        "AWS_ACCESS_KEY_ID": running.s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": running.s3.secret_access_key,
        "AWS_S3_REGION_NAME": running.s3.region,
        "TEST_STRIPE_API_BASE": running.stripe.url,
        "TEST_STRIPE_SECRET_KEY": running.stripe.secret_key,
    }


def kept_postgres_data() -> Path | None:
    """HARNESS_PG_DATA=<dir> keeps the cluster between runs, so that pytest --reuse-db skips the migrations."""
    kept = os.environ.get("HARNESS_PG_DATA", "").strip()
    return Path(kept) if kept else None


def start() -> Services:
    """Start PostgreSQL, S3 and Stripe side by side and export their addresses; on any failure stop all and raise."""
    global _running
    if _running is not None:
        return _running
    started = time.monotonic()
    servers: list[ServerProcess] = []
    try:
        servers += [PostgresServer(data_dir=kept_postgres_data()), S3Server(), StripeServer()]
    except ServiceStartError:
        _close(servers)
        raise
    errors: dict[str, ServiceStartError] = {}

    def start_one(server: ServerProcess) -> None:
        try:
            server.start()
        except ServiceStartError as error:
            errors[server.name] = error

    threads = [threading.Thread(target=start_one, args=(server,), name=f"harness-{server.name}") for server in servers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C while starting
        _close(servers)
        raise
    if errors:
        _close(servers)
        raise ServiceStartError("\n\n".join(str(error) for error in errors.values()))
    postgres, s3, stripe = servers
    assert isinstance(postgres, PostgresServer) and isinstance(s3, S3Server) and isinstance(stripe, StripeServer)
    _running = Services(postgres=postgres, s3=s3, stripe=stripe, startup_seconds=time.monotonic() - started)
    os.environ.update(environment(_running))
    atexit.register(stop)
    return _running


def stop() -> None:
    """Stop every server and delete its temp directory; safe to call twice."""
    global _running
    if _running is not None:
        _close(list(_running.all))
        _running = None


def _close(servers: list[ServerProcess]) -> None:
    threads = [threading.Thread(target=server.close) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reaper.close()
