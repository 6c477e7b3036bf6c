"""Sources read side by side in worker processes give the run the same outputs as one process."""

from __future__ import annotations

import multiprocessing
import shutil

import pytest

from flows import workers
from pace_linkage.config import load_config
from pace_linkage.errors import ConfigError
from pace_linkage.ingest.sources import SourceFailure


@pytest.mark.parametrize(("value", "expected"), [("0", 1), ("1", 1), ("2", 2), (" 3 ", 3), ("99", None)])
def test_the_environment_chooses_the_processes_up_to_one_per_source(monkeypatch, synth_data, value, expected):
    cfg = load_config()
    monkeypatch.setenv(workers.PROCESSES_ENV, value)
    assert workers.planned_processes(cfg.sources.items, synth_data / "extracts") == (
        expected or len(cfg.sources.items))


def test_small_extracts_are_read_in_the_command_s_own_process(monkeypatch, synth_data):
    monkeypatch.delenv(workers.PROCESSES_ENV, raising=False)
    cfg = load_config()
    assert sum(workers.source_size(s, synth_data / "extracts") for s in cfg.sources.items) < workers.MIN_BYTES
    assert workers.planned_processes(cfg.sources.items, synth_data / "extracts") == 1


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_number_of_processes_is_one_line_naming_the_variable(monkeypatch, synth_data, value):
    monkeypatch.setenv(workers.PROCESSES_ENV, value)
    with pytest.raises(ConfigError) as err:
        workers.planned_processes(load_config().sources.items, synth_data / "extracts")
    assert str(err.value).startswith(workers.PROCESSES_ENV) and value not in str(err.value)


def test_an_error_in_the_flow_stops_the_workers_at_once(monkeypatch, synth_data):
    monkeypatch.setenv(workers.PROCESSES_ENV, "2")
    cfg = load_config()
    with pytest.raises(RuntimeError), workers.side_by_side(cfg.sources.items, synth_data / "extracts") as pool:
        pool.read(cfg, synth_data / "extracts", ())
        assert len(multiprocessing.active_children()) >= 2
        raise RuntimeError("the flow failed")
    assert multiprocessing.active_children() == []


def test_a_run_read_side_by_side_publishes_the_same_bytes(prefect_harness, run_out, synth_data, tmp_path,
                                                          monkeypatch):
    from flows.pipeline import pace_linkage_pipeline

    first, _ = run_out
    monkeypatch.setenv(workers.PROCESSES_ENV, "2")
    out = tmp_path / "out"
    result = pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out),
                                   truth=str(synth_data / "truth.csv"), run_id="first")
    assert multiprocessing.active_children() == []
    assert result["counts"]["rows_in"] > 0
    for name in ("clusters.csv", "pairs.parquet", "metrics.json", "quarantine.csv", "report.html", "model.json"):
        assert (out / name).read_bytes() == (first / name).read_bytes(), name


def test_a_source_that_cannot_be_read_fails_as_it_does_in_one_process(prefect_harness, synth_data, tmp_path,
                                                                      monkeypatch):
    from flows.pipeline import pace_linkage_pipeline

    extracts = shutil.copytree(synth_data / "extracts", tmp_path / "extracts")
    cfg = load_config()
    broken = next(s for s in cfg.sources.items if s.file.endswith(".csv"))
    (extracts / broken.file).write_bytes(b"\xff\xfe\x00not text at all\x00" * 100)
    monkeypatch.setenv(workers.PROCESSES_ENV, "2")
    result = pace_linkage_pipeline(extracts=str(extracts), out=str(tmp_path / "out"), allow_partial=True)
    assert result["sources_failed"] == [broken.name]
    assert multiprocessing.active_children() == []
    single = workers.ingested(broken, cfg, extracts, ())
    assert isinstance(single, SourceFailure)


def test_workers_die_with_a_killed_command(synth_data, tmp_path):
    """A command killed while its workers read (SIGKILL: no exit path runs) leaves no worker behind."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = tmp_path / "reader.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing, os, time
        from pathlib import Path
        from flows import workers
        from pace_linkage.config import load_config
        if __name__ == "__main__":
            os.environ[workers.PROCESSES_ENV] = "2"
            cfg = load_config()
            with workers.side_by_side(cfg.sources.items, Path({str(synth_data / "extracts")!r})) as pool:
                print(*[p.pid for p in multiprocessing.active_children()], flush=True)
                time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return not stat.split(") ", 1)[1].startswith("Z")  # a zombie is gone for our purposes
