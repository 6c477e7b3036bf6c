"""``non_blank`` judges at once the values that cannot be blank tokens, and agrees with judging each one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.study.holdings import BLANK_TOKENS, could_be_blank, non_blank

PIECES = st.sampled_from(["", " ", "\t", "\n", "\x1c", "\x1f", "\u00a0", "\u2007", "\u3000", "\u200b", "\u180e",
                          "\ud800", "N/A", "None", "not known", "UNKNOWN", "-", "nan", "x" * 12, "é"])
VALUE = st.one_of(st.text(max_size=14), st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=4).map("".join),
                  st.integers(), st.floats(allow_nan=True), st.dates(min_value=dt.date(1900, 1, 1)), st.none())


def judged_one_by_one(column: pd.Series) -> np.ndarray:
    text = column.map(lambda v: None if pd.isna(v) else str(v).strip().lower())
    return np.array([t is not None and t not in BLANK_TOKENS for t in text], dtype=bool)


@settings(max_examples=150, deadline=None)
@given(st.lists(VALUE, max_size=25))
def test_non_blank_agrees_with_judging_each_value(values):
    many = [f"Given Name {i}" for i in range(130)]  # enough distinct values for the fast path
    column = pd.Series(values + many, dtype=object)
    assert non_blank(column).tolist() == judged_one_by_one(column).tolist()


def test_long_trimmed_ascii_text_is_ruled_out_and_the_rest_is_not():
    values = np.asarray(["Kirsty Macdonald", " not known ", "not known", "\u00a0unknown", "x" * 10, 12345], dtype=object)
    assert could_be_blank(values).tolist() == [False, True, True, True, False, True]
