"""Clustering reads the candidate pairs' positions as they are (int32) and widens only each threshold's edges:
at millions of pairs, mostly below the threshold, no int64 copy of every pair."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd

from pace_linkage.engine.cluster import cluster


def test_cluster_holds_no_wide_copy_of_every_pair():
    n, m = 2000, 1_000_000
    rng = np.random.default_rng(3)
    left = rng.integers(0, n - 1, m).astype(np.int32)
    right = (left + 1).astype(np.int32)
    prob = np.where(rng.random(m) < 0.001, 0.99, 0.01)
    pairs = pd.DataFrame({"l": left, "r": right, "match_weight": np.log2(prob / (1 - prob)),
                          "match_probability": prob}, copy=False)
    records = pd.DataFrame({"source": ["a", "b"] * (n // 2), "record_id": [str(i) for i in range(n)]})
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        got = cluster(records, pairs, 0.5)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    linked = prob >= 0.5
    same = got.clusters["pace_id"].to_numpy()
    assert all(same[a] == same[b] for a, b in zip(left[linked], right[linked], strict=True))
    assert got.clusters["pace_id"].nunique() == n - len(set(left[linked].tolist()))  # a chain
    # the threshold mask (1 byte a pair) and small temporaries; int64 copies of l and r would be 16 bytes a pair
    assert peak < 6 * m
