"""Who moved (distinct non-null postcodes per person) from integer codes: the same labels as counting the
distinct values per person with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate.groups import UNKNOWN, moved


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["AB1 2CD", "EH1 1AA", "G2 3BB", None, np.nan, pd.NA])),
                max_size=40), st.booleans())
def test_moved_is_the_count_of_distinct_postcodes_per_person(rows, as_string):
    person = np.array([p for p, _ in rows], dtype=np.int64)
    postcode = pd.Series([c for _, c in rows], dtype="string" if as_string else object)
    n = pd.Series(postcode.to_numpy(), dtype=object).groupby(person).nunique(dropna=True).reindex(person).to_numpy()
    want = np.where(n >= 2, "moved", np.where(n == 1, "did not move", UNKNOWN))
    got = moved(person, postcode)
    assert got.tolist() == want.tolist()
    assert got.index.equals(postcode.index)
