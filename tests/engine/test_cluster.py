"""Cluster: components above the threshold, conflict detection and splitting, stable pace_ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pace_linkage.engine.cluster import cluster
from pace_linkage.engine.settings import ClusteringSettings


def records(n: int, nino=None, source=None) -> pd.DataFrame:
    return pd.DataFrame({"source": source or ["a"] * n, "record_id": [f"r{i}" for i in range(n)],
                         "nino": nino if nino is not None else [None] * n})


def scored(edges: list[tuple[int, int, float]]) -> pd.DataFrame:
    l_, r_, w = zip(*edges, strict=True)
    w = np.asarray(w, float)
    return pd.DataFrame({"l": l_, "r": r_, "match_weight": w, "match_probability": 1 / (1 + 2.0 ** -w)})


def groups(ids: pd.Series) -> set[frozenset[int]]:
    return {frozenset(g.index.tolist()) for _, g in ids.groupby(ids)}


def test_components_above_threshold_and_singletons_all_get_ids():
    rec = records(5)
    res = cluster(rec, scored([(0, 1, 10), (1, 2, 8), (3, 4, -5)]), 0.9)
    ids = res.clusters["pace_id"]
    assert groups(ids) == {frozenset({0, 1, 2}), frozenset({3}), frozenset({4})}
    assert ids.str.match(r"^P[0-9a-f]{16}$").all()
    assert res.stats["pace_id"]["singletons"] == 2


def test_named_thresholds_get_their_own_columns():
    rec = records(3)
    res = cluster(rec, scored([(0, 1, 10), (1, 2, 3)]), 0.5, named_thresholds={"strict": 0.99})
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1, 2})}
    assert groups(res.clusters["pace_id_strict"]) == {frozenset({0, 1}), frozenset({2})}


def test_two_different_ninos_split_at_the_weakest_edge():
    rec = records(4, nino=["AB123456", None, None, "CD654321"])
    res = cluster(rec, scored([(0, 1, 12), (1, 2, 4), (2, 3, 11)]), 0.9,
                  ClusteringSettings(conflict_fields=["nino"]))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1}), frozenset({2, 3})}
    c = res.conflicts
    assert c["kind"].tolist() == ["conflicting_nino"] and c["count"].tolist() == [2]
    assert "AB123456" not in c.to_string()
    assert res.stats["pace_id"]["edges_cut"] == 1


def test_flag_keeps_the_conflicting_cluster_but_reports_it():
    rec = records(3, nino=["AB123456", None, "CD654321"])
    res = cluster(rec, scored([(0, 1, 12), (1, 2, 4)]), 0.9,
                  ClusteringSettings(conflict_fields=["nino"], conflict_resolution="flag"))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1, 2})}
    assert res.conflicts["resolution"].tolist() == ["flagged"]


def test_oversized_component_is_cut_until_no_part_is_too_big():
    n = 8
    rec = records(n)
    chain = [(i, i + 1, 20 - i) for i in range(n - 1)]  # weakest edges at the end of the chain
    res = cluster(rec, scored(chain), 0.9, ClusteringSettings(max_cluster_size=3))
    sizes = res.clusters["pace_id"].value_counts()
    assert sizes.max() <= 3
    assert res.conflicts["kind"].tolist() == ["max_cluster_size"] and res.conflicts["count"].tolist() == [8]


def test_two_records_of_a_duplicate_free_source_are_a_conflict():
    rec = records(3, source=["dwp", "sds", "dwp"])
    dup = rec["source"].eq("dwp").to_numpy()
    res = cluster(rec, scored([(0, 1, 10), (1, 2, 6)]), 0.9, duplicate_free=dup)
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1}), frozenset({2})}
    assert res.conflicts["kind"].tolist() == ["duplicate_free_source"]


def test_pace_ids_do_not_depend_on_row_order():
    rng = np.random.default_rng(5)
    n = 200
    rec = pd.DataFrame({"source": rng.choice(["a", "b"], n), "record_id": [f"{i:04d}" for i in range(n)],
                        "nino": None})
    l_ = rng.integers(0, n, 300)
    r_ = rng.integers(0, n, 300)
    keep = l_ != r_
    edges = list(zip(np.minimum(l_, r_)[keep], np.maximum(l_, r_)[keep], rng.normal(3, 4, keep.sum()), strict=True))
    base = cluster(rec, scored(edges), 0.9).clusters
    perm = rng.permutation(n)
    inv = np.empty(n, int)
    inv[perm] = np.arange(n)
    rec2 = rec.iloc[perm].reset_index(drop=True)
    edges2 = [(min(inv[a], inv[b]), max(inv[a], inv[b]), w) for a, b, w in edges]
    shuffled = cluster(rec2, scored(edges2), 0.9).clusters
    merged = base.merge(shuffled, on=["source", "record_id"], suffixes=("", "_2"))
    assert len(merged) == n and (merged["pace_id"] == merged["pace_id_2"]).all()


def test_pace_id_is_the_hash_of_the_smallest_member_key():
    import hashlib

    rec = records(2)
    ids = cluster(rec, scored([(0, 1, 10)]), 0.9).clusters["pace_id"]
    assert ids.nunique() == 1
    assert ids.iloc[0] == "P" + hashlib.sha256(b"a\x1fr0").hexdigest()[:16]


def test_duplicate_record_keys_are_rejected():
    from pace_linkage.errors import LinkageError

    rec = pd.DataFrame({"source": ["a", "a"], "record_id": ["1", "1"]})
    with pytest.raises(LinkageError):
        cluster(rec, scored([(0, 1, 10)]), 0.9)


def test_split_refuses_only_the_merge_that_joins_two_ninos_and_keeps_uninvolved_links():
    # 0 and 2 hold different NI numbers; 1 and 3 hold none. 0-1 strong, 1-2 weak, 1-3 strongest (weights).
    recs = records(4, nino=["AB123456", None, "CE987654", None])
    res = cluster(recs, scored([(0, 1, 12), (1, 2, 5), (1, 3, 14)]), 0.9,
                  ClusteringSettings(conflict_fields=["nino"]))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1, 3}), frozenset({2})}
    assert res.stats["pace_id"]["conflicts"] == 1 and res.stats["pace_id"]["edges_cut"] == 1


def test_near_identical_ninos_within_tolerance_are_not_a_conflict():
    recs = records(3, nino=["AB123456", "AB123465", "AB123456"])  # a transposition: one value keyed twice
    edges = scored([(0, 1, 12), (1, 2, 12)])
    strict = cluster(recs, edges, 0.9, ClusteringSettings(conflict_fields=["nino"]))
    tolerant = cluster(recs, edges, 0.9, ClusteringSettings(conflict_fields=["nino"], conflict_tolerance={"nino": 1}))
    assert strict.stats["pace_id"]["conflicts"] == 1
    assert tolerant.stats["pace_id"]["conflicts"] == 0
    assert groups(tolerant.clusters["pace_id"]) == {frozenset({0, 1, 2})}
