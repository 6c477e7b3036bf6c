"""The estimated missed links of several group kinds, a record's groups looked up as one element, are each
kind's sums of one pass over every pair, bit for bit, with group codes of one byte or wider."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import groups
from tests.evaluate.test_mem_pairs import below_by_group_as_first_written


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.integers(1, 6), st.sampled_from([7, 255, 256, 300, 70_000])), min_size=1, max_size=4),
       st.integers(1, 200),
       st.integers(0, 2**16), st.sampled_from([1, 5, 64, 1 << 20]))
def test_missed_links_of_several_group_kinds_of_any_code_width_in_one_pass_are_each_kinds_sums(ks, m, seed, chunk):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    codes = [rng.integers(0, k, n).astype(np.min_scalar_type(k)) for k in ks]
    left, right = rng.integers(0, n, m).astype(np.int32), rng.integers(0, n, m).astype(np.int32)
    p = rng.random(m) ** rng.integers(1, 12, m)
    links = groups.run_links(np.zeros(n, dtype=np.int64), left, right, p, 0.5)
    with patch.object(groups, "BELOW_CHUNK", chunk):
        got = groups._below_by_groups(codes, ks, links)
    for g, k, sums in zip(codes, ks, got, strict=True):
        assert sums.tobytes() == below_by_group_as_first_written(g, left, right, p, p < 0.5, k).tobytes()
