"""The shared local Prefect API: found or started once under a lock, kept up while a command uses it, stopped
when unused. The protocol is tested here with a stand-in for the server (no Prefect server starts)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from flows import apiserver
from flows.settings import API_IDLE_ENV, api_idle_seconds
from pace_linkage.errors import ConfigError


@pytest.fixture
def paths(tmp_path):
    return apiserver.Paths.under(tmp_path / apiserver.FOLDER, apiserver.server_key("v", "python", "db"))


class FakeServers:
    """``spawn`` starts a stand-in (a sleeping process); ``healthy`` answers for the ones alive."""

    def __init__(self, delay: float = 0.0):
        self.started: list[subprocess.Popen] = []
        self.delay = delay

    def spawn(self) -> tuple[int, str]:
        time.sleep(self.delay)  # a server takes a while to answer: others must wait, not start their own
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        self.started.append(proc)
        return proc.pid, f"http://127.0.0.1:{1000 + len(self.started)}/api"

    def healthy(self, url: str, timeout: float) -> bool:
        return any(url.endswith(f":{1000 + i + 1}/api") and p.poll() is None for i, p in enumerate(self.started))

    def close(self) -> None:
        for p in self.started:
            p.kill()
            p.wait()


@pytest.fixture
def fake():
    servers = FakeServers()
    yield servers
    servers.close()


def test_the_second_command_reuses_the_server_the_first_started(paths, fake):
    first = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    second = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    assert len(fake.started) == 1
    assert first.url == second.url and first.pid == second.pid == fake.started[0].pid
    assert apiserver.read_state(paths) == {"pid": first.pid, "url": first.url}
    assert oct(paths.state.stat().st_mode & 0o777) == "0o600"
    assert oct(paths.state.parent.stat().st_mode & 0o777) == "0o700"
    first.release()
    second.release()


def test_a_server_that_died_is_replaced(paths, fake):
    apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5).release()
    fake.started[0].kill()
    fake.started[0].wait()
    lease = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    assert len(fake.started) == 2 and lease.pid == fake.started[1].pid
    lease.release()


def test_commands_starting_at_once_start_one_server(paths):
    servers = FakeServers(delay=0.3)
    leases = []
    try:
        threads = [threading.Thread(target=lambda: leases.append(
            apiserver.acquire(paths, servers.spawn, servers.healthy, timeout=10))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(servers.started) == 1
        assert len({lease.url for lease in leases}) == 1 and len(leases) == 4
    finally:
        for lease in leases:
            lease.release()
        servers.close()


def test_the_server_is_in_use_while_a_lease_is_held(paths, fake):
    lease = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    assert not apiserver.unused(paths)
    lease.release()
    assert apiserver.unused(paths)


def test_a_killed_command_leaves_the_server_unused(paths, fake):
    """The kernel drops the lock of a process killed with SIGKILL: the idle clock of the server then runs."""
    apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5).release()
    code = (f"import sys, time; sys.path.insert(0, {str(os.getcwd())!r})\n"
            "from flows import apiserver\n"
            f"p = apiserver.Paths.under(apiserver.Path({str(paths.state.parent)!r}), {paths.state.stem!r})\n"
            "apiserver.acquire(p, None, lambda u, t: True, 5)\n"
            "print('held', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    assert not apiserver.unused(paths)
    proc.kill()
    proc.wait()
    assert apiserver.unused(paths)


def test_the_idle_watch_stops_the_server_only_once_unused_for_the_idle_time(paths, fake):
    lease = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    stopped = threading.Event()
    watch = threading.Thread(target=apiserver.watch_idle,
                             args=(paths, 0.4, stopped.set, lease.pid, 0.05), daemon=True)
    watch.start()
    time.sleep(0.8)
    assert not stopped.is_set(), "stopped while a command held it"
    released = time.monotonic()
    lease.release()
    assert stopped.wait(3)
    assert time.monotonic() - released >= 0.35  # the idle time counts from the last use
    assert not paths.state.exists(), "a stopping server must not be found by the next command"
    watch.join(1)


def test_a_server_nobody_can_find_stops_when_unused(paths, fake):
    """Its state file names another server (it was replaced): it stops at once, leaving the other's state."""
    lease = apiserver.acquire(paths, fake.spawn, fake.healthy, timeout=5)
    lease.release()
    assert apiserver.may_stop(paths, lease.pid + 1, idle_since=time.monotonic(), idle=600, now=time.monotonic())
    assert apiserver.read_state(paths)["pid"] == lease.pid
    assert not apiserver.may_stop(paths, lease.pid, idle_since=time.monotonic(), idle=600, now=time.monotonic())


def test_a_command_does_not_wait_forever_for_the_start_lock(paths):
    import fcntl

    paths.lock.parent.mkdir(parents=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(Exception, match="held .* for 0.2 s"):
            apiserver.acquire(paths, None, lambda u, t: True, timeout=0.2)
    finally:
        os.close(fd)


@pytest.mark.parametrize(("value", "seconds"), [("", 600.0), ("0", 0.0), ("0.5", 30.0), (" 2 ", 120.0)])
def test_the_idle_time_comes_from_the_environment(monkeypatch, value, seconds):
    monkeypatch.setenv(API_IDLE_ENV, value)
    assert api_idle_seconds() == seconds


@pytest.mark.parametrize("value", ["-1", "nan", "ten", "1e9", "inf"])
def test_a_bad_idle_time_is_one_line_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(API_IDLE_ENV, value)
    with pytest.raises(ConfigError) as info:
        api_idle_seconds()
    assert str(info.value).startswith(f"{API_IDLE_ENV}: ") and "\n" not in str(info.value)
