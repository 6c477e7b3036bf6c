"""The estimated missed links per group, summed a chunk of pairs at a time, are bit for bit the sums of one
pass over every pair."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import groups
from tests.evaluate.test_mem_pairs import below_by_group_as_first_written


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 300), st.integers(0, 2**16), st.sampled_from([1, 7, 64, 1 << 20]))
def test_missed_links_by_group_in_chunks_are_the_sums_of_one_pass_bit_for_bit(k, m, seed, chunk):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    g = rng.integers(0, k, n).astype(np.min_scalar_type(k))
    left = rng.integers(0, n, m).astype(np.int32)
    right = rng.integers(0, n, m).astype(np.int32)
    p = rng.random(m) ** rng.integers(1, 12, m)  # magnitudes far apart: any other order rounds differently
    links = groups.run_links(np.zeros(n, dtype=np.int64), left, right, p, 0.5)
    with patch.object(groups, "BELOW_CHUNK", chunk):
        got = groups._below_by_group(g, links, k)
    assert got.tobytes() == below_by_group_as_first_written(g, left, right, p, p < 0.5, k).tobytes()
