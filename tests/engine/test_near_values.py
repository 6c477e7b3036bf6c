"""Near values of a conflict field, found from shared deletion variants, are exactly the pairs within the edit
tolerance that comparing every value with every other finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import DamerauLevenshtein

from pace_linkage.engine.near import near_pairs


def brute_force(values: list[str], tolerance: int) -> set[tuple[int, int]]:
    return {(a, b) for a in range(len(values)) for b in range(a + 1, len(values))
            if DamerauLevenshtein.distance(values[a], values[b]) <= tolerance}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ABC12", min_size=0, max_size=6), min_size=0, max_size=25, unique=True),
       st.integers(min_value=0, max_value=2))
def test_near_pairs_are_the_pairs_within_the_tolerance(values, tolerance):
    got = near_pairs(np.array(values, dtype=object), tolerance)
    assert got.dtype == np.int64 and got.shape[1] == 2
    assert {tuple(map(int, p)) for p in got} == brute_force(values, tolerance)
    assert np.all(got[:, 0] < got[:, 1]) and len(np.unique(got, axis=0)) == len(got)


def test_each_kind_of_keying_error_is_near_and_two_errors_are_not_at_tolerance_one():
    values = ["AB123456C", "AB123457C", "AB1234567C", "AB12345C", "AB124356C", "AB214356C", "XY987654A"]
    got = {tuple(map(int, p)) for p in near_pairs(np.array(values, dtype=object), 1)}
    for other in (1, 2, 3, 4):  # substitution, insertion, deletion, a swap of neighbours
        assert (0, other) in got
    assert (0, 5) not in got and all(6 not in p for p in got)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=2, max_value=9).flatmap(
    lambda w: st.lists(st.text(alphabet="AB12\x00", min_size=w, max_size=w), min_size=0, max_size=30, unique=True)))
def test_values_of_one_length_take_the_whole_array_path_with_the_same_pairs(values):
    got = near_pairs(np.array(values, dtype=object), 1)
    assert {tuple(map(int, p)) for p in got} == brute_force(values, 1)
