"""Owns the session's servers: starts them in parallel, exports their addresses to os.environ, stops them.

Under pytest-xdist the controller starts them (`start`) and each worker only attaches to them (`attach`).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import reaper
from harness.control import CONTROL_URL_VARIABLE, ControlServer, RemoteServer, remote_servers
from harness.postgres import PostgresServer
from harness.process import ServerProcess, ServiceStartError
from harness.redis import RedisServer
from harness.s3 import S3Server
from harness.stripe_server import StripeServer


@dataclass(frozen=True)
class Services:
    """The running servers (in a worker: proxies of the controller's); `startup_seconds`: how long starting took."""

    postgres: PostgresServer | RemoteServer
    s3: S3Server | RemoteServer
    stripe: StripeServer | RemoteServer
    redis: RedisServer | RemoteServer
    startup_seconds: float

    @property
    def all(self) -> tuple[Any, ...]:
        return (self.postgres, self.s3, self.stripe, self.redis)


_running: Services | None = None
_control: ControlServer | None = None


def services() -> Services:
    """The servers of this pytest session; raise if the harness did not start them."""
    if _running is None:
        raise RuntimeError(
            "harness servers are not running: load the plugin with `-p harness.plugin` and leave HARNESS_SERVICES unset"
        )
    return _running


def environment(running: Services) -> dict[str, str]:
    """The variables the Django settings and tests read. STRIPE_SECRET_KEY stays unset: Stripe is off until a test turns
    it on; CELERY_BROKER_URL too (tasks stay eager), so a test that wants a real broker takes HARNESS_REDIS_URL."""
    return {
        "DATABASE_URL": running.postgres.url,
        "AWS_STORAGE_BUCKET_NAME": running.s3.bucket,
        "AWS_S3_ENDPOINT_URL": running.s3.url,
        "AWS_ACCESS_KEY_ID": running.s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": running.s3.secret_access_key,
        "AWS_S3_REGION_NAME": running.s3.region,
        "TEST_STRIPE_API_BASE": running.stripe.url,
        "TEST_STRIPE_SECRET_KEY": running.stripe.secret_key,
        "HARNESS_REDIS_URL": running.redis.url,
    }


def kept_postgres_data() -> Path | None:
    """HARNESS_PG_DATA=<dir> keeps the cluster between runs, so that pytest --reuse-db skips the migrations."""
    kept = os.environ.get("HARNESS_PG_DATA", "").strip()
    return Path(kept) if kept else None


def start() -> Services:
    """Start PostgreSQL, S3, Stripe and Redis side by side and export their addresses; on a failure stop all, raise."""
    global _running
    if _running is not None:
        return _running
    started = time.monotonic()
    servers: list[ServerProcess] = []
    try:
        servers += [PostgresServer(data_dir=kept_postgres_data()), S3Server(), StripeServer(), RedisServer()]
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
    postgres, s3, stripe, redis = servers
    assert isinstance(postgres, PostgresServer) and isinstance(s3, S3Server) and isinstance(stripe, StripeServer)
    assert isinstance(redis, RedisServer)
    _running = Services(
        postgres=postgres, s3=s3, stripe=stripe, redis=redis, startup_seconds=time.monotonic() - started
    )
    os.environ.update(environment(_running))
    _control_start(_running)
    atexit.register(stop)
    return _running


def _control_start(running: Services) -> None:
    """Serve the servers to pytest-xdist workers; they find the endpoint in the environment they inherit."""
    global _control
    servers = {server.name: server for server in running.all}
    _control = ControlServer(servers, running.startup_seconds)
    _control.start()
    os.environ[CONTROL_URL_VARIABLE] = _control.url


def attach() -> Services:
    """In a pytest-xdist worker: the controller's servers, whose addresses are already in os.environ."""
    global _running
    if _running is None:
        control_url = os.environ.get(CONTROL_URL_VARIABLE)
        if not control_url:
            raise ServiceStartError(
                f"a pytest-xdist worker without {CONTROL_URL_VARIABLE}: the controller started no servers"
            )
        servers, startup_seconds = remote_servers(control_url)
        _running = Services(
            postgres=servers["postgres"],
            s3=servers["s3"],
            stripe=servers["stripe"],
            redis=servers["redis"],
            startup_seconds=startup_seconds,
        )
    return _running


def stop() -> None:
    """Stop every server and delete its temp directory; safe to call twice. A worker only lets go of its proxies."""
    global _running, _control
    if _running is not None and _control is None:
        _running = None
        return
    if _control is not None:
        _control.close()
        _control = None
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
