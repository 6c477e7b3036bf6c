"""The label-free estimate's key codes read the comparisons' column codes for exact parts: the same keys as
blocking makes them, whatever the comparisons coded before."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.settings import BlockingKey
from pace_linkage.evaluate import unseen
from tests.evaluate.test_eval_speed import record_frames


@settings(max_examples=30, deadline=None)
@given(record_frames(), st.lists(st.sampled_from(["first", "surname", "dob"]), max_size=3))
def test_key_codes_with_the_comparisons_cache_are_the_codes_of_parts_key(case, coded):
    records, keys = case
    cache = ColumnCache(records)
    for col in coded:  # what the comparisons derived before the estimate asks
        cache.codes(col)
    codes = unseen.KeyCodes(records, cache)
    for parts in [*keys, [BlockingKey(column="first"), "dob"]]:
        np.testing.assert_array_equal(codes(parts), unseen.parts_key(records, parts))
