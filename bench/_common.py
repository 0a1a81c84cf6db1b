"""What every benchmark shares: its servers from harness/, their settings, gunicorn, timing and the results file.

The leading underscore keeps `python -m bench` (bench/__main__.py) from running this module as a benchmark.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # harness/ and the project, however the benchmark was started

# Settings every benchmark runs the project with: the local settings as deployed (DEBUG off), Stripe off.
BASE_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "billing_site.settings.local",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-local-settings-without-debug-0123456789",
    "LOG_LEVEL": "WARNING",
    "STRIPE_SECRET_KEY": "",
}


def start_servers(*, postgres: bool, s3: bool, redis: bool = False) -> list[Any]:
    """Start the chosen harness servers side by side; if one fails, stop them all and exit."""
    servers: list[Any] = []
    if redis:
        from harness.redis import RedisServer

        servers.append(RedisServer())
    if postgres:
        from harness.postgres import PostgresServer

        servers.append(PostgresServer())
    if s3:
        from harness.s3 import S3Server

        servers.append(S3Server())
    errors: list[BaseException] = []

    def start(server: Any) -> None:
        try:
            server.start()
        except BaseException as error:  # reported below, with every server stopped
            errors.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for server in servers:
            server.close()
        raise SystemExit(f"bench: a server did not start: {errors[0]}")
    return servers


def server_environment(servers: Iterable[Any]) -> dict[str, str]:
    """The settings that point the project at these harness servers."""
    environment: dict[str, str] = {}
    for server in servers:
        if server.name == "postgres":
            environment["DATABASE_URL"] = server.url
        elif server.name == "redis":  # the Celery broker: jobs go to real workers, not eagerly in-process
            environment["CELERY_BROKER_URL"] = server.url
        else:
            environment.update(
                {
                    "AWS_STORAGE_BUCKET_NAME": server.bucket,
                    "AWS_S3_ENDPOINT_URL": server.url,
                    "AWS_ACCESS_KEY_ID": server.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
                    "AWS_S3_REGION_NAME": server.region,
                }
            )
    return environment


def migrate(environment: dict[str, str] | None = None) -> None:
    print("migrating ...", flush=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO_ROOT, env=environment, check=True
    )


def gunicorn_start(
    *, application: str, environment: dict[str, str], extra: Iterable[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """Serve `application` with one sync worker (as deployed) on a free port; return the process and its base URL."""
    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            application,
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--worker-class=sync",
            *extra,
            "--log-level=warning",
        ],
        cwd=REPO_ROOT,
        env=environment,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz")
    return gunicorn, base


def gunicorn_stop(gunicorn: subprocess.Popen[bytes] | None) -> None:
    if gunicorn is not None:
        gunicorn.terminate()
        gunicorn.wait(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not answer within {timeout:.0f} s")


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds `function` took, and what it returned."""
    started = time.perf_counter()
    result = function()
    return (time.perf_counter() - started) * 1000, result


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def results_write(name: str, results: dict[str, Any], *, ensure_ascii: bool = True) -> None:
    out = REPO_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=ensure_ascii) + "\n")


def urlconf_application(
    module: str, urlpatterns: Callable[[], list[Any]]
) -> tuple[Callable[[dict[str, Any], Any], Any], Callable[[str], Any]]:
    """A benchmark module's WSGI entry for gunicorn, serving `module` as ROOT_URLCONF (the project's URLs plus the
    benchmark's bare view), and the module `__getattr__` that hands Django its `urlpatterns`.

    The patterns are built on first use, after django.setup(), because they import the project's models; a module
    says `application, __getattr__ = urlconf_application(__name__, _urlpatterns)`."""
    wsgi: list[Any] = []  # the project's WSGI handler, made on the first request

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if not wsgi:
            import django

            django.setup()
            from django.conf import settings
            from django.core.wsgi import get_wsgi_application

            settings.ROOT_URLCONF = module
            wsgi.append(get_wsgi_application())
        return wsgi[0](environ, start_response)

    def module_getattr(name: str) -> Any:
        if name == "urlpatterns":  # read by Django's URL resolver only, after setup
            return urlpatterns()
        raise AttributeError(name)

    return application, module_getattr
