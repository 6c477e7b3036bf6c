"""The counting helpers: distinct integers as np.unique gives them (its sorted answer, by a sort)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pace_linkage.counting import distinct_ints, pairs_sharing_code


@given(arrays(np.int64, st.integers(0, 300), elements=st.integers(-5, 2**40)))
def test_distinct_ints_is_numpys_unique(values):
    got = distinct_ints(values)
    assert got.dtype == values.dtype and np.array_equal(got, np.unique(values))


def test_distinct_ints_of_other_integer_types_and_shapes():
    for values in (np.array([3, 1, 3, 2], dtype=np.int32), np.array([[5, 5], [1, 0]], dtype=np.int8),
                   np.array([], dtype=np.int64), np.array([7], dtype=np.intp)):
        assert np.array_equal(distinct_ints(values), np.unique(values))
    assert pairs_sharing_code(np.array([0, 0, 1, -1, 1, 1])) == 1 + 3
