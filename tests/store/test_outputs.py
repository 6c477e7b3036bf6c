"""Outputs are private, atomic, deterministic and verified by a manifest written last."""

from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from pace_linkage.errors import InputError
from pace_linkage.redact import safe_csv_frame
from pace_linkage.store.outputs import RunWriter, csv_bytes, parquet_bytes, verify_manifest


def test_published_files_are_owner_only_and_listed_in_the_manifest(tmp_path):
    w = RunWriter(tmp_path / "out", run_id="r1")
    w.write_csv("a.csv", pd.DataFrame({"x": [1, 2]}))
    w.write_json("m.json", {"b": 1, "a": 2})
    w.write_csv("sub/q.csv", pd.DataFrame({"x": [3]}))
    w.publish()
    out = tmp_path / "out"
    for p in [out / "a.csv", out / "m.json", out / "sub" / "q.csv", out / "manifest.json"]:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    manifest = verify_manifest(out)
    assert sorted(manifest["files"]) == ["a.csv", "m.json", "sub/q.csv"]
    assert not [p for p in out.rglob("*") if ".staging" in str(p) or p.name.endswith(".tmp")]


def test_a_failed_run_leaves_the_previous_outputs_untouched(tmp_path):
    out = tmp_path / "out"
    w = RunWriter(out, run_id="good")
    w.write_text("report.html", "old")
    w.publish()
    before = (out / "report.html").read_bytes()
    w2 = RunWriter(out, run_id="bad")
    w2.write_text("report.html", "new")
    w2.discard()  # what the pipeline does when a later stage fails
    assert (out / "report.html").read_bytes() == before
    assert verify_manifest(out)["run_id"] == "good"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_tampered_file_fails_manifest_verification(tmp_path):
    w = RunWriter(tmp_path, run_id="r")
    w.write_text("report.html", "x")
    w.publish()
    (tmp_path / "report.html").write_text("changed")
    with pytest.raises(InputError, match="SHA-256"):
        verify_manifest(tmp_path)


def test_spreadsheet_formulas_are_neutralised_in_csv(tmp_path):
    df = pd.DataFrame({"a": ["=SUM(A1)", "+1", "-2", "@x", "ok", None]})
    out = safe_csv_frame(df)["a"].tolist()
    assert out[:5] == ["'=SUM(A1)", "'+1", "'-2", "'@x", "ok"]
    assert b"'=SUM" in csv_bytes(df)


def test_csv_and_parquet_bytes_are_deterministic():
    df = pd.DataFrame({"a": ["x", "y"], "b": [1.5, 2.0]})
    assert csv_bytes(df) == csv_bytes(df.copy())
    assert parquet_bytes(df) == parquet_bytes(df.copy())
    assert json.loads(b"{}") == {}
