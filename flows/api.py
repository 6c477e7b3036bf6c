"""The Prefect API a command's flow runs report to, and how it ends with the command.

With ``PREFECT_API_URL`` set (a Prefect server the analyst runs), every run reports there and nothing is
started. Without it, :func:`local_api` uses a local API server on 127.0.0.1 (Prefect's own application,
``prefect.server.api.server:create_app`` under uvicorn, UI off, its database under ``PREFECT_HOME``):

- by default one server shared by the commands of this ``PREFECT_HOME`` (:mod:`flows.apiserver`): the first
  command starts it, later ones find it, and it stops once no command has used it for
  ``PACE_LINKAGE_API_IDLE_MINUTES`` (default 10). It runs in a session of its own, so a signal to one command's
  process group never reaches it and it never dies with one command; a command killed outright (SIGKILL) stops
  using it at once (the kernel drops its lock), so the server is gone at most that many minutes later. A command
  looks for it while importing the flow (:func:`warm_up`), so a cold start overlaps the imports;
- with ``PACE_LINKAGE_API_IDLE_MINUTES=0``, a server of the command's own, in a session of its own and told
  to stop when the command's process dies, whatever the cause (``PR_SET_PDEATHSIG`` on Linux), so even a
  SIGKILL leaves no server behind; the command stops it on leaving, after its own unwinding (a server killed
  first would leave the command retrying a dead API for minutes);
- Dask worker processes started by the command inherit ``PREFECT_API_URL`` and report to the same server.

:func:`stop_on_signals` turns SIGTERM and SIGHUP into :class:`Stopped` (SIGINT already raises
KeyboardInterrupt), so the flow run ends as an interrupted run, nothing is published, and the command exits
with 128 + the signal number. While a flow runs, Prefect's own SIGTERM handler stands in front of this one: it
crashes the flow run and then passes the signal on here; an error Prefect raises while unwinding it is taken
for the signal it is (:func:`flows.tasks.interruption`). A command that has not ended 10 seconds after the signal, or that gets a second
signal, stops its own server (never a shared one) and exits at once; a killed run leaves at most a locked
staging folder, which the next run into the same OUT removes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pace_linkage.errors import PaceError

START_TIMEOUT = 120.0  # seconds: a cold start on a loaded 2-core machine takes ~10 s
GRACE = 10.0  # seconds between a signal and a forced exit
_PR_SET_PDEATHSIG = 1
_servers: list[subprocess.Popen] = []
_received = {"signum": 0}  # the signal that is stopping this command, 0 for none


class Stopped(BaseException):  # noqa: N818 -- like KeyboardInterrupt: no ``except Exception`` (a retry) catches it
    """The command was stopped by a signal: the flow run ends as crashed and nothing is published."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}: nothing was published")


def die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the command's own exit paths stop the server
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
           "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    return env


def _start(port: int) -> subprocess.Popen:
    import prefect

    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]
    return subprocess.Popen(args, env=_server_env(), stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None)


def _healthy(url: str, proc: subprocess.Popen | None, timeout: float) -> bool:
    """True once ``url`` answers its health check within ``timeout`` seconds (False at once if ``proc`` ends)."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=min(2.0, timeout)) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{url}/health").status_code == 200:
                    return True
            time.sleep(0.1)
    return False


def start_server(timeout: float = START_TIMEOUT, start=_start) -> tuple[subprocess.Popen, str]:
    """A Prefect API server on a free loopback port, started by ``start(port)``: its process and API URL.
    Until it answers, a forced exit of the command kills it."""
    for _ in range(3):  # the port may be taken between choosing it and the server binding it
        port = free_port()
        proc = start(port)
        url = f"http://127.0.0.1:{port}/api"
        _servers.append(proc)
        if _healthy(url, proc, timeout):
            return proc, url
        stop_server(proc)
    raise PaceError("Prefect: the temporary API server did not start (set PREFECT_API_URL to use a running server)")


def stop_server(proc: subprocess.Popen, wait: float = 5.0) -> None:
    """Terminate a server started here; kill it if it has not stopped within ``wait`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ValueError):
        _servers.remove(proc)


def _drain(timeout: float = 10) -> None:
    """Send the run's queued logs and events before the server stops (else the process would spend a minute
    at exit retrying to reach it)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


def is_loopback(address: str | None) -> bool:
    """True for no address (a LocalCluster) or a scheduler on this machine's loopback interface."""
    if not address:
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _wanted(dask_address: str | None) -> bool:
    """True if this command needs a local API: no ``PREFECT_API_URL`` set, and the Dask scheduler (if any) on
    loopback (a remote cluster's workers could not reach 127.0.0.1 here: they and this process use their own
    ``PREFECT_API_URL``)."""
    from prefect.settings import PREFECT_API_URL

    return not (os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()) and is_loopback(dask_address)


def _shared_paths():
    import prefect
    from prefect.settings import PREFECT_HOME, get_current_settings

    from flows import apiserver

    db = get_current_settings().server.database.connection_url
    key = apiserver.server_key(prefect.__version__, sys.executable, db.get_secret_value() if db else "")
    return apiserver.Paths.under(Path(PREFECT_HOME.value()) / apiserver.FOLDER, key)


def shared_lease(idle: float, timeout: float = START_TIMEOUT):
    """A lease on the shared local API (:mod:`flows.apiserver`), starting it if none answers."""
    from flows import apiserver

    paths = _shared_paths()

    def spawn() -> tuple[int, str]:
        proc, url = start_server(timeout, lambda port: apiserver.spawn_server(paths, port, idle, _server_env()))
        _servers.remove(proc)  # healthy: from now on it is the idle watch's to stop, never this command's
        return proc.pid, url

    return apiserver.acquire(paths, spawn, lambda url, t: _healthy(url, None, t), timeout)


_early: dict = {}  # the lease a command started looking for before its heavy imports (warm_up)


def warm_up(dask_address: str | None = None) -> None:
    """Find or start the shared local API in a thread, while the command imports and checks its inputs;
    :func:`local_api` takes the lease from there. Does nothing if the API is not shared or not wanted."""
    from flows.settings import api_idle_seconds

    idle = api_idle_seconds()
    if not idle or os.environ.get("PREFECT_API_URL") or not is_loopback(dask_address) or "thread" in _early:
        return

    def find() -> None:
        try:
            _early["lease"] = shared_lease(idle) if _wanted(dask_address) else None
        except BaseException as exc:  # noqa: BLE001 -- handed to local_api, which raises it
            _early["error"] = exc

    _early["thread"] = threading.Thread(target=find, name="pace-linkage-api", daemon=True)
    _early["thread"].start()


def _lease(dask_address: str | None, idle: float):
    thread = _early.pop("thread", None)
    if thread is not None:
        thread.join()
        if "error" in _early:
            raise _early.pop("error")
        if (lease := _early.pop("lease", None)) is not None:
            return lease
    return shared_lease(idle) if _wanted(dask_address) else None


@contextlib.contextmanager
def local_api(dask_address: str | None = None) -> Iterator[str | None]:
    """The local Prefect API for this command and its Dask workers, unless ``PREFECT_API_URL`` is set (then
    everyone uses that one) or the Dask scheduler is on another machine. Shared with other commands
    (:mod:`flows.apiserver`) unless ``PACE_LINKAGE_API_IDLE_MINUTES`` is 0; then a server of this command's own,
    stopped on leaving. Yields the API URL it uses, else None."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.settings import api_idle_seconds

    idle = api_idle_seconds()
    lease = _lease(dask_address, idle) if idle else None
    proc = None
    if lease is None:
        if idle or not _wanted(dask_address):
            yield None
            return
        proc, url = start_server()
    else:
        url = lease.url
    os.environ["PREFECT_API_URL"] = url  # inherited by the worker processes a cluster spawns
    try:
        # no flow-run heartbeats: they are for a server's services to spot crashed runs, and this server runs none
        # (a heartbeat thread also holds the end of every flow run up to a second)
        with temporary_settings({PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            try:
                yield url
            finally:
                _drain()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if proc is not None:
            stop_server(proc)
        if lease is not None:
            lease.release()


_PLAIN = (str, int, float, bool, type(None))


def plain_parameters(flow):
    """``flow`` (a Prefect flow), recording parameter values of plain JSON types (exactly str, int, float, bool
    or None: what the run's parameters are) as they are, which is what Prefect's own serializer records for them;
    any other value goes through Prefect's serializer, which imports FastAPI (0.3-0.5 s on a command's start)."""
    general = flow.serialize_parameters

    def serialize_parameters(parameters: dict) -> dict:
        if all(type(v) in _PLAIN for v in parameters.values()):
            return dict(parameters)
        return general(parameters)

    flow.serialize_parameters = serialize_parameters
    return flow


def received_signal() -> int:
    """The signal that is stopping this command (0 for none). An exception that surfaces while a signal
    unwinds the flow (an engine may replace the interruption with an error of its own) is reported as the
    stop it is."""
    return _received["signum"]


def _force_exit(signum: int) -> None:
    for proc in list(_servers):
        with contextlib.suppress(OSError):
            proc.kill()
    sys.stderr.write(f"error: stopped by {signal.Signals(signum).name}: nothing was published\n")
    sys.stderr.flush()
    os._exit(128 + signum)


@contextlib.contextmanager
def stop_on_signals(grace: float = GRACE, process_ends: bool = False) -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` in the main thread (SIGINT raises KeyboardInterrupt as
    usual); ``grace`` seconds after the first signal, or at a second one, the command stops its servers and
    exits at once. The previous handlers come back on leaving; so does the grace deadline's cancellation,
    unless ``process_ends`` (the command's own exit after a signal is then bounded too)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state: dict = {"signum": 0, "timer": None}

    def handle(signum, frame):  # noqa: ARG001
        if state["signum"]:
            _force_exit(state["signum"])
        state["signum"] = _received["signum"] = signum
        timer = threading.Timer(grace, _force_exit, args=(signum,))
        timer.daemon = True
        timer.start()
        state["timer"] = timer
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(signum)

    wanted = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.signal(s, handle) for s in wanted}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if state["timer"] is not None and not process_ends:
            state["timer"].cancel()
            _received["signum"] = 0
