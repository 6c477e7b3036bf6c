"""Clerical review: stratified export (0600, both sides of the threshold) and label import with estimates."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_tune import PAIRS, RECORDS, write_run
from typer.testing import CliRunner

from flows.cli import app
from pace_linkage.config import load_config
from pace_linkage.errors import InputError
from pace_linkage.evaluate import review, tune
from pace_linkage.store.outputs import verify_manifest


@pytest.fixture(scope="module")
def cfg():
    return load_config(None)


def normalised(records=RECORDS) -> pd.DataFrame:
    """Normalised-looking records for the hand-built run (one first name is a spreadsheet formula)."""
    n = len(records)
    return pd.DataFrame({
        "source": [r[0] for r in records], "record_id": [r[1] for r in records],
        "nino": ["AB123456"] * n, "first_name": ["=HYPERLINK(1)"] + ["ANN"] * (n - 1), "surname": ["REID"] * n,
        "dob": ["1970-01-02"] * n, "postcode": ["G4 0JF"] * n, "sex": [None] + ["F"] * (n - 1),
    })


def big_run(seed: int = 5, n_pairs: int = 20000) -> tuple[tune.RunData, np.ndarray]:
    """A run of many pairs whose truth is known: matches weigh ~N(12, 6), non-matches ~N(-8, 6)."""
    rng = np.random.default_rng(seed)
    is_match = rng.random(n_pairs) < 0.4
    w = np.where(is_match, rng.normal(12, 6, n_pairs), rng.normal(-8, 6, n_pairs))
    pairs = pd.DataFrame({"source_l": "a", "record_id_l": np.arange(n_pairs).astype(str), "source_r": "b",
                          "record_id_r": np.arange(n_pairs).astype(str), "match_weight": w})
    pairs["match_probability"] = tune.probability_from_weight(w)
    return tune.RunData(Path("."), {}, {"run": {"threshold": 0.9}}, pd.DataFrame(), pairs), is_match


# ------------------------------------------------------------------------------------------ strata
def test_stratify_puts_the_threshold_on_a_stratum_edge_so_each_stratum_is_wholly_linked_or_not():
    prob = tune.probability_from_weight(np.linspace(-30, 30, 5001))
    st = review.stratify(prob, 0.9, band=0.2, bins=10)
    assert st.k == 14
    for h in range(1, st.k + 1):
        inside = prob[st.codes == h]
        assert len(inside)
        assert np.all(inside >= 0.9) == st.linked[h - 1] and np.all(inside < 0.9) != st.linked[h - 1]
    assert st.linked.sum() == 7


def test_allocate_fills_small_strata_and_gives_what_they_cannot_take_to_the_others():
    alloc = review.allocate(np.array([1000, 2, 5, 1000]), np.ones(4), 40)
    assert alloc.tolist() == [17, 2, 5, 16]
    assert review.allocate(np.array([3, 4]), np.array([0.5, 0.5]), 200).tolist() == [3, 4]


def test_sample_covers_both_sides_of_the_threshold_and_is_the_same_for_the_same_seed():
    run, _ = big_run()
    prob = tune.pair_probability(run.pairs)
    a = review.sample_pairs(prob, 0.9, n=200, seed=3)
    b = review.sample_pairs(prob, 0.9, n=200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 200 and a["pos"].is_unique
    linked = prob[a["pos"]] >= 0.9
    assert 40 < linked.sum() < 160
    near = (prob[a["pos"]] > 0.7) & (prob[a["pos"]] < 0.999)
    assert near.sum() >= 100  # most of the sample sits in the band around the threshold
    assert a["stratum"].nunique() == 14
    assert not a["pos"].is_monotonic_increasing  # shuffled, so reviewers do not read in probability order
    assert not review.sample_pairs(prob, 0.9, n=200, seed=4)["pos"].equals(a["pos"])


# ------------------------------------------------------------------------------------------- export
def test_export_sheet_is_created_0600_with_both_records_side_by_side_and_formulas_neutralised(tmp_path, cfg):
    run = tune.load_run(write_run(tmp_path / "run"))
    sheet = review.build_review(run, normalised(), cfg, n=10, seed=1)
    path = review.write_review(tmp_path / "sheets" / "review.csv", sheet)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(back) == len(PAIRS) and back["pair_id"].tolist() == ["1", "2", "3", "4"]
    for col in ("source_l", "record_id_l", "source_r", "record_id_r", "match_probability", "first_name_l",
                "first_name_r", "surname_l", "dob_r", "label", "stratum", "stratum_pairs", "threshold"):
        assert col in back.columns
    assert (back["label"] == "").all()
    assert "'=HYPERLINK(1)" in set(back["first_name_l"]) | set(back["first_name_r"])
    with pytest.raises(InputError, match="already exists"):
        review.write_review(path, sheet)


def test_export_can_mask_values(tmp_path, cfg):
    run = tune.load_run(write_run(tmp_path / "run"))
    sheet = review.build_review(run, normalised(), cfg, n=10, seed=1, mask=True)
    assert set(sheet["surname_l"]) == {"R***"} and set(sheet["postcode_r"]) == {"G4 ***"}


def test_export_refuses_records_the_extracts_no_longer_hold(tmp_path, cfg):
    run = tune.load_run(write_run(tmp_path / "run"))
    with pytest.raises(InputError, match="no longer hold"):
        review.build_review(run, normalised(RECORDS[:-1]), cfg, n=10, seed=1)


def test_config_hash_mismatch_is_a_warning_without_values(tmp_path, cfg):
    run = tune.load_run(write_run(tmp_path / "run", config_hash="other"))
    msg = review.check_config_matches(cfg, run)
    assert msg and "config_hash differs" in msg and "\n" not in msg


# ------------------------------------------------------------------------------------------- import
def labelled_sheet(tmp_path: Path, cfg, labels: list[str]) -> tuple[Path, Path]:
    run_dir = write_run(tmp_path / "run")
    run = tune.load_run(run_dir)
    sheet = review.build_review(run, normalised(), cfg, n=10, seed=1)
    truth = {(s, r): p for s, r, p in RECORDS}
    same = [truth[(a, b)] == truth[(c, d)] for a, b, c, d in
            sheet[["source_l", "record_id_l", "source_r", "record_id_r"]].itertuples(index=False)]
    sheet["label"] = [lab if lab != "truth" else ("match" if s else "non-match") for lab, s in zip(labels, same, strict=True)]
    return review.write_review(tmp_path / "labelled.csv", sheet), run_dir


@pytest.mark.parametrize(("text", "label"), [("Match", "match"), (" non match ", "non-match"), ("NON_MATCH", "non-match"),
                                            ("y", "match"), ("no", "non-match"), ("?", "unsure"), ("", "")])
def test_parse_label_accepts_case_spacing_and_short_forms(text, label):
    assert review.parse_label(text) == label


def test_parse_label_rejects_anything_else():
    assert review.parse_label("probably") is None


def test_import_rejects_a_bad_label_with_one_line_naming_file_line_and_column_but_not_the_value(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth", "Secretvalue", "truth", "truth"])
    with pytest.raises(InputError) as err:
        review.read_labels(path, tune.load_run(run_dir))
    lines = str(err.value).splitlines()
    assert lines == [f"{path}: line 3, column label: not one of match, non-match, unsure (or blank)"]
    assert "Secretvalue" not in str(err.value)


def test_import_rejects_rows_naming_pairs_the_run_never_proposed_without_showing_the_ids(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth"] * 4)
    text = path.read_text().replace(",A1,", ",SECRETID,")
    path.write_text(text)
    with pytest.raises(InputError) as err:
        review.read_labels(path, tune.load_run(run_dir))
    assert "not a candidate pair of this run" in str(err.value) and "SECRETID" not in str(err.value)
    assert len(str(err.value).splitlines()) == text.count("SECRETID")


def test_import_rejects_a_sheet_without_the_bookkeeping_columns(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth"] * 4)
    pd.read_csv(path, dtype=str).drop(columns=["stratum_pairs"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"line 1: missing column\(s\) stratum_pairs"):
        review.read_labels(path, tune.load_run(run_dir))


def test_import_writes_the_estimate_and_clerical_decisions_into_the_run_and_keeps_its_manifest_valid(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth", "truth", "unsure", ""])
    res = review.import_review(path, tune.load_run(run_dir))
    assert res["labels"]["unsure"] == 1 and res["labels"]["unlabelled"] == 1
    assert res["labels"]["match"] + res["labels"]["non-match"] == 2
    files = verify_manifest(run_dir)["files"]
    assert {"review_estimate.json", "clerical.csv", "pairs.parquet"} <= set(files)
    for name in ("review_estimate.json", "clerical.csv", "manifest.json"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    clerical = pd.read_csv(run_dir / "clerical.csv", dtype=str)
    assert clerical.columns.tolist() == ["source_l", "record_id_l", "source_r", "record_id_r", "label"]
    assert len(clerical) == 2 and set(clerical["label"]) <= {"match", "non-match"}


def truth_labels(drawn: pd.DataFrame, is_match: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"line": np.arange(len(drawn)) + 2, "pos": drawn["pos"], "stratum": drawn["stratum"],
                         "stratum_pairs": drawn["stratum_pairs"],
                         "label": np.where(is_match[drawn["pos"]], "match", "non-match")})


def test_estimates_from_labels_taken_from_truth_are_close_to_the_true_precision_and_recall():
    run, is_match = big_run()
    prob = tune.pair_probability(run.pairs)
    linked = prob >= 0.9
    true = {"precision": is_match[linked].mean(), "recall": (is_match & linked).sum() / is_match.sum()}
    found = {k: [] for k in true}
    for seed in range(20):
        est = review.estimate(truth_labels(review.sample_pairs(prob, 0.9, n=300, seed=seed), is_match), run, 0.9)
        for k in true:
            found[k].append((est[k]["estimate"], est[k]["ci_low"] <= true[k] <= est[k]["ci_high"]))
    for k, tol in (("precision", 0.01), ("recall", 0.03)):
        values = np.array([v for v, _ in found[k]])
        assert np.median(np.abs(values - true[k])) < tol, k  # a typical review of 300 pairs is close
        assert abs(values.mean() - true[k]) < 0.01, k  # and the estimator is unbiased
        assert sum(c for _, c in found[k]) >= 17, k  # 95% intervals cover the truth (about) 19 times in 20
    assert est["estimated_pairs"]["linked"] == pytest.approx(linked.sum(), rel=1e-9)


def test_wilson_interval_contains_its_estimate_and_stays_open_when_all_labels_agree():
    lo, hi = review.wilson(1.0, 30)
    assert 0.85 < lo < 1.0 and hi == pytest.approx(1.0)
    lo, hi = review.wilson(0.5, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.19, abs=0.01)


def test_review_import_command_fails_with_one_stderr_line_and_exit_3_on_a_bad_label(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth", "Secretvalue", "truth", "truth"])
    res = CliRunner().invoke(app, ["review", "import", "--file", str(path), "--run", str(run_dir)])
    assert res.exit_code == 3
    assert res.stderr.strip().count("\n") == 0 and "line 3, column label" in res.stderr
    assert "Secretvalue" not in res.output


def test_review_import_command_prints_the_estimates(tmp_path, cfg):
    path, run_dir = labelled_sheet(tmp_path, cfg, ["truth"] * 4)
    res = CliRunner().invoke(app, ["review", "import", "--file", str(path), "--run", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "precision    1.0000" in res.stdout and "recall" in res.stdout


def test_review_export_help_says_the_sheet_holds_personal_data_and_is_0600():
    res = CliRunner().invoke(app, ["review", "export", "--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.stdout.split())
    assert "HOLDS PERSONAL DATA" in text and "0600" in text
