"""Owns the life of one local server process: port, temp directory, log, readiness wait, stop and restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from harness import reaper

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 40


class ServiceStartError(RuntimeError):
    """A server did not come up; the message names it, says why and quotes the end of its log."""


_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not handed to another server of this run."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess(ABC):
    """A server on 127.0.0.1 in its own process group and temp directory; `start()` after `stop()` reuses the port."""

    name: str
    start_timeout: float = 60.0
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self) -> None:
        self.port = free_port()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"harness-{self.name}-"))
        self.log_path = self.tmp_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False
        self._lock = threading.Lock()

    @property
    @abstractmethod
    def url(self) -> str:
        """The address clients use."""

    @abstractmethod
    def _command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    def _prepare(self) -> None:  # noqa: B027 (an optional hook)
        """One-time set-up before the first spawn."""

    def _popen_kwargs(self) -> dict[str, Any]:
        """Extra subprocess.Popen arguments (environment, user)."""
        return {}

    @abstractmethod
    def _is_ready(self) -> bool:
        """One cheap readiness probe; called repeatedly until it is true."""

    def _after_ready(self) -> None:  # noqa: B027 (an optional hook)
        """Work to do once the server answers (create a bucket...)."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers; raise ServiceStartError with its log tail otherwise."""
        with self._lock:
            if self.running:
                return
            try:
                self._start()
            except ServiceStartError:
                raise
            except Exception as error:
                self._fail(f"failed to start: {error!r}")

    def _start(self) -> None:
        if not self._prepared:
            self._prepare()
            self._prepared = True
        if port_accepts(self.port):
            raise ServiceStartError(f"{self.name}: port {self.port} is already taken by another process")
        with self.log_path.open("ab") as log:
            log.write(f"--- harness: starting {self.name} on port {self.port} ---\n".encode())
            log.flush()
            self._process = self._spawn(log)
        reaper.watch(self._process.pid, self.stop_signal, str(self.tmp_dir))
        self._wait_until_ready()
        self._after_ready()

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_dir,
                start_new_session=True,
                **self._popen_kwargs(),
            )
        except OSError as error:
            raise ServiceStartError(f"{self.name}: cannot run {self._command()[0]}: {error}") from error

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                self._fail(f"exited with code {self._process.returncode} before answering")
            try:
                if self._is_ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._fail(f"did not answer on port {self.port} within {self.start_timeout:.0f} s")
            time.sleep(0.05)

    def _fail(self, reason: str) -> None:
        self.stop()
        raise ServiceStartError(f"{self.name} {reason}.\n--- last lines of its log ---\n{self.log_tail()}")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: the stop signal first, SIGKILL if it lingers. The temp directory stays."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(process.pid, self.stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Whatever is left in the group goes too (PostgreSQL backends have own sessions and follow the postmaster).
        self._signal_group(process.pid, signal.SIGKILL)
        reaper.forget(process.pid)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)

    def close(self) -> None:
        """Stop for good and delete the temp directory."""
        self.stop()
        self._process = None
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"
