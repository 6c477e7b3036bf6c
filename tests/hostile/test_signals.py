"""Signals end a command and the Prefect API server it started, within seconds, leaving no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.api import Stopped, stop_on_signals

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes (its parent has not reaped it yet)
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_raises_stopped_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as info, stop_on_signals(grace=0.5):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here, at once
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert str(info.value) == "stopped by SIGTERM: nothing was published"
    assert signal.getsignal(signal.SIGTERM) is before
    time.sleep(1)  # past the grace deadline: it was cancelled on leaving, so this process is still here


def test_a_command_that_does_not_end_after_a_signal_is_ended(tmp_path):
    """Unwinding that hangs (a dead API retried, a blocked write) is cut short at the grace deadline."""
    code = textwrap.dedent("""
        import os, signal, time
        from flows.api import stop_on_signals
        with stop_on_signals(grace=0.5, process_ends=True):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                time.sleep(30)  # a cleanup that never ends
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert time.monotonic() - started < 10
    assert proc.returncode == 128 + signal.SIGTERM
    assert proc.stderr == "error: stopped by SIGTERM: nothing was published\n"


def test_sigint_is_a_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), stop_on_signals(grace=0.5):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_server_process_dies_with_a_killed_command(tmp_path):
    """The server is started as flows.api starts it (own session, told to die with its parent); the parent
    is then killed with SIGKILL, which no handler can see."""
    parent = textwrap.dedent("""
        import subprocess, sys, time
        from flows import api
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True, preexec_fn=api.die_with_parent)
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    assert _alive(child)
    proc.kill()
    proc.wait()
    assert _gone_within(child, 5), "the child outlived its killed parent"


@pytest.mark.e2e
def _console_script() -> list[str]:
    """The installed ``pace-linkage`` command, as a user types it."""
    script = Path(sys.executable).with_name("pace-linkage")
    if not script.exists():
        pytest.skip("the pace-linkage console script is not installed next to this interpreter")
    return [str(script)]


def test_the_console_script_is_the_entry_point_that_handles_signals():
    """``pace-linkage`` and ``python -m flows`` start at the same function, the one that turns a signal into a
    one-line error and an exit status of 128 + signal."""
    from importlib.metadata import entry_points

    from flows.cli import main

    (script,) = entry_points(group="console_scripts", name="pace-linkage")
    assert script.load() is main


@pytest.mark.parametrize("launcher", ["module", "console script"])
def test_sigterm_to_the_process_group_ends_a_run_and_its_server(tmp_path, synth_data, launcher):
    """A run stopped by SIGTERM to its whole process group (as a service manager or a terminal stops it)
    exits 143 within seconds, says so in one line, publishes nothing and leaves no API server (a server of its
    own: PACE_LINKAGE_API_IDLE_MINUTES=0), whether started as ``python -m flows`` or as ``pace-linkage``."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PACE_LINKAGE_API_IDLE_MINUTES"] = "0"
    command = [sys.executable, "-m", "flows"] if launcher == "module" else _console_script()
    proc = subprocess.Popen(
        [*command, "run", "--extracts", str(synth_data / "extracts"), "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = proc.stdout.readline()  # the first stage line: Prefect and its server are up
    assert first.startswith("ingest"), first
    servers = subprocess.run(["pgrep", "-f", "uvicorn.*prefect.server"],
                             capture_output=True, text=True).stdout.split()
    ours = [int(p) for p in servers if _server_of(int(p), env["PREFECT_HOME"])]
    assert ours, "the run started no API server of its own"
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 15
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: stopped by SIGTERM: nothing was published"
    assert "Traceback" not in err
    assert not (out / "manifest.json").exists() and not (out / "clusters.csv").exists()
    assert all(_gone_within(p, 5) for p in ours)


@pytest.mark.e2e
def test_a_shared_server_outlives_a_stopped_command_and_stops_when_idle(tmp_path, synth_data):
    """Two runs at once share one API server. SIGTERM to the first one's process group ends that run as above;
    the server does not die with it, the second run completes on it, and the server stops once nobody has used
    it for PACE_LINKAGE_API_IDLE_MINUTES (here 3 s)."""
    from flows import apiserver

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PACE_LINKAGE_API_IDLE_MINUTES"] = "0.05"

    def start(out: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--extracts", str(synth_data / "extracts"), "--out",
             str(tmp_path / out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)

    stopped, other = start("stopped"), start("other")
    assert stopped.stdout.readline().startswith("ingest")  # its flow runs: the server is up
    states = list((tmp_path / "prefect" / apiserver.FOLDER).glob("*.json"))
    assert len(states) == 1, "two runs at once must share one server"
    server = apiserver.read_state(apiserver.Paths.under(states[0].parent, states[0].stem))["pid"]
    os.killpg(stopped.pid, signal.SIGTERM)
    _, err = stopped.communicate(timeout=30)
    assert stopped.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: stopped by SIGTERM: nothing was published"
    assert _alive(server), "the shared server died with one command"
    _, err = other.communicate(timeout=120)
    assert other.returncode == 0, err[-2000:]
    assert (tmp_path / "other" / "manifest.json").exists() and not (tmp_path / "stopped" / "manifest.json").exists()
    assert [p for p in _servers_of(env["PREFECT_HOME"])] == [server]
    assert _gone_within(server, 3 + 1 + 10), "an unused shared server must stop after its idle time"
    assert not states[0].exists()


def _servers_of(prefect_home: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "flows.apiserver"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found if _server_of(int(p), prefect_home)]


def _server_of(pid: int, prefect_home: str) -> bool:
    """True if process ``pid`` runs with this PREFECT_HOME (the test's run, not another one on the machine)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"PREFECT_HOME={prefect_home}".encode() in environ


def test_an_error_raised_while_a_signal_unwinds_a_stage_is_that_signal():
    """An engine's cleanup can fail while a signal unwinds a task (its error then replaces the signal): the
    value-free wrapper passes the signal on, never a 'stage failed' that would hide it."""
    from flows.tasks import value_free

    def body():
        try:
            raise Stopped(signal.SIGTERM)
        except Stopped:
            raise ValueError("cleanup failed") from None  # from None hides the cause, not the context

    with pytest.raises(Stopped):
        value_free("stage test", body)
    with pytest.raises(Exception, match="stage test failed: unexpected ValueError"):
        value_free("stage test", lambda: int("x"))
