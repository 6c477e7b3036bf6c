"""The label-free estimate looks candidate pairs up by pair code: the same positions whether blocking gave the
pairs sorted (no sort then) or in any order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate.missed import RunView, sample_key_pairs


def view_of(left, right, n) -> RunView:
    pairs = pd.DataFrame({"l": np.asarray(left, dtype=np.int32), "r": np.asarray(right, dtype=np.int32)})
    return RunView(pd.DataFrame({"x": range(n)}), pairs, np.zeros(len(pairs)), np.arange(n), "link_and_dedupe",
                   np.zeros(n, dtype=bool))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))), st.booleans())
def test_candidate_position_is_the_pair_found_by_brute_force(case, sort):
    n, pairs, asked = case
    pairs = sorted(pairs, key=lambda p: (min(p), max(p))) if sort else pairs
    view = view_of([p[0] for p in pairs], [p[1] for p in pairs], n)
    left = np.array([a for a, _ in asked], dtype=np.int64)
    right = np.array([b for _, b in asked], dtype=np.int64)
    got = view.candidate_position(left, right)
    first = {}
    for i, (a, b) in enumerate(pairs):
        first.setdefault((min(a, b), max(a, b)), i)
    want = [first.get((min(a, b), max(a, b)), -1) for a, b in asked]
    assert got.tolist() == want
    assert np.all(np.diff(view.candidate_codes) >= 0) and sorted(view.candidate_order.tolist()) == list(range(len(pairs)))


def sample_by_stable_argsort(key, size, rng):
    """sample_key_pairs as first written: the key groups in order of a stable argsort."""
    pos = np.flatnonzero(key >= 0)
    pos = pos[np.argsort(key[pos], kind="stable")]
    k = key[pos]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(k)]).astype(np.int64)
    per_group = sizes * (sizes - 1) // 2
    total = int(per_group.sum())
    if total == 0 or size <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), total
    group = np.searchsorted(np.cumsum(per_group), rng.integers(0, total, size=size), side="right")
    n = sizes[group]
    i = (rng.random(size) * n).astype(np.int64)
    j = (rng.random(size) * (n - 1)).astype(np.int64)
    j += j >= i
    return pos[starts[group] + i], pos[starts[group] + j], total


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-1, 6), max_size=50), st.integers(0, 40), st.integers(0, 2**16))
def test_sampled_key_pairs_are_those_of_the_stable_sort(key, size, seed):
    key = np.array(key, dtype=np.int64)
    got = sample_key_pairs(key, size, np.random.default_rng(seed))
    want = sample_by_stable_argsort(key, size, np.random.default_rng(seed))
    assert got[2] == want[2]
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
