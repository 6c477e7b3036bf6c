"""Putting partitions back together: the same frame as pd.concat, without holding every copy at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.partition import concat_parts, partition_bounds
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, RULE


def _pairs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    left = np.sort(rng.integers(0, 50, n)).astype(np.int32)
    return pd.DataFrame({LEFT: left, RIGHT: (left + 1 + rng.integers(0, 9, n)).astype(np.int32),
                         RULE: rng.integers(0, 4, n).astype(np.int8)}, index=pd.RangeIndex(n) + 7)


def _scored_parts(pairs: pd.DataFrame, size: int, seed: int) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    parts = []
    for a, b in partition_bounds(len(pairs), size):
        part = pairs.iloc[a:b].reset_index(drop=True)
        weight = rng.normal(size=b - a)
        parts.append(part.assign(**{MATCH_WEIGHT: weight, MATCH_PROBABILITY: 1 / (1 + 2.0 ** -weight)}))
    return parts


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), size=st.integers(1, 25), seed=st.integers(0, 2**16))
def test_same_frame_as_concat(n, size, seed):
    pairs = _pairs(n, seed)
    parts = _scored_parts(pairs, size, seed)
    expect = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    expect.index = pairs.index
    got = concat_parts(list(parts), pairs.index, shared=pairs)
    pd.testing.assert_frame_equal(got, expect, check_exact=True)
    pd.testing.assert_frame_equal(concat_parts(list(parts), pairs.index), expect, check_exact=True)


def test_shared_columns_are_the_pairs_own_and_parts_are_released():
    pairs = _pairs(100, 3)
    parts = _scored_parts(pairs, 30, 3)
    got = concat_parts(parts, pairs.index, shared=pairs)
    assert parts == []  # every partition was released
    for col in (LEFT, RIGHT, RULE):
        assert np.shares_memory(got[col].to_numpy(), pairs[col].to_numpy()), col
    assert not np.shares_memory(got[MATCH_WEIGHT].to_numpy(), got[MATCH_PROBABILITY].to_numpy())
