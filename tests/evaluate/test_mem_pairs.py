"""Figures over every candidate pair read the pairs' positions as they are (int32) and look codes up a chunk
at a time: no int64 copy of the pairs' arrays, the same answers."""

from __future__ import annotations

import tracemalloc
from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import quality
from pace_linkage.evaluate.groups import _below_by_group, run_links
from pace_linkage.evaluate.missed import RunView
from pace_linkage.evaluate.quality import PersonCodes, confusion_codes, same_code


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=50))), st.integers(1, 7))
def test_same_code_is_the_gathered_comparison_whatever_the_chunk(case, chunk):
    codes, pairs = case
    codes = np.asarray(codes, dtype=np.int64)
    left = np.array([a for a, _ in pairs], dtype=np.int32)
    right = np.array([b for _, b in pairs], dtype=np.int32)
    with patch.object(quality, "SAME_CODE_CHUNK", chunk):
        got = same_code(codes, left, right)
    assert got.dtype == bool and got.tolist() == (codes[left] == codes[right]).tolist()


def peak_bytes(fn, *args) -> tuple[object, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def big_pairs(n_records: int, n_pairs: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    left = rng.integers(0, n_records, n_pairs).astype(np.int32)
    right = rng.integers(0, n_records, n_pairs).astype(np.int32)
    return pd.DataFrame({"l": left, "r": right, "match_probability": rng.random(n_pairs)}, copy=False)


def test_confusion_codes_hold_no_wide_copy_of_the_pairs():
    n, m = 1000, 1_000_000
    pairs = big_pairs(n, m)
    person = PersonCodes(np.arange(n, dtype=np.int64) // 3, 0, 0)
    with patch.object(quality, "SAME_CODE_CHUNK", 1 << 16):
        (is_match, code), peak = peak_bytes(confusion_codes, pairs, pd.DataFrame({"x": range(n)}), person, 0.5)
    want = person.codes[pairs["l"].to_numpy()] == person.codes[pairs["r"].to_numpy()]
    assert np.array_equal(is_match, want)
    # the answers (2 bytes a pair) and byte-wide temporaries; an int64 copy of l and r alone is 16 bytes a pair
    assert peak < 8 * m


def test_candidate_lookup_of_sorted_pairs_makes_no_code_per_candidate():
    n, m = 5000, 1_000_000
    pairs = big_pairs(n, m)
    lo = np.minimum(pairs["l"], pairs["r"]).to_numpy()
    hi = np.maximum(pairs["l"], pairs["r"]).to_numpy()
    order = np.lexsort((hi, lo))
    pairs = pd.DataFrame({"l": lo[order], "r": hi[order]})
    view = RunView(pd.DataFrame({"x": range(n)}), pairs, np.zeros(m), np.arange(n), "link_and_dedupe",
                   np.zeros(n, dtype=bool))
    asked_l, asked_r = pairs["r"].to_numpy()[:100].astype(np.int64), pairs["l"].to_numpy()[:100].astype(np.int64)
    at, peak = peak_bytes(view.candidate_position, asked_l, asked_r)
    assert np.array_equal(view.candidate_codes[at], view.candidate_codes[np.arange(100)])
    # the order checks (a byte a pair at a time); no pair code per candidate (8 bytes a pair), no positions
    assert peak < 4 * m


def below_by_group_as_first_written(g, left, right, probability, below, k):
    """The sums over copies of the pairs below the threshold, as first written."""
    gl, gr, p = g[left[below]], g[right[below]], probability[below]
    other = gr != gl
    return np.bincount(gl, weights=p, minlength=k) + np.bincount(gr[other], weights=p[other], minlength=k)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.integers(0, k - 1), min_size=1, max_size=12).flatmap(lambda g: st.tuples(
        st.just(g), st.lists(st.tuples(st.integers(0, len(g) - 1), st.integers(0, len(g) - 1),
                                       st.floats(0, 1)), max_size=60))))), st.floats(0.01, 1))
def test_missed_links_by_group_are_the_sums_over_copies_bit_for_bit(case, threshold):
    k, (groups, pairs) = case
    g = np.asarray(groups, dtype=np.min_scalar_type(k))
    left = np.array([a for a, _, _ in pairs], dtype=np.int32)
    right = np.array([b for _, b, _ in pairs], dtype=np.int32)
    p = np.array([x for _, _, x in pairs], dtype=np.float64)
    links = run_links(np.zeros(len(g), dtype=np.int64), left, right, p, threshold)
    got = _below_by_group(g, links, k)
    assert got.tobytes() == below_by_group_as_first_written(g, left, right, p, p < threshold, k).tobytes()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "a\x1f", ""]), st.sampled_from(["1", "2", "\x1f1", "x"])),
                max_size=12, unique=True),
       st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2", "3", "x"])), max_size=12),
       st.booleans())
def test_key_positions_are_the_joined_text_lookup(truth_keys, record_keys, numbers):
    truth = pd.DataFrame(truth_keys, columns=["source", "record_id"], dtype=object)
    records = pd.DataFrame(record_keys, columns=["source", "record_id"], dtype=object)
    if numbers:  # ids that are not text yet are matched as their text
        records["record_id"] = records["record_id"].map(lambda v: int(v) if v.isdigit() else v)
    joined = truth["source"].astype(str) + "\x1f" + truth["record_id"].astype(str)
    assume(joined.is_unique)  # keys unique as text, as the truth's checks require
    want = pd.Index(joined).get_indexer(
        records["source"].astype(str) + "\x1f" + records["record_id"].astype(str))
    assert quality.key_positions(truth, records).tolist() == want.tolist()


def test_figures_read_the_records_in_place_without_copying_the_frame():
    n = 100_000
    records = pd.DataFrame({"source": np.where(np.arange(n) % 2, "a", "b").astype(object),
                            "record_id": np.arange(n).astype(str).astype(object),
                            **{f"c{i}": np.full(n, "v", dtype=object) for i in range(20)}})
    person = PersonCodes(np.arange(n, dtype=np.int64) // 2, 0, 0)
    pairs = big_pairs(n, 1000)
    _, peak = peak_bytes(confusion_codes, pairs, records, person, 0.5)
    assert peak < 8 * n  # a copy of the frame's 22 columns would be 176 bytes a record
    _, peak = peak_bytes(quality.threshold_sweep, pairs, records, person, [0.5])
    assert peak < 48 * n  # the sweep's own per-record codes; no copy of the frame
