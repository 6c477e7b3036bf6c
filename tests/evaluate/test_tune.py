"""Threshold tuning over a finished run's stored pairs: known answers on a hand-built run folder."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pace_linkage.errors import InputError
from pace_linkage.evaluate import tune
from pace_linkage.store.outputs import RunWriter, verify_manifest

# Four people: A (two records), B (two records), C and D (one each).
RECORDS = [("sds", "A1", "pA"), ("dwp", "A2", "pA"), ("sds", "B1", "pB"), ("dwp", "B2", "pB"),
           ("sds", "C1", "pC"), ("dwp", "-7", "pD")]
# (left, right, weight): A1-A2 clearly a match, B1-B2 a match at p = 0.8, A2-C1 a non-match at p = 0.5,
# C1-D1 a non-match far below.
PAIRS = [(("sds", "A1"), ("dwp", "A2"), 10.0), (("sds", "B1"), ("dwp", "B2"), 2.0),
         (("dwp", "A2"), ("sds", "C1"), 0.0), (("sds", "C1"), ("dwp", "-7"), -5.0)]


def write_run(out: Path, records=RECORDS, pairs=PAIRS, threshold: float = 0.9, config_hash: str = "h") -> Path:
    """A finished run folder as the pipeline publishes it (manifest last), built by hand."""
    writer = RunWriter(out)
    clusters = pd.DataFrame(records, columns=["source", "record_id", "person"]).drop(columns="person")
    clusters["pace_id"] = "P" + clusters.index.astype(str)
    writer.write_csv("clusters.csv", clusters.sort_values(["source", "record_id"]))
    w = np.array([p[2] for p in pairs], dtype=float)
    frame = pd.DataFrame({
        "source_l": [p[0][0] for p in pairs], "record_id_l": [p[0][1] for p in pairs],
        "source_r": [p[1][0] for p in pairs], "record_id_r": [p[1][1] for p in pairs],
        "blocking_rule": "rule", "match_weight": w, "match_probability": tune.probability_from_weight(w).round(12),
    })
    writer.write_parquet("pairs.parquet", frame)
    writer.write_json("metrics.json", {"run": {"threshold": threshold}})
    writer.publish({"config_hash": config_hash})
    return out


def truth_frame(records=RECORDS) -> pd.DataFrame:
    return pd.DataFrame(records, columns=["source", "record_id", "person_id"])


def test_threshold_grid_covers_fine_steps_weight_extremes_and_the_run_threshold():
    grid = tune.threshold_grid(0.937)
    assert np.all(np.diff(grid) > 0)
    for t in (0.01, 0.5, 0.99, 0.937):
        assert np.isclose(grid, t).any()
    assert grid.min() < 1e-11 and grid.max() > 1 - 1e-11  # weights -40 and +40
    assert len(grid) == 99 + 2 * len(tune.EXTREME_WEIGHTS) + 1


def test_probability_from_weight_is_the_log2_logistic_and_never_overflows():
    p = tune.probability_from_weight(np.array([-2000.0, -1.0, 0.0, 1.0, 2000.0]))
    assert p.tolist() == pytest.approx([0.0, 1 / 3, 0.5, 2 / 3, 1.0])
    w = np.array([-30.0, -2.5, 0.0, 7.0, 30.0])
    assert tune.weight_from_probability(tune.probability_from_weight(w)) == pytest.approx(w)


def test_sweep_over_a_hand_built_run_gives_the_known_precision_and_recall(tmp_path):
    run = tune.load_run(write_run(tmp_path / "run"))
    sweep = tune.sweep(run, truth_frame(), [0.5, 0.7, 0.9])
    rows = sweep.set_index("threshold")
    # t = 0.9: only A1-A2 -> 1 true pair of 2; t = 0.7: B too -> perfect; t = 0.5: A2-C1 joins C to A's cluster
    assert rows.loc[0.9, ["precision", "recall", "links", "clusters"]].tolist() == [1.0, 0.5, 1, 5]
    assert rows.loc[0.7, ["precision", "recall", "links", "clusters"]].tolist() == [1.0, 1.0, 2, 4]
    assert rows.loc[0.5, ["precision", "recall", "links", "clusters"]].tolist() == [0.5, 1.0, 3, 3]


def test_recommendation_picks_the_highest_best_f1_and_the_lowest_threshold_meeting_the_precision_floor(tmp_path):
    run = tune.load_run(write_run(tmp_path / "run"))
    sweep = tune.sweep(run, truth_frame())
    rec = tune.recommend(sweep, 0.99, run.threshold)
    assert rec["best_f1"]["threshold"] == pytest.approx(0.8) and rec["best_f1"]["f1"] == 1.0
    assert rec["min_precision"]["threshold"] == pytest.approx(0.51)
    assert rec["run_threshold"]["threshold"] == 0.9 and rec["run_threshold"]["recall"] == 0.5


def test_load_run_maps_formula_guarded_record_ids_back_to_the_pairs(tmp_path):
    out = write_run(tmp_path / "run")
    assert "'-7" in (out / "clusters.csv").read_text()  # neutralised on the way out
    run = tune.load_run(out)
    assert (run.records["record_id"] == "-7").sum() == 1
    last = run.pairs.iloc[-1]
    assert run.records.loc[last["r"], "record_id"] == "-7"


def test_load_run_refuses_a_run_whose_files_do_not_match_the_manifest(tmp_path):
    out = write_run(tmp_path / "run")
    (out / "pairs.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="pairs.parquet does not match"):
        tune.load_run(out)


def test_load_run_refuses_pairs_naming_an_unknown_record(tmp_path):
    pairs = [*PAIRS, (("sds", "ZZ9"), ("dwp", "A2"), 1.0)]
    out = write_run(tmp_path / "run", pairs=pairs)
    with pytest.raises(InputError) as err:
        tune.load_run(out)
    assert "1 pair(s)" in str(err.value) and "ZZ9" not in str(err.value)


def test_tune_run_writes_private_csv_chart_and_recommendation_with_their_own_manifest(tmp_path):
    run_dir = write_run(tmp_path / "run")
    out = tmp_path / "tuned"
    tune.tune_run(run_dir, truth_frame(), out, 0.99)
    for name in ("thresholds.csv", "thresholds.html", "recommendation.json", "manifest.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert verify_manifest(out)["kind"] == "tune"
    csv = pd.read_csv(out / "thresholds.csv")
    assert csv.columns[:7].tolist() == ["threshold", "match_weight", "precision", "recall", "f1", "links", "clusters"]
    assert len(csv) == len(tune.threshold_grid(0.9))
    html = (out / "thresholds.html").read_text()
    assert html.count('class="vl-chart"') == 2 and "best F1 (0.8)" in html
    assert "script-src 'sha256-" in html and "unsafe-eval" not in html  # only the page's own scripts run


def test_tune_command_prints_the_recommended_thresholds(tmp_path):
    run_dir = write_run(tmp_path / "run")
    truth = tmp_path / "truth.csv"
    truth_frame().to_csv(truth, index=False)
    res = CliRunner().invoke(app, ["tune", "--run", str(run_dir), "--truth", str(truth)])
    assert res.exit_code == 0, res.output
    assert "best F1          threshold=0.8 " in res.output
    assert "precision>=0.99  threshold=0.51 " in res.output
    assert (run_dir / "tune" / "thresholds.html").exists()
    verify_manifest(run_dir)  # the run's own files untouched


def test_tune_command_needs_exactly_one_of_run_or_extracts(tmp_path):
    truth = tmp_path / "truth.csv"
    truth_frame().to_csv(truth, index=False)
    res = CliRunner().invoke(app, ["tune", "--truth", str(truth)])
    assert res.exit_code == 3
    assert res.output.strip() == "error: tune: give exactly one of --run or --extracts"
