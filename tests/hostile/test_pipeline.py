"""The whole pipeline on a hostile extract set: every row accounted for, every reason from the closed set,
and no spreadsheet formula left live in any CSV the pipeline writes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from pace_linkage.ingest.validate import ROW_REASONS
from pace_linkage.pipeline import read_sources

from .conftest import ALPHA_BAD, FORMULA_STARTS

pytestmark = pytest.mark.e2e

QUARANTINE_COLUMNS = ["source", "file", "line", "reasons"]


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def live_formulas(path: Path) -> list[tuple[int, int]]:
    """(row, column) of every cell a spreadsheet would run as a formula: one starting with = + - @ (or tab /
    CR) that is not a plain number (``-40.0`` in a numeric column is read as a number, never run)."""
    return [(i, j) for i, row in enumerate(read_rows(path)) for j, cell in enumerate(row)
            if cell.startswith((*FORMULA_STARTS, "\t", "\r")) and not NUMBER.fullmatch(cell)]


def guarded_cells(path: Path) -> int:
    return sum(cell.startswith("'") and cell[1:2] in FORMULA_STARTS for row in read_rows(path) for cell in row)


@pytest.fixture(scope="module")
def run(hostile_run):
    out, result = hostile_run
    return out, result, json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def extra_csvs(run, hostile, tmp_path_factory) -> list[Path]:
    """The review export and the tuner's thresholds.csv for the hostile run (library path)."""
    from pace_linkage.config import load_config
    from pace_linkage.evaluate import review, tune
    from pace_linkage.evaluate.metrics import load_truth

    out = run[0]
    cfg = load_config(hostile["config"])
    data = tune.load_run(out)
    sheet = review.build_review(data, read_sources(cfg, hostile["extracts"]), cfg, n=50)
    where = tmp_path_factory.mktemp("hostile_review")
    review.write_review(where / "review.csv", sheet)
    tune.tune_run(out, load_truth(hostile["truth"]), where / "tune")
    return [where / "review.csv", where / "tune" / "thresholds.csv"]


def test_the_hostile_run_finishes_with_no_source_failed(run):
    _, result, metrics = run
    assert result["sources_failed"] == [] and metrics["sources_failed"] == []
    assert sorted(metrics["counts"]["by_source"]) == ["alpha", "beta", "gamma"]


def test_every_row_is_accounted_for_per_source_and_in_total(run):
    _, result, metrics = run
    counts = metrics["counts"]
    keys = ("rows_in", "rows_accepted", "rows_quarantined", "rows_withheld")
    for src, c in counts["by_source"].items():
        assert c["rows_in"] == c["rows_accepted"] + c["rows_quarantined"] + c["rows_withheld"], src
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"] + counts["rows_withheld"]
    for k in keys:
        assert counts[k] == sum(c[k] for c in counts["by_source"].values()) == result["counts"][k]
    # alpha: 25 good rows, 1 exact repeat and 11 bad rows; beta: 16 good + 3 bad; gamma: 16 good + 1 bad
    assert [counts["by_source"][s]["rows_in"] for s in ("alpha", "beta", "gamma")] == [37, 19, 17]
    assert [counts["by_source"][s]["rows_quarantined"] for s in ("alpha", "beta", "gamma")] == [12, 3, 1]


def test_at_least_ten_kinds_of_bad_row_are_quarantined_each_with_its_reason(run):
    out, _, metrics = run
    kinds = set()
    for c in metrics["counts"]["by_source"].values():
        kinds |= set(c["reasons"])
    assert len(kinds) >= 10, kinds
    expected = set().union(*(reasons for _, reasons in ALPHA_BAD)) | {"duplicate_row"}
    assert set(metrics["counts"]["by_source"]["alpha"]["reasons"]) == expected


def test_every_quarantined_row_has_a_closed_reason_source_file_and_1_based_line(run):
    out = run[0]
    rows = read_rows(out / "quarantine.csv")
    assert rows[0] == QUARANTINE_COLUMNS  # no raw values in the summary
    body = rows[1:]
    assert len(body) == 16
    files = {"alpha": "alpha.csv", "beta": "beta.jsonl", "gamma": "gamma.csv"}
    for src, file, line, reasons in body:
        assert files[src] == file and int(line) >= 1
        codes = reasons.split(";")
        assert codes and set(codes) <= set(ROW_REASONS), reasons
    alpha_lines = sorted(int(r[2]) for r in body if r[0] == "alpha")
    assert alpha_lines == [29, *range(30, 41)]  # the repeat on line 29, then the bad rows at their physical lines


def test_per_source_quarantine_files_keep_every_original_row(run):
    out, _, metrics = run
    for src, c in metrics["counts"]["by_source"].items():
        rows = read_rows(out / "quarantine" / f"{src}.csv")
        assert rows[0] == ["file", "line", "reasons", "raw"]
        assert len(rows) - 1 == c["rows_quarantined"]
        assert all(r[3] for r in rows[1:]), f"{src}: a quarantined row lost its original cells"
    alpha = {int(r[1]): r[3] for r in read_rows(out / "quarantine" / "alpha.csv")[1:]}
    assert alpha[30] == "2,Jones"  # never padded
    assert alpha[33] == 'x4,JG000003A,"Sm"ith,Smith,1980-01-01,EH1 1AB,0131'  # malformed: the line as it was
    assert alpha[31].startswith("'=cmd")  # kept, and neutralised


def test_null_like_surnames_and_leading_zero_ids_survive_into_the_clusters(run):
    out = run[0]
    rows = read_rows(out / "clusters.csv")
    keys = {(r[0], r[1]) for r in rows[1:]}
    assert ("alpha", "A099") in keys  # surname NULL, but the row has a NINO: accepted, not dropped
    assert ("beta", "0007") in keys and ("beta", "'+0001") in keys


def test_no_csv_written_by_the_run_holds_a_live_spreadsheet_formula(run):
    out = run[0]
    written = sorted(out.rglob("*.csv"))
    names = {p.relative_to(out).as_posix() for p in written}
    assert {"clusters.csv", "quarantine.csv", "conflicts.csv", "quarantine/alpha.csv"} <= names
    for path in written:
        assert live_formulas(path) == [], path.name
    # the scan is not vacuous: formula-like ids and rows were written, guarded with a leading '
    assert guarded_cells(out / "clusters.csv") >= 4
    assert guarded_cells(out / "quarantine" / "alpha.csv") >= 2


def test_review_export_and_thresholds_csv_hold_no_live_formula(extra_csvs):
    for path in extra_csvs:
        assert path.exists() and live_formulas(path) == [], path.name
    assert guarded_cells(extra_csvs[0]) >= 1  # the sheet names the formula-like record ids, guarded
