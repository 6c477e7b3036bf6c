"""clusters.csv's order: the rows sorted by source and record id; rows already in that order are kept as they
are, which is what the stable sort gives them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.store import database

text = st.one_of(st.sampled_from(["", "a", "A", "b", "é", "e\u0301", "名", "\U0001f600", "10", "9", " "]),
                 st.text(st.characters(blacklist_categories=["Cs"]), max_size=3))


def by_sort(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["source", "record_id"], kind="stable").reset_index(drop=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(text, text, st.integers(0, 5)), max_size=12), st.booleans(),
       st.sampled_from([None, np.nan, 3]))
def test_sorted_clusters_is_the_stable_sort(rows, presort, odd):
    frame = pd.DataFrame(rows, columns=["source", "record_id", "pace_id"]).astype(
        {"source": object, "record_id": object})
    if presort:
        frame = by_sort(frame)
    if odd is not None and len(frame) and rows[0][2] == 0:
        frame.loc[0, "record_id"] = odd  # not text: the order is the sort's to decide
    frame.index = np.arange(len(frame))[::-1]
    run = SimpleNamespace(clusters=SimpleNamespace(clusters=frame))
    got = database.sorted_clusters(run)
    pd.testing.assert_frame_equal(got, by_sort(frame))
    in_order = database.in_text_order(frame, "source", "record_id")
    if in_order:
        pd.testing.assert_frame_equal(by_sort(frame), frame.reset_index(drop=True))
    if presort and odd is None:
        assert in_order
