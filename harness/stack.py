"""Owns the project's own processes as tests and benchmarks run them: app server, Celery worker and beat.

Each runs the command of deploy/Procfile (`web`, `worker`, `beat`) from the project folder with the environment it
is given (the venv's bin put first on PATH), in a process group of its own that `stop()` ends gracefully and
`kill()` with SIGKILL (a crash); the harness reaper ends it if the caller dies, and interpreter exit stops what is
still running. Workers and beat also hold a reserved port number (ServerProcess's) that they do not use.

    server = app_server_start(env, port)  # gunicorn -c deploy/gunicorn.conf.py; server.url
    worker = celery_worker_start(env, concurrency=1, name="w1")  # ready when it logs "ready"
    beat = celery_beat_start(env, schedule_path)
    worker.children()  # the pool processes that run tasks (gunicorn: its workers)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from harness.process import REPO_ROOT, ServerProcess, ServiceStartError, free_port

PROCFILE = REPO_ROOT / "deploy" / "Procfile"
# Used only while deploy/Procfile lacks an entry (the deployment kit not written yet).
FALLBACK_COMMANDS = {
    "web": "gunicorn billing_site.wsgi:application",
    "worker": "celery -A billing_site worker -l info",
    "beat": "celery -A billing_site beat -l info",
}


def procfile_command(process: str) -> list[str]:
    """The argv of a Procfile process (`web`, `worker`, `beat`), as deploy/Procfile writes it."""
    commands: dict[str, str] = {}
    if PROCFILE.is_file():
        for line in PROCFILE.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and ":" in line:
                name, command = line.split(":", 1)
                commands[name.strip()] = command.strip()
    return shlex.split(commands.get(process) or FALLBACK_COMMANDS[process])


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (a gunicorn arbiter's workers, a Celery worker's pool processes), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


# Every process started and not closed yet, stopped at interpreter exit.
_started: set[StackProcess] = set()


class StackProcess(ServerProcess):
    """One of the project's processes: `argv` run from the project folder with `env` (the venv's bin first on PATH).

    `start()` waits until `ready()` is true; `stop()` ends the group gracefully (SIGKILL after `timeout`), `kill()`
    at once. `start()` again after either runs it anew (an app server on the same port); the log accumulates.
    """

    start_timeout = 90.0

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        ready: Callable[[StackProcess], bool],
        port: int | None = None,
    ) -> None:
        self.name = name
        super().__init__()
        if port is not None:
            self.port = port
        self.argv = list(argv)
        self.env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.defpath)}"}
        self._ready = ready
        self._log_offset = 0
        self._close_lock = threading.Lock()
        _started.add(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The main process (gunicorn's arbiter, the Celery worker's parent)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def children(self) -> list[int]:
        """Child processes of the main one: gunicorn workers, or the Celery pool processes that run tasks."""
        return child_pids(self.pid) if self.running else []

    def log_since_start(self) -> str:
        """What the process logged since the last `start()`."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crashed machine would leave it (no cleanup runs)."""
        if self._process is not None and self._process.poll() is None:
            self._signal_group(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self.stop()

    def _command(self) -> list[str]:
        return self.argv

    def _is_ready(self) -> bool:
        return self._ready(self)

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        self._log_offset = log.tell()
        try:
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=self.env,
                start_new_session=True,
            )
        except OSError as error:
            raise ServiceStartError(f"{self.name}: cannot run {self.argv[0]}: {error}") from error

    def close(self) -> None:
        with self._close_lock:
            super().close()
            _started.discard(self)


def _answers_200(path: str) -> Callable[[StackProcess], bool]:
    def ready(process: StackProcess) -> bool:
        try:
            with urllib.request.urlopen(f"{process.url}{path}", timeout=2) as response:  # noqa: S310 (loopback)
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return False  # gunicorn answers, but the application does not serve yet
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return False  # bound but no worker booted yet, or not listening yet

    return ready


def _logged(marker: str) -> Callable[[StackProcess], bool]:
    def ready(process: StackProcess) -> bool:
        return marker in process.log_since_start()

    return ready


def app_server_start(
    env: Mapping[str, str], port: int | None = None, *, name: str = "web", ready_path: str = "/healthz/live"
) -> StackProcess:
    """The Procfile's `web` (gunicorn with deploy/gunicorn.conf.py) on 127.0.0.1:`port` (default: a free one),
    ready when `ready_path` answers 200 (/healthz/live: Django serves; /healthz/ready also needs its servers).

    WEB_CONCURRENCY / GUNICORN_THREADS come from `env` (default here: 1 worker, 4 threads, no access log)."""
    environment = {
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
        **env,
    }
    port = port or free_port()
    environment["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    environment["PORT"] = str(port)
    server = StackProcess(name, procfile_command("web"), environment, ready=_answers_200(ready_path), port=port)
    server.start()
    return server


def celery_worker_start(
    env: Mapping[str, str], concurrency: int = 1, name: str = "worker", extra: Sequence[str] = ()
) -> StackProcess:
    """The Procfile's `worker` with `concurrency` prefork processes, node name `name@host`; ready when it logs
    "ready" (connected to the broker and consuming)."""
    argv = [*procfile_command("worker"), f"--concurrency={concurrency}", f"--hostname={name}@%h", *extra]
    worker = StackProcess(name, argv, env, ready=_logged(" ready."))
    worker.start()
    return worker


def celery_beat_start(env: Mapping[str, str], schedule_path: str | Path, name: str = "beat") -> StackProcess:
    """The Procfile's `beat`, keeping its schedule state in `schedule_path`; ready once it has started."""
    argv = [*procfile_command("beat"), f"--schedule={schedule_path}"]
    beat = StackProcess(name, argv, env, ready=_logged("beat: Starting"))
    beat.start()
    return beat


@atexit.register
def _stop_all() -> None:
    for process in list(_started):
        with contextlib.suppress(Exception):
            process.close()
