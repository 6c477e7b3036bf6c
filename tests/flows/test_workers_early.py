"""The run command reads its extracts in a worker process from its start, while Prefect loads; the flow takes
that pool only when it reads the same extracts with the same config and features."""

from __future__ import annotations

import multiprocessing

import pytest

from flows import workers
from pace_linkage.config import load_config
from pace_linkage.ingest.sources import SourceBatch, ingest_source


@pytest.fixture
def early(monkeypatch):
    """Any extracts are large enough to be read early; the environment does not choose."""
    monkeypatch.delenv(workers.PROCESSES_ENV, raising=False)
    monkeypatch.setattr(workers, "EARLY_MIN_BYTES", 0)
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 2)


def _closed(monkeypatch) -> list:
    calls: list = []
    real = workers.Pool.close
    monkeypatch.setattr(workers.Pool, "close", lambda self: (calls.append(self), real(self)))
    return calls


def test_a_flow_reading_the_same_inputs_takes_the_early_pool(early, monkeypatch, synth_data):
    cfg, extracts, features = load_config(), synth_data / "extracts", ()
    closed = _closed(monkeypatch)
    with workers.reading_early(cfg, extracts, features):
        assert len(multiprocessing.active_children()) == 1
        key = workers.reading_key(load_config(), extracts, features)  # the flow loads the same config again
        with workers.side_by_side(cfg.sources.items, extracts, key) as pool:
            assert pool is not None and pool.reading
            pool.read(cfg, extracts, features)  # the flow's call: already reading, nothing handed over twice
            for src in cfg.sources.items:
                got = workers.ingested(src, cfg, extracts, features)
                want = ingest_source(src, cfg, extracts, features=features)
                assert isinstance(got, SourceBatch)
                assert (got.source, got.rows_in, got.rows_quarantined) == (want.source, want.rows_in,
                                                                            want.rows_quarantined)
                done = workers.normalised(got, src, cfg, features)
                assert len(done.records) == want.rows_in - want.rows_quarantined - want.rows_withheld
    assert closed and multiprocessing.active_children() == []


@pytest.mark.parametrize("other", ["config", "extracts", "features"])
def test_a_flow_reading_other_inputs_terminates_the_early_pool_unused(early, monkeypatch, synth_data, tmp_path,
                                                                      other):
    cfg, extracts, features = load_config(), synth_data / "extracts", ()
    closed = _closed(monkeypatch)
    changed = load_config()
    changed.linkage.threshold = 0.5
    key = {"config": workers.reading_key(changed, extracts, features),
           "extracts": workers.reading_key(cfg, tmp_path, features),
           "features": workers.reading_key(cfg, extracts, [])}[other]
    with workers.reading_early(cfg, extracts, features):
        with workers.side_by_side(cfg.sources.items, extracts, key) as pool:
            assert pool is None  # small extracts: the flow reads them itself
            assert multiprocessing.active_children() == []
    assert not closed


def test_an_early_pool_the_flow_never_took_ends_with_the_command(early, synth_data):
    cfg = load_config()
    with pytest.raises(RuntimeError), workers.reading_early(cfg, synth_data / "extracts", ()):
        assert len(multiprocessing.active_children()) == 1
        raise RuntimeError("Prefect could not start")
    assert multiprocessing.active_children() == []


def test_small_extracts_or_a_chosen_single_process_are_not_read_early(monkeypatch, synth_data):
    cfg = load_config()
    monkeypatch.delenv(workers.PROCESSES_ENV, raising=False)
    assert sum(workers.source_size(s, synth_data / "extracts") for s in cfg.sources.items) < workers.EARLY_MIN_BYTES
    with workers.reading_early(cfg, synth_data / "extracts", ()):
        assert multiprocessing.active_children() == []
    monkeypatch.setattr(workers, "EARLY_MIN_BYTES", 0)
    monkeypatch.setenv(workers.PROCESSES_ENV, "1")
    with workers.reading_early(cfg, synth_data / "extracts", ()):
        assert multiprocessing.active_children() == []


def test_a_run_whose_extracts_were_read_early_publishes_the_same_bytes(early, prefect_harness, run_out,
                                                                      synth_data, tmp_path, monkeypatch):
    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.pipeline import DEFAULT_FEATURES

    first, _ = run_out
    closed = _closed(monkeypatch)
    out = tmp_path / "out"
    with workers.reading_early(load_config(), synth_data / "extracts", DEFAULT_FEATURES):
        pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out),
                              truth=str(synth_data / "truth.csv"), run_id="first")
    assert closed and multiprocessing.active_children() == []
    for name in ("clusters.csv", "pairs.parquet", "metrics.json", "quarantine.csv", "report.html", "model.json"):
        assert (out / name).read_bytes() == (first / name).read_bytes(), name
