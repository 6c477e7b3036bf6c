"""pairs.parquet staged in a thread while the run is evaluated: the same file, collected before sealing, and
stopped with the writer."""

from __future__ import annotations

import threading

import pytest
from conftest import library_run

from pace_linkage import pipeline
from pace_linkage.errors import PaceError
from pace_linkage.store import outputs
from pace_linkage.store.outputs import RunWriter


@pytest.fixture(scope="module")
def run(synth_data):
    return library_run(synth_data / "extracts")


def _staged(writer: RunWriter) -> bytes:
    return (writer.staging / "pairs.parquet").read_bytes()


def test_pairs_staged_ahead_are_the_file_staged_in_turn(run, tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "PARQUET_ROW_GROUP", 97)  # many row groups
    ahead, in_turn = RunWriter(tmp_path / "a", "ahead"), RunWriter(tmp_path / "b", "in-turn")
    try:
        pipeline.stage_pairs_ahead(ahead, run)
        assert ahead.collect("pairs.parquet") and "pairs.parquet" in ahead.files
        assert not ahead.collect("pairs.parquet")  # collected once
        pipeline.stage_pairs_file(in_turn, run)
        assert _staged(ahead) == _staged(in_turn)
    finally:
        ahead.close()
        in_turn.close()


def test_sealing_waits_for_a_file_staged_ahead(run, tmp_path):
    writer = RunWriter(tmp_path / "out", "sealed")
    try:
        pipeline.stage_pairs_ahead(writer, run)
        intent = writer.seal({})
        assert "pairs.parquet" in intent["files"]
    finally:
        writer.close()


def test_closing_the_writer_stops_the_file_and_removes_the_staging_folder(run, tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "PARQUET_ROW_GROUP", 13)
    started, release = threading.Event(), threading.Event()
    real = outputs.RunWriter.write_parquet_stream

    def slow(self, name, frames):
        started.set()
        release.wait(10)
        return real(self, name, frames)

    monkeypatch.setattr(outputs.RunWriter, "write_parquet_stream", slow)
    made = []
    real_makers = pipeline.pairs_slice_makers
    monkeypatch.setattr(pipeline, "pairs_slice_makers", lambda r, rows: [
        (lambda m=m: made.append(1) or m()) for m in real_makers(r, rows)])
    writer = RunWriter(tmp_path / "out", "stopped")
    pipeline.stage_pairs_ahead(writer, run)
    assert started.wait(10)
    staging = writer.staging
    threading.Timer(0.2, release.set).start()  # the run ends while the file is being written
    writer.close()
    assert made == []  # stopped before its first row group
    assert not staging.exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("stage-pairs")]


def test_an_error_staging_ahead_is_raised_when_collected(run, tmp_path, monkeypatch):
    def broken(self, name, frames):
        raise PaceError("pairs.parquet: disk full")

    monkeypatch.setattr(outputs.RunWriter, "write_parquet_stream", broken)
    writer = RunWriter(tmp_path / "out", "broken")
    try:
        pipeline.stage_pairs_ahead(writer, run)
        with pytest.raises(PaceError, match="disk full"):
            writer.collect("pairs.parquet")
    finally:
        writer.close()
