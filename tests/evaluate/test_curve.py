"""The threshold curve: at the run's threshold its measured figures are the run's and its estimated recall the
run's label-free recall; figures move as the threshold does; estimates stay within their bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import library_run
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage import pipeline
from pace_linkage.evaluate import curve, quality
from pace_linkage.evaluate.metrics import load_truth, run_person_codes


@pytest.fixture(scope="module")
def linked(synth_data):
    """A run of the synthetic data in memory, its metrics and its truth as person codes."""
    run = library_run(synth_data / "extracts")
    truth = load_truth(synth_data / "truth.csv")
    person = run_person_codes(run, truth)
    doc = pipeline.evaluate_run(run, truth)
    return run, doc, person


def test_the_runs_metrics_carry_the_curve_with_the_runs_own_figures_at_its_threshold(linked):
    run, doc, _ = linked
    rows = pd.DataFrame(doc["threshold_curve"])
    assert list(rows["threshold"]) == sorted(set(curve.METRICS_GRID) | {run.threshold})
    at = rows.loc[rows["threshold"] == run.threshold].iloc[0]
    assert at["precision"] == round(doc["pairwise"]["precision"], 6)
    assert at["recall"] == round(doc["pairwise"]["recall"], 6)
    assert at["clusters"] == doc["clusters"]["pace_id"]["clusters"]
    assert at["est_recall"] == pytest.approx(doc["estimated"]["recall"], abs=2e-6)


def test_estimates_are_bounded_and_counts_move_with_the_threshold(linked):
    run, doc, person = linked
    frame = curve.threshold_curve(curve.run_inputs(run, doc["estimated"], person.codes), curve.FINE_GRID)
    assert frame["threshold"].is_monotonic_increasing
    assert frame["links"].is_monotonic_decreasing and frame["links"].iloc[0] > frame["links"].iloc[-1]
    for col in ("est_precision", "est_recall", "precision", "recall"):
        assert frame[col].between(0, 1).all(), col
    np.testing.assert_allclose(frame["est_true_links"] + frame["est_false_links"], frame["cluster_pairs"])
    assert (frame["est_missed"] >= 0).all()
    assert (frame["tp"] + frame["fp"] == frame["cluster_pairs"]).all()


def test_without_truth_the_curve_has_estimates_only(linked):
    run, doc, _ = linked
    frame = curve.threshold_curve(curve.run_inputs(run, doc["estimated"], None))
    assert list(frame.columns) == curve.CURVE_COLUMNS


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=30), st.data())
def test_measured_figures_are_the_pairwise_metrics_of_the_labels(n, data):
    """With any labels and truth, the curve's measured columns are the pairwise metrics of those labels."""
    labels = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n)), dtype=np.int64)
    labels = np.unique(labels, return_inverse=True)[1]
    person = np.unique(np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n))),
                       return_inverse=True)[1].astype(np.int64)
    left, right = np.triu_indices(n, 1)
    prob = np.asarray(data.draw(st.lists(st.floats(0.001, 0.999), min_size=len(left), max_size=len(left))))
    inputs = curve.CurveInputs(n, left, right, prob, lambda t: labels, 0.9, None, person)
    row = curve.threshold_curve(inputs, [0.9]).iloc[0]
    expected = quality.scores(quality.pair_counts(labels, person))
    assert row["precision"] == pytest.approx(expected["precision"])
    assert row["recall"] == pytest.approx(expected["recall"])
    assert row["links"] == int((prob >= 0.9).sum())


@pytest.mark.parametrize("threshold", [0.3, 0.95])
def test_the_runs_labels_at_a_threshold_are_the_engines_clusters_there(linked, threshold):
    from pace_linkage.engine.linker import Linker

    run, doc, _ = linked
    labels = curve.run_inputs(run, doc["estimated"], None).labels_at(threshold)
    ids = Linker.from_config(run.cfg).cluster(run.records, run.scored, threshold, named=False).clusters["pace_id"]
    assert len(set(zip(labels, ids, strict=True))) == len(set(labels)) == ids.nunique()  # the same partition
