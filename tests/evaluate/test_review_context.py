"""The review sheet carries what a reviewer reads beyond the compared values: each comparison's level for the
pair, and the other configured fields side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_review import normalised
from test_tune import PAIRS, RECORDS

from pace_linkage.config import load_config
from pace_linkage.engine.model import ComparisonParams, FSModel
from pace_linkage.errors import InputError
from pace_linkage.evaluate import review, tune
from pace_linkage.store.outputs import RunWriter

LABELS = ["exact", "close", "else"]


def write_run_with_model(out, gamma: list[int]):
    """A hand-built finished run whose pairs carry a surname gamma and whose model names its levels."""
    writer = RunWriter(out)
    clusters = pd.DataFrame(RECORDS, columns=["source", "record_id", "person"]).drop(columns="person")
    clusters["pace_id"] = "P" + clusters.index.astype(str)
    writer.write_csv("clusters.csv", clusters.sort_values(["source", "record_id"]))
    w = np.array([p[2] for p in PAIRS], dtype=float)
    writer.write_parquet("pairs.parquet", pd.DataFrame({
        "source_l": [p[0][0] for p in PAIRS], "record_id_l": [p[0][1] for p in PAIRS],
        "source_r": [p[1][0] for p in PAIRS], "record_id_r": [p[1][1] for p in PAIRS],
        "blocking_rule": "rule", "gamma_surname": np.array(gamma, dtype=np.int8), "match_weight": w,
        "match_probability": tune.probability_from_weight(w).round(12)}))
    model = FSModel(comparisons=[ComparisonParams(name="surname", labels=LABELS, m=np.array([0.9, 0.08, 0.02]),
                                                  u=np.array([0.01, 0.09, 0.9]))], lambda_=0.01)
    writer.write_text("model.json", model.to_json() + "\n")
    writer.write_json("metrics.json", {"run": {"threshold": 0.9}})
    writer.publish({"config_hash": "h"})
    return out


@pytest.fixture(scope="module")
def cfg():
    return load_config(None)


def records_with_context() -> pd.DataFrame:
    frame = normalised()
    frame["email"] = [f"person{i}@example.org" for i in range(len(frame))]
    frame["employer"] = "=CMD()"
    return frame


def test_the_sheet_names_each_comparisons_level_for_the_pair(tmp_path, cfg):
    gamma = [0, 1, -1, 2]
    run = tune.load_run(write_run_with_model(tmp_path / "run", gamma))
    sheet = review.build_review(run, records_with_context(), cfg, n=10, seed=1)
    keys = list(zip(run.pairs["source_l"], run.pairs["record_id_l"], run.pairs["source_r"], run.pairs["record_id_r"],
                    strict=True))
    expected = dict(zip(keys, [LABELS[g] if g >= 0 else "null" for g in gamma], strict=True))
    got = dict(zip(zip(sheet["source_l"], sheet["record_id_l"], sheet["source_r"], sheet["record_id_r"], strict=True),
                   sheet["level_surname"], strict=True))
    assert got == expected
    columns = list(sheet.columns)
    assert columns.index("match_weight") < columns.index("level_surname") < columns.index("surname_l")


def test_the_sheet_shows_the_configured_fields_no_comparison_uses_after_the_compared_ones(tmp_path, cfg):
    run = tune.load_run(write_run_with_model(tmp_path / "run", [0, 0, 0, 0]))
    records = records_with_context()
    context = review.context_columns(cfg, records)
    compared = review.compared_columns(cfg)
    assert context == [f for f in cfg.fields if f in {"email", "employer"}]
    assert not set(context) & set(compared)
    sheet = review.build_review(run, records, cfg, n=10, seed=1)
    columns = list(sheet.columns)
    assert columns.index("surname_r") < columns.index("email_l") < columns.index("label")
    by_key = dict(zip(zip(records["source"], records["record_id"], strict=True), records["email"], strict=True))
    for row in sheet.itertuples(index=False):
        assert row.email_l == by_key[(row.source_l, row.record_id_l)]
        assert row.email_r == by_key[(row.source_r, row.record_id_r)]
    masked = review.build_review(run, records, cfg, n=10, seed=1, mask=True)
    assert not set(masked["email_l"]) & set(records["email"])


def test_a_gamma_the_model_does_not_know_is_one_line_naming_the_file(tmp_path, cfg):
    run = tune.load_run(write_run_with_model(tmp_path / "run", [0, 5, 0, 0]))
    with pytest.raises(InputError, match="pairs.parquet: column gamma_surname") as err:
        review.build_review(run, records_with_context(), cfg, n=10, seed=1)
    assert "\n" not in str(err.value)


def test_a_sheet_with_context_and_levels_is_read_back_by_import(tmp_path, cfg):
    run_dir = write_run_with_model(tmp_path / "run", [0, 1, 2, -1])
    run = tune.load_run(run_dir)
    sheet = review.build_review(run, records_with_context(), cfg, n=10, seed=1)
    sheet["label"] = "match"
    path = review.write_review(tmp_path / "sheet.csv", sheet)
    labels = review.read_labels(path, run)
    assert len(labels) == len(sheet)
