"""Crash safety: a run that fails at any stage leaves OUT holding the complete previous run.

The fault hook ``PACE_LINKAGE_FAULT=<stage>`` stops the flow at the start of a stage. Each crash run goes over
an OUT that holds a complete previous run and asks for a different threshold, so any file it managed to
publish would differ. Afterwards every previous file has its SHA-256, no ``*.tmp`` or ``.staging-*`` is left
and the manifest verifies. A failure in the middle of publishing (an ``os.replace`` refusing) rolls back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

STAGES = ["ingest", "normalise", "block", "compare", "train-model", "score", "cluster", "evaluate", "report",
          "publish"]


def snapshot(out: Path) -> dict[str, str]:
    """Every file under OUT (hidden ones too) with its SHA-256."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.endswith(".tmp") or p.name.startswith(".staging-"))


@pytest.fixture(scope="module")
def previous(run_out, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of a complete run's OUT (the session run stays untouched) and its snapshot."""
    out = tmp_path_factory.mktemp("crash") / "out"
    shutil.copytree(run_out[0], out)
    return out, snapshot(out)


@pytest.mark.parametrize("stage", STAGES)
def test_a_crash_at_any_stage_leaves_the_previous_run_untouched(stage, previous, synth_data, monkeypatch):
    from flows.pipeline import pace_linkage_pipeline
    from flows.tasks import FAULT_ENV
    from pace_linkage.store.outputs import verify_manifest

    out, before = previous
    monkeypatch.setenv(FAULT_ENV, stage)
    state = pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out), threshold=0.01,
                                  truth=str(synth_data / "truth.csv"), run_id=f"crash-{stage}", return_state=True)
    assert state.is_failed()
    assert f"stage {stage}: fault injected" in state.message
    assert snapshot(out) == before
    assert leftovers(out) == []
    assert verify_manifest(out)["run_id"] == "first"


def test_the_fault_hook_is_a_value_free_non_retryable_error(monkeypatch):
    from flows.tasks import FAULT_ENV, InjectedFault, check_fault, retry_unless_pace_error

    monkeypatch.delenv(FAULT_ENV, raising=False)
    check_fault("compare")  # unset: nothing happens
    monkeypatch.setenv(FAULT_ENV, "score, compare")
    check_fault("block")
    with pytest.raises(InjectedFault, match="stage compare") as info:
        check_fault("compare")
    monkeypatch.setenv(FAULT_ENV, "*")
    with pytest.raises(InjectedFault):
        check_fault("evaluate")

    class Failed:
        data = info.value

    assert retry_unless_pace_error(None, None, Failed()) is False


def test_a_failure_half_way_through_publishing_rolls_back_to_the_previous_run(previous, synth_data, monkeypatch):
    from flows import tasks
    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.store import outputs

    out, before = previous
    real_replace = os.replace

    def flaky_replace(src, dst):
        # refuse to publish metrics.json (half-way through the sorted file list), like a full disk would
        if Path(src).parent.name.startswith(".staging-") and Path(src).name == "metrics.json":
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", flaky_replace)
    monkeypatch.setattr(tasks, "publish", tasks.publish.with_options(retries=0))
    state = pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out), threshold=0.01,
                                  truth=str(synth_data / "truth.csv"), run_id="half-published", return_state=True)
    monkeypatch.setattr(outputs.os, "replace", real_replace)
    assert state.is_failed() and "publishing run half-published failed (OSError)" in state.message
    assert snapshot(out) == before
    assert leftovers(out) == []
    assert outputs.verify_manifest(out)["run_id"] == "first"


def test_a_successful_run_leaves_no_temporary_file_or_staging_folder(run_out):
    out, _ = run_out
    assert leftovers(out) == []
    assert not any(p.name == ".previous" for p in out.rglob("*"))


def test_a_successful_run_over_a_previous_one_replaces_it_completely(previous, synth_data, tmp_path):
    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.store.outputs import verify_manifest

    out = tmp_path / "out"
    shutil.copytree(previous[0], out)
    pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out), threshold=0.01,
                          truth=str(synth_data / "truth.csv"), run_id="replacement")
    manifest = verify_manifest(out)
    assert manifest["run_id"] == "replacement"
    after = snapshot(out)
    assert after["clusters.csv"] != previous[1]["clusters.csv"]  # the new threshold took effect
    assert leftovers(out) == []
