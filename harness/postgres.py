"""Owns the throwaway PostgreSQL cluster: initdb as the postgres user, tuned for tests, on 127.0.0.1."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from harness.process import ServerProcess, ServiceStartError

# Durability is worthless for a cluster that is deleted after the run; ~10 threaded workers plus a live server.
TEST_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
}


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian layout first, then PATH)."""
    initdbs = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if initdbs:
        newest = max(initdbs, key=lambda path: int(Path(path).parent.parent.name))
        return Path(newest).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise ServiceStartError("postgres: no PostgreSQL server binaries (initdb); run harness/install.sh")


class PostgresServer(ServerProcess):
    """A cluster in the temp directory, or in `data_dir` when given: that one is kept, and reused when it exists."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: disconnect clients, then exit cleanly

    def __init__(self, data_dir: Path | None = None) -> None:
        super().__init__()
        self.bin_dir = postgres_bin_dir()
        self.data_dir = data_dir.resolve() if data_dir is not None else self.tmp_dir / "data"
        # initdb and postgres refuse to run as root.
        self._run_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._run_as is not None:
            os.chown(self.tmp_dir, self._run_as.pw_uid, self._run_as.pw_gid)
            if data_dir is not None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                os.chown(self.data_dir, self._run_as.pw_uid, self._run_as.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _popen_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                f"--pgdata={self.data_dir}",
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=self.tmp_dir,
            capture_output=True,
            text=True,
            **self._popen_kwargs(),
        )
        if result.returncode != 0:
            raise ServiceStartError(
                f"postgres: initdb failed with code {result.returncode}:\n{result.stdout}{result.stderr}"
            )

    def _command(self) -> list[str]:
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.tmp_dir),
        ]
        for name, value in TEST_SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        return command

    def _is_ready(self) -> bool:
        probe = [
            str(self.bin_dir / "pg_isready"),
            "--quiet",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--username=postgres",
        ]
        return subprocess.run(probe, timeout=5).returncode == 0
