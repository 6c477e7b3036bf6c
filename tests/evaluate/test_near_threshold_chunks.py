"""The pairs nearest the threshold, read a chunk of pairs at a time, and the calibration bands counted in one
byte a pair, are what the whole-array definitions give."""

from __future__ import annotations

import json
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import metrics

VALUES = st.sampled_from([0.0, 0.005, 0.01, 0.3, 0.5, 0.9, 0.95, 0.99, 0.9995, 1.0, float("nan")])


@st.composite
def scored(draw):
    m = draw(st.integers(0, 60))
    p = np.array(draw(st.lists(VALUES, min_size=m, max_size=m)), dtype=np.float64)
    w = np.array(draw(st.lists(st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0, 7.0, float("nan")]), min_size=m,
                               max_size=m)), dtype=np.float64)
    return p, w


@settings(max_examples=80, deadline=None)
@given(scored(), st.sampled_from([0.5, 0.9, 0.99]), st.integers(0, 5), st.sampled_from([1, 3, 7, 1 << 20]))
def test_pairs_nearest_the_threshold_by_chunks_are_those_of_the_whole_arrays(case, threshold, n, chunk):
    p, w = case
    with patch.object(metrics, "NEAR_CHUNK", chunk):
        above = metrics.near_side(p, w, threshold, True, n)
        below = metrics.near_side(p, w, threshold, False, n)
    np.testing.assert_array_equal(above, metrics.smallest(np.flatnonzero(p >= threshold), w, n))
    np.testing.assert_array_equal(below, metrics.smallest(np.flatnonzero(p < threshold), -w, n))


def calibration_by_whole_bands(probs, is_match):
    edges = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
    band = np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, len(edges) - 2)
    return [{"low": edges[b], "high": edges[b + 1], "pairs": int((band == b).sum()),
             "mean_probability": round(float(probs[band == b].mean()), 6),
             "true_share": round(float(is_match[band == b].mean()), 6)}
            for b in range(len(edges) - 1) if (band == b).any()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(VALUES, st.floats(-0.5, 1.5)), st.booleans()), max_size=80))
def test_calibration_bands_in_one_byte_are_the_whole_array_bands(rows):
    probs = np.array([r[0] for r in rows], dtype=np.float64)
    is_match = np.array([r[1] for r in rows], dtype=bool)
    got, want = metrics.calibration(probs, is_match), calibration_by_whole_bands(probs, is_match)
    assert json.dumps(got) == json.dumps(want)  # NaN probabilities compare as written


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(VALUES, st.floats(0, 1)), st.booleans()), max_size=80),
       st.sampled_from([1, 4, 1 << 20]))
def test_calibration_by_chunks_is_the_whole_array_bands(rows, chunk):
    probs = np.array([r[0] for r in rows], dtype=np.float64)
    is_match = np.array([r[1] for r in rows], dtype=bool)
    with patch.object(metrics, "NEAR_CHUNK", chunk):
        got = metrics.calibration(probs, is_match)
    assert json.dumps(got) == json.dumps(calibration_by_whole_bands(probs, is_match))
