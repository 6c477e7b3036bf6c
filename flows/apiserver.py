"""A local Prefect API server shared by the commands of one user and ``PREFECT_HOME``, ended when idle.

Starting Prefect's API costs seconds (importing the server application and opening its database), more than a
small run's stages together. So the first command starts one server, and the commands after it reuse it. Three
files in ``PREFECT_HOME/pace-linkage/`` (0600), named by a key of the Prefect version, the Python executable and
the database URL (a server of another install or database is never reused), say where it is and who uses it:

- ``<key>.json``: the server's pid and API URL, written by the command that started it once it was healthy;
- ``<key>.lock``: held (exclusive ``flock``) while a command finds or starts the server, and while the server
  decides to stop, so a command never takes a server that is stopping and two commands never start two;
- ``<key>.clients``: every command using the server holds a shared ``flock`` on it until it ends. The kernel
  drops the lock when the command's process dies, whatever the cause, SIGKILL included.

The server (``python -m flows.apiserver``) runs in a session of its own with its output in ``<key>.log``: a signal
to one command's process group does not reach it, so a shared server never dies with one command. It stops when no
command has held the clients lock for ``idle`` seconds (``PACE_LINKAGE_API_IDLE_MINUTES``, default 10): a command
that was killed leaves a server for at most that long. A server that finds its state file gone or naming another
server stops as soon as no command uses it (nobody could find it any more).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pace_linkage.errors import PaceError

FOLDER = "pace-linkage"
CHECK_EVERY = 5.0  # seconds between the idle server's looks at the clients lock (less when idle is shorter)


@dataclass(frozen=True)
class Paths:
    """The state, start-lock, clients-lock and log files of one shared server."""

    state: Path
    lock: Path
    clients: Path
    log: Path

    @classmethod
    def under(cls, folder: Path, key: str) -> Paths:
        return cls(folder / f"{key}.json", folder / f"{key}.lock", folder / f"{key}.clients", folder / f"{key}.log")


def server_key(*parts: str) -> str:
    """A short name for the server a set of settings needs (version, executable, database URL)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, flags, 0o600)


def _lock(fd: int, mode: int, timeout: float | None) -> bool:
    """``flock(fd, mode)``, waiting up to ``timeout`` seconds (None: forever, 0: not at all)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def read_state(paths: Paths) -> dict | None:
    try:
        state = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and {"pid", "url"} <= state.keys() else None


def write_state(paths: Paths, pid: int, url: str) -> None:
    tmp = paths.state.with_suffix(".tmp")
    fd = _open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": pid, "url": url}, fh)
    os.replace(tmp, paths.state)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process under a reused pid
        return False
    return True


class Lease:
    """A command's use of the shared server: the API URL, and the shared lock that keeps the server up."""

    def __init__(self, url: str, pid: int, fd: int) -> None:
        self.url, self.pid, self._fd = url, pid, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # drops the shared lock
            self._fd = -1


def acquire(paths: Paths, spawn: Callable[[], tuple[int, str]], healthy: Callable[[str, float], bool],
            timeout: float) -> Lease:
    """The shared server's lease: the running server if it answers, else one started by ``spawn()`` (which
    returns its pid and URL once it is healthy). PaceError if the lock or the server cannot be had in time."""
    lock_fd = _open_private(paths.lock)
    try:
        if not _lock(lock_fd, fcntl.LOCK_EX, timeout):
            raise PaceError(f"Prefect: another command held {paths.lock} for {timeout:g} s")
        state = read_state(paths)
        if not (state and pid_alive(int(state["pid"])) and healthy(state["url"], 2.0)):
            with contextlib.suppress(FileNotFoundError):
                paths.state.unlink()
            pid, url = spawn()
            write_state(paths, pid, url)
            state = {"pid": pid, "url": url}
        clients_fd = _open_private(paths.clients)
        _lock(clients_fd, fcntl.LOCK_SH, None)  # the server takes it exclusively only for an instant
        return Lease(state["url"], int(state["pid"]), clients_fd)
    finally:
        os.close(lock_fd)


def unused(paths: Paths) -> bool:
    """True if no command holds the clients lock (checked by taking it exclusively for an instant)."""
    fd = _open_private(paths.clients)
    try:
        return _lock(fd, fcntl.LOCK_EX, 0)
    finally:
        os.close(fd)  # releases it at once


def may_stop(paths: Paths, pid: int, idle_since: float, idle: float, now: float) -> bool:
    """Under the start lock: may the server ``pid`` stop now? Yes if no command uses it and either it has been
    unused for ``idle`` seconds or its state file no longer names it. Removes the state file when it does."""
    if not unused(paths):
        return False
    state = read_state(paths)
    ours = state is not None and int(state["pid"]) == pid
    if ours and now - idle_since < idle:
        return False
    if ours:
        paths.state.unlink(missing_ok=True)
    return True


def watch_idle(paths: Paths, idle: float, stop: Callable[[], None], pid: int | None = None,
               every: float | None = None, stopped: threading.Event | None = None) -> None:
    """The server's idle watch (a loop; run it in a thread): calls ``stop()`` once the server may stop."""
    pid = os.getpid() if pid is None else pid
    every = min(CHECK_EVERY, max(idle / 3, 0.1)) if every is None else every
    stopped = stopped or threading.Event()
    idle_since = time.monotonic()
    while not stopped.wait(every):
        if not unused(paths):
            idle_since = time.monotonic()
            continue
        lock_fd = _open_private(paths.lock)
        try:
            if not _lock(lock_fd, fcntl.LOCK_EX, 0):
                continue  # a command is finding or starting a server: look again later
            if may_stop(paths, pid, idle_since, idle, time.monotonic()):
                stop()
                return
        finally:
            os.close(lock_fd)


def spawn_server(paths: Paths, port: int, idle: float, env: dict[str, str]) -> subprocess.Popen:
    """Start ``python -m flows.apiserver`` in a session of its own, output to the log file (never the command's
    pipes: a server holding them open would keep a caller waiting for the end of the command's output)."""
    log_fd = _open_private(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        args = [sys.executable, "-m", "flows.apiserver", "--port", str(port), "--idle", str(idle),
                "--state", str(paths.state)]
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                                start_new_session=True, cwd=str(Path(__file__).resolve().parents[1]))
    finally:
        os.close(log_fd)


def serve(port: int, idle: float, state: Path) -> None:
    """The shared server's process: Prefect's API application under uvicorn, stopped by the idle watch."""
    import uvicorn

    paths = Paths.under(state.parent, state.stem)
    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, host="127.0.0.1", port=port,
                            log_level="error", lifespan="on")
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    threading.Thread(target=watch_idle, args=(paths, idle, stop), daemon=True).start()
    server.run()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flows.apiserver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle", type=float, required=True, help="seconds unused before it stops")
    parser.add_argument("--state", type=Path, required=True, help="the state file (its folder holds the locks)")
    args = parser.parse_args(argv)
    serve(args.port, args.idle, args.state)


if __name__ == "__main__":
    main()
