"""Owns the throwaway Redis (Debian's redis-server): the Celery broker of the tests that ask for one, on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket

from harness.process import ServerProcess, ServiceStartError

INSTALL_HINT = "run scripts/install-system-deps.sh --test (or: sudo apt-get install redis-server)"


def redis_server_binary() -> str:
    """The redis-server on PATH (Debian installs /usr/bin/redis-server)."""
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceStartError(f"redis: no redis-server binary; {INSTALL_HINT}")
    return found


def redis_command(port: int, *arguments: str) -> bytes:
    """Send one inline command to the Redis on `port` and return its first reply line (`+PONG`, `-ERR ...`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        connection.sendall(" ".join(arguments).encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.rstrip(b"\r\n")


class RedisServer(ServerProcess):
    """A Redis kept in memory only: nothing is saved, so a restart (same port) comes back empty."""

    name = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.binary = redis_server_binary()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            # Bound to loopback only, so protected mode guards nothing; off, it never refuses a client.
            "--protected-mode",
            "no",
            # No RDB snapshots, no AOF: a test broker's data is worthless after the run.
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp_dir),
            # In the foreground, logging to the harness's log; no config file, so the rest is Redis's built-in default.
            "--daemonize",
            "no",
        ]

    def _is_ready(self) -> bool:
        return redis_command(self.port, "PING") == b"+PONG"

    def reset(self) -> None:
        """Empty every database (queued Celery messages included)."""
        reply = redis_command(self.port, "FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"redis: FLUSHALL answered {reply!r}")
