"""Shared fixtures. Prefect runs offline (telemetry off) against one test harness per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# property tests check results, not speed: speed is measured by the benchmarks, so hypothesis's per-example
# deadline (which a loaded machine or a busy CI runner can miss) is off for every test
settings.register_profile("pace-linkage", deadline=None)
settings.load_profile("pace-linkage")

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# the local Prefect API the CLI tests start is shared between them, and stops a minute after the last one
os.environ.setdefault("PACE_LINKAGE_API_IDLE_MINUTES", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_xdist_auto_num_workers(config) -> int | None:
    """``-n auto`` (pyproject addopts) means a worker per core, except for a run of one test file, where
    starting the workers would cost more than they save: that runs in this process."""
    files = {str(arg).split("::")[0] for arg in config.args}
    if len(files) == 1 and next(iter(files)).endswith(".py"):
        return 0
    return None  # pytest-xdist's own count (one per core; --maxprocesses caps it)


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("prefect_home")
    os.environ["PREFECT_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def prefect_harness(prefect_home):
    """One Prefect test harness (a temporary local API) for the whole session (~9 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    import flows.settings  # noqa: F401

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


def write(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """A small synthetic PACE data set (400 people, seed 7): extracts/ and truth.csv."""
    import synthetic

    out = tmp_path_factory.mktemp("synth")
    synthetic.generate(people=400, seed=7, out_dir=out)
    return out


@pytest.fixture(scope="session")
def run_out(prefect_harness, synth_data, tmp_path_factory):
    """One run of the pipeline flow on ``synth_data`` with truth: (OUT folder, the flow's return value)."""
    from flows.pipeline import pace_linkage_pipeline

    out = tmp_path_factory.mktemp("run")
    result = pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out),
                                   truth=str(synth_data / "truth.csv"), run_id="first")
    return out, result


def library_run(extracts: Path, cfg=None):
    """The pipeline's stages through the library only (no Prefect): a RunResults for ``extracts``."""
    from pace_linkage.config import load_config
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate.metrics import RunResults
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.pipeline import read_batches

    cfg = cfg or load_config()
    batches, _ = read_batches(cfg, extracts)
    res = Linker.from_config(cfg).run(assemble(batches))
    return RunResults(cfg=cfg, threshold=cfg.linkage.threshold, batches=batches, failures=[], records=res.records,
                      blocking=res.blocking, gamma=res.gamma, model=res.model, scored=res.scores,
                      clusters=res.clusters)
