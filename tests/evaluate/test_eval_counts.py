"""Counting in place of searching: where each record's candidate pairs start, and the truth's person codes
with blank ids looked at once per distinct id, are what the searches and the whole-column rules give."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import missed, quality


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=120), st.integers(0, 45), st.sampled_from([1, 5, 1 << 20]),
       st.sampled_from([np.int32, np.int64]))
def test_run_starts_are_the_searched_positions(values, n, chunk, dtype):
    ordered = np.sort(np.array(values, dtype=dtype))
    with patch.object(missed, "COUNT_CHUNK", chunk):
        got = missed.run_starts(ordered, n)
    want = np.searchsorted(ordered, np.arange(n + 1))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


IDS = st.one_of(st.none(), st.sampled_from(["p1", "p2", " p1", "", "  ", "\t", "p3", "nan"]), st.integers(0, 3))


@settings(max_examples=80, deadline=None)
@given(st.lists(IDS, max_size=40), st.sampled_from(["object", "string"]))
def test_person_id_codes_are_the_codes_of_the_ids_with_blanks_null(ids, dtype):
    values = pd.Series(ids, dtype=object)
    if dtype == "string":
        values = values.map(lambda v: v if v is None else str(v)).astype("string")
    got = quality.person_id_codes(values)
    want = quality.group_codes(quality._blank_to_null(values))
    np.testing.assert_array_equal(got, want)
