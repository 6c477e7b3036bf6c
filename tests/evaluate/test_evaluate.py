"""evaluate: pairwise / B-cubed metrics from group sizes, the threshold sweep and model-only estimates."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pace_linkage.errors import InputError
from pace_linkage.evaluate.quality import (
    bcubed,
    confusion_pairs,
    estimated_quality,
    pairwise_metrics,
    partner_overlap,
    recommend_threshold,
    threshold_sweep,
    weights_histogram,
)


def frame(rows, id_column="pace_id"):
    return pd.DataFrame(rows, columns=["source", "record_id", id_column])


def truth_frame(rows):
    return pd.DataFrame(rows, columns=["source", "record_id", "person_id"])


def brute_force(clusters, truth):
    """Reference: enumerate every record pair (only for tiny fixtures)."""
    t = dict(zip(zip(truth.source, truth.record_id, strict=True), truth.person_id, strict=True))
    recs = list(zip(clusters.source, clusters.record_id, clusters.pace_id, strict=True))
    tp = fp = fn = 0
    for (s1, r1, c1), (s2, r2, c2) in itertools.combinations(recs, 2):
        p1, p2 = t.get((s1, r1), ("absent", s1, r1)), t.get((s2, r2), ("absent", s2, r2))
        pred, true = c1 == c2, p1 == p2
        tp += pred and true
        fp += pred and not true
        fn += true and not pred
    return tp, fp, fn


# Records a1, a2, b1 are person p1 (3 true pairs); c1 is person p2.
TRUTH = truth_frame([("a", "1", "p1"), ("a", "2", "p1"), ("b", "1", "p1"), ("c", "1", "p2")])


def test_pairwise_metrics_counts_tp_fp_fn_from_group_sizes_on_a_known_case():
    # 3 records of p1 (3 true pairs) + p2; predicted clusters {a1, a2, c1}, {b1}
    clusters = frame([("a", "1", "X"), ("a", "2", "X"), ("b", "1", "Y"), ("c", "1", "X")])
    m = pairwise_metrics(clusters, TRUTH)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 2)
    assert m["predicted_pairs"] == 3 and m["true_pairs"] == 3
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)


def test_pairwise_metrics_perfect_clustering_scores_one():
    clusters = frame([("a", "1", "X"), ("a", "2", "X"), ("b", "1", "X"), ("c", "1", "Z")])
    m = pairwise_metrics(clusters, TRUTH)
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)
    assert (m["tp"], m["fp"], m["fn"]) == (3, 0, 0)


def test_pairwise_metrics_treats_records_absent_from_truth_as_their_own_person_and_counts_them():
    clusters = frame([("a", "1", "X"), ("a", "2", "X"), ("z", "9", "X"), ("z", "8", "W")])
    truth = truth_frame([("a", "1", "p1"), ("a", "2", "p1"), ("q", "1", "p9")])
    m = pairwise_metrics(clusters, truth)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 0)
    assert m["records_absent_from_truth"] == 2
    assert m["truth_rows_not_clustered"] == 1


def test_pairwise_metrics_with_no_predicted_links_has_precision_one_and_recall_zero():
    clusters = frame([("a", "1", "A"), ("a", "2", "B"), ("b", "1", "C"), ("c", "1", "D")])
    m = pairwise_metrics(clusters, TRUTH)
    assert m["precision"] == 1.0 and m["recall"] == 0.0 and m["f1"] == 0.0


def test_pairwise_metrics_null_cluster_ids_are_singletons():
    clusters = frame([("a", "1", None), ("a", "2", None), ("b", "1", "Y"), ("c", "1", "Y")])
    m = pairwise_metrics(clusters, TRUTH)
    assert m["predicted_pairs"] == 1 and m["tp"] == 0


def test_pairwise_metrics_agree_with_brute_force_enumeration_on_random_clusterings():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(1, 40))
        src = rng.choice(["a", "b", "c"], n)
        rid = [str(i) for i in range(n)]
        clusters = pd.DataFrame({"source": src, "record_id": rid, "pace_id": rng.integers(0, 6, n)})
        keep = rng.random(n) < 0.9
        truth = pd.DataFrame({"source": src[keep], "record_id": np.array(rid)[keep],
                              "person_id": rng.integers(0, 5, n)[keep]})
        m = pairwise_metrics(clusters, truth)
        assert (m["tp"], m["fp"], m["fn"]) == brute_force(clusters, truth)


def test_pairwise_metrics_rejects_duplicated_truth_keys_without_showing_values():
    truth = truth_frame([("a", "1", "p1"), ("a", "1", "p2")])
    with pytest.raises(InputError) as err:
        pairwise_metrics(frame([("a", "1", "X")]), truth)
    assert "p1" not in str(err.value) and "2 rows" in str(err.value)


def test_pairwise_metrics_uses_the_named_id_column():
    clusters = frame([("a", "1", "E1"), ("a", "2", "E1")], id_column="employer_id")
    m = pairwise_metrics(clusters, TRUTH.iloc[:2], id_column="employer_id")
    assert m["tp"] == 1 and m["precision"] == 1.0


def test_bcubed_matches_hand_computed_values():
    # clusters {a1, a2, c1}, {b1}; persons {a1, a2, b1} (p1), {c1} (p2)
    clusters = frame([("a", "1", "X"), ("a", "2", "X"), ("b", "1", "Y"), ("c", "1", "X")])
    b = bcubed(clusters, TRUTH, "pace_id")
    # precision per record: a1 2/3, a2 2/3, b1 1/1, c1 1/3 -> mean 2/3
    # recall per record:    a1 2/3, a2 2/3, b1 1/3, c1 1/1 -> mean 2/3
    assert b["precision"] == pytest.approx(2 / 3)
    assert b["recall"] == pytest.approx(2 / 3)
    assert b["f1"] == pytest.approx(2 / 3)


def test_bcubed_of_all_singletons_has_full_precision():
    clusters = frame([("a", "1", "A"), ("a", "2", "B"), ("b", "1", "C"), ("c", "1", "D")])
    b = bcubed(clusters, TRUTH)
    assert b["precision"] == 1.0
    assert b["recall"] == pytest.approx((1 / 3 * 3 + 1) / 4)


# --------------------------------------------------------------------------------------------------
# sweep, recommendation, estimates, confusion
# --------------------------------------------------------------------------------------------------
RECORDS = pd.DataFrame({"source": ["a", "a", "b", "b", "c"], "record_id": ["1", "2", "1", "2", "1"]})
SWEEP_TRUTH = truth_frame([("a", "1", "p1"), ("a", "2", "p2"), ("b", "1", "p1"), ("b", "2", "p2"), ("c", "1", "p1")])
PAIRS = pd.DataFrame({
    "l": [0, 1, 2, 0, 0, 1],
    "r": [2, 3, 4, 1, 4, 4],
    "match_probability": [0.99, 0.95, 0.6, 0.5, 0.3, 0.1],
})


def test_threshold_sweep_recall_never_falls_as_the_threshold_drops():
    sweep = threshold_sweep(PAIRS, RECORDS, SWEEP_TRUTH, np.linspace(0.05, 0.999, 25))
    assert list(sweep["threshold"]) == sorted(sweep["threshold"])
    assert (np.diff(sweep["recall"].to_numpy()) <= 1e-12).all()  # ascending threshold -> recall non-increasing
    assert (np.diff(sweep["links"].to_numpy()) <= 0).all()


def test_threshold_sweep_matches_pairwise_metrics_of_connected_components():
    sweep = threshold_sweep(PAIRS, RECORDS, SWEEP_TRUTH, [0.55, 0.9, 0.4]).set_index("threshold")
    # at 0.55: links 0-2, 1-3, 2-4 -> clusters {0,2,4}, {1,3}: perfect
    assert sweep.loc[0.55, "f1"] == 1.0 and sweep.loc[0.55, "clusters"] == 2 and sweep.loc[0.55, "links"] == 3
    # at 0.9: {0,2}, {1,3}, {4} -> tp 2, true pairs 4
    assert sweep.loc[0.9, "recall"] == pytest.approx(0.5) and sweep.loc[0.9, "precision"] == 1.0
    # at 0.4: adds 0-1 -> one cluster of 5: 10 predicted, 4 true
    assert sweep.loc[0.4, "precision"] == pytest.approx(0.4) and sweep.loc[0.4, "clusters"] == 1


def test_threshold_sweep_equals_fresh_clustering_at_every_threshold_on_random_graphs():
    rng = np.random.default_rng(3)
    n = 60
    recs = pd.DataFrame({"source": ["s"] * n, "record_id": [f"{i:03d}" for i in range(n)]})
    truth = truth_frame([("s", f"{i:03d}", int(p)) for i, p in enumerate(rng.integers(0, 20, n))])
    left = rng.integers(0, n, 300)
    right = rng.integers(0, n, 300)
    pairs = pd.DataFrame({"l": np.minimum(left, right), "r": np.maximum(left, right),
                          "match_probability": rng.random(300)})
    pairs = pairs[pairs.l != pairs.r]
    thresholds = [0.2, 0.5, 0.8, 0.95]
    sweep = threshold_sweep(pairs, recs, truth, thresholds)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    for t, row in zip(thresholds, sweep.itertuples(), strict=True):
        e = pairs[pairs.match_probability >= t]
        _, lab = connected_components(coo_matrix((np.ones(len(e)), (e.l, e.r)), shape=(n, n)), directed=False)
        expected = pairwise_metrics(recs.assign(pace_id=lab), truth)
        assert (row.tp, row.fp, row.fn) == (expected["tp"], expected["fp"], expected["fn"])


def test_recommend_threshold_picks_best_f1_and_lowest_threshold_meeting_the_precision_floor():
    sweep = pd.DataFrame({"threshold": [0.5, 0.7, 0.9, 0.95], "precision": [0.8, 0.9, 0.97, 0.99],
                          "recall": [1.0, 0.95, 0.9, 0.6], "f1": [0.88, 0.92, 0.92, 0.75]})
    rec = recommend_threshold(sweep, min_precision=0.95)
    assert rec == {"best_f1": 0.9, "min_precision": 0.9}
    assert recommend_threshold(sweep, min_precision=0.999)["min_precision"] is None
    assert recommend_threshold(sweep)["min_precision"] is None


def test_estimated_quality_uses_mean_and_share_of_probabilities():
    est = estimated_quality(pd.Series([0.99, 0.9, 0.5, 0.1]), 0.8)
    assert est["precision"] == pytest.approx(0.945)
    assert est["recall"] == pytest.approx(1.89 / 2.49)
    assert est["links"] == 2


def test_estimated_quality_with_no_links_reports_precision_one_recall_zero():
    est = estimated_quality(np.array([0.1, 0.2]), 0.9)
    assert est["precision"] == 1.0 and est["recall"] == 0.0


def test_confusion_pairs_labels_each_candidate_pair():
    out = confusion_pairs(PAIRS, RECORDS, SWEEP_TRUTH, threshold=0.55)
    assert list(out["label"]) == ["TP", "TP", "TP", "TN", "FN", "TN"]
    assert list(out["is_match"]) == [True, True, True, False, True, False]
    assert len(out) == len(PAIRS) and "label" not in PAIRS


def test_partner_overlap_counts_persons_shared_by_each_pair_of_partners():
    clusters = frame([("sds", "1", "P1"), ("sds", "2", "P1"), ("dwp", "9", "P1"), ("dwp", "8", "P2"),
                      ("cab", "1", "P3")])
    ov = partner_overlap(clusters)
    assert ov["partners"] == ["cab", "dwp", "sds"]
    assert ov["matrix"] == [[1, 0, 0], [0, 2, 1], [0, 1, 1]]


def test_weights_histogram_counts_every_finite_weight_once():
    h = weights_histogram(np.array([-3.2, -0.5, 0.0, 4.9, 5.0, np.inf]))
    assert sum(h["counts"]) == 5
    assert len(h["bins"]) == len(h["counts"]) + 1
    assert h["bins"][0] == -4.0 and h["bins"][-1] == 6.0


def test_blank_person_ids_are_not_one_shared_person():
    clusters = frame([("a", "1", "X"), ("a", "2", "X"), ("b", "1", "Y"), ("b", "2", "Y")])
    truth = truth_frame([("a", "1", ""), ("a", "2", " "), ("b", "1", None), ("b", "2", "p1")])
    m = pairwise_metrics(clusters, truth)
    assert m["true_pairs"] == 0 and m["fp"] == 2
