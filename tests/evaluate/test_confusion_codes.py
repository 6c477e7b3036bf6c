"""Confusion label codes from two boolean arrays by arithmetic: TP 0, FP 1, FN 2, TN 3, as the labels say."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate.quality import CONFUSION_LABELS, confusion_codes


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from([0.0, 0.4, 0.5, 0.9])),
             max_size=30))))
def test_confusion_codes_name_each_pair_by_its_label(case):
    n, people, pairs = case
    records = pd.DataFrame({"source": ["s"] * n, "record_id": [str(i) for i in range(n)]})
    truth = records.assign(person_id=[f"p{p}" for p in people])
    frame = pd.DataFrame(pairs or None, columns=["l", "r", "match_probability"])
    is_match, code = confusion_codes(frame.astype({"l": np.int64, "r": np.int64, "match_probability": float}),
                                     records, truth, 0.5)
    assert code.dtype == np.int8
    for (a, b, p), m, c in zip(pairs, is_match, code, strict=True):
        assert m == (people[a] == people[b])
        want = ("T" if m == (p >= 0.5) else "F") + ("P" if p >= 0.5 else "N")
        assert CONFUSION_LABELS[c] == want
