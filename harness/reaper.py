"""Kills the harness's server process groups when the pytest process dies, however it dies (SIGKILL included).

The pytest side calls `watch`/`forget`; they feed a small child process (this file run as a script) through a pipe.
When the pipe closes, because pytest exited or was killed, the child signals every group still listed, deletes
their temp directories and exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 5.0

_child: subprocess.Popen[str] | None = None
_watched: dict[int, str] = {}
_lock = threading.Lock()


def watch(pgid: int, stop_signal: signal.Signals, tmp_dir: str) -> None:
    """If pytest dies: stop the process group `pgid` with `stop_signal` (then SIGKILL) and delete `tmp_dir`."""
    with _lock:
        _watched[pgid] = f"+{pgid} {int(stop_signal)} {tmp_dir}"
        _send(_watched[pgid])


def forget(pgid: int) -> None:
    with _lock:
        if _watched.pop(pgid, None) is not None:
            _send(f"-{pgid}")


def close() -> None:
    """End the child once the harness has stopped its servers itself."""
    global _child
    with _lock:
        if _child is not None and _child.stdin is not None:
            _child.stdin.close()
            _child.wait()
        _child = None


def _send(line: str) -> None:
    global _child
    if _child is None or _child.poll() is not None:
        _child = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C in the terminal must not reach it
        )
        assert _child.stdin is not None
        # A respawned child learns the groups the previous one was watching.
        for line_of_group in _watched.values():
            _child.stdin.write(line_of_group + "\n")
    assert _child.stdin is not None
    _child.stdin.write(line + "\n")
    _child.stdin.flush()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _reap(groups: dict[int, tuple[int, str]]) -> None:
    for pgid, (stop_signal, _) in groups.items():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, stop_signal)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(_group_alive(pgid) for pgid in groups):
        time.sleep(0.1)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    for _, tmp_dir in groups.values():
        _remove(tmp_dir)


def _remove(tmp_dir: str) -> None:
    # A server's helpers (PostgreSQL's run in sessions of their own) may still be writing their last files.
    deadline = time.monotonic() + GRACE_SECONDS
    while os.path.exists(tmp_dir) and time.monotonic() < deadline:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        time.sleep(0.1)


def _main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: dict[int, tuple[int, str]] = {}
    for line in sys.stdin:
        sign_and_pgid, *rest = line.rstrip("\n").split(" ", 2)
        pgid = int(sign_and_pgid[1:])
        if sign_and_pgid.startswith("+"):
            groups[pgid] = (int(rest[0]), rest[1])
        else:
            groups.pop(pgid, None)
    _reap(groups)


if __name__ == "__main__":
    _main()
