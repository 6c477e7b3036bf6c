"""The label-free estimate's draws read only the records that can pair: the same pairs as over every record."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.blocking import within_group_pairs
from pace_linkage.evaluate.missed import paired_only, sample_key_pairs
from tests.evaluate.test_missed_order import sample_by_stable_argsort

KEYS = st.lists(st.integers(-1, 60), max_size=300).map(lambda k: np.array(k, dtype=np.int64))


@settings(max_examples=60, deadline=None)
@given(KEYS)
def test_pairs_of_a_key_without_its_lone_records_are_its_pairs_in_the_same_order(key):
    got = within_group_pairs(paired_only(key), "key", 10**9)
    want = within_group_pairs(key, "key", 10**9)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert ((paired_only(key) >= 0) <= (key >= 0)).all()


@settings(max_examples=60, deadline=None)
@given(KEYS, st.integers(0, 500), st.integers(0, 2**16))
def test_drawn_pairs_of_many_groups_are_those_of_the_stable_sort(key, size, seed):
    got = sample_key_pairs(key, size, np.random.default_rng(seed))
    want = sample_by_stable_argsort(key, size, np.random.default_rng(seed))
    assert got[2] == want[2]
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_drawn_pairs_of_more_groups_than_16_bits_count_are_those_of_the_stable_sort():
    rng = np.random.default_rng(7)
    key = rng.permutation(np.repeat(np.arange(90_000), 2))
    key[rng.integers(0, len(key), 1000)] = -1
    got = sample_key_pairs(key, 150_000, np.random.default_rng(3))
    want = sample_by_stable_argsort(key, 150_000, np.random.default_rng(3))
    assert len(np.unique(key[got[0]])) > 1 << 16
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
