"""The independent data set (benchmarks/independent.py): its config loads with the default linkage settings,
every record is read and in the truth file, and the same seed writes the same files."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import independent  # noqa: E402

from pace_linkage.config import load_config  # noqa: E402
from pace_linkage.pipeline import read_sources  # noqa: E402


def test_the_independent_set_reads_whole_under_its_config(tmp_path):
    summary = independent.write(tmp_path / "a", n_people=150, seed=3)
    cfg = load_config(tmp_path / "a" / "config" / "pace.yaml")
    assert cfg.linkage == load_config(ROOT / "config" / "pace.yaml").linkage  # linkage settings unchanged
    assert {s.name for s in cfg.sources.items} == set(summary["partners"])
    records = read_sources(cfg, tmp_path / "a" / "extracts")
    truth = pd.read_csv(tmp_path / "a" / "truth.csv", dtype=str)
    assert len(records) == len(truth) == summary["records"]
    assert set(zip(records["source"], records["record_id"], strict=True)) == \
        set(zip(truth["source"], truth["record_id"], strict=True))
    assert records["dob"].notna().mean() > 0.9  # every date layout is read as configured


def test_same_seed_same_files(tmp_path):
    independent.write(tmp_path / "a", n_people=60, seed=5)
    independent.write(tmp_path / "b", n_people=60, seed=5)
    for f in sorted((tmp_path / "a" / "extracts").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "extracts" / f.name).read_bytes()
