"""ASCII text is judged blank or not by whole-array kernels: the same verdicts as ``str.strip().lower()`` and
the token list, value by value, for every ASCII space character and any mix of case."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.study.holdings import BLANK_TOKENS, non_blank

# no NUL: pandas factorize takes "\x00" for "" (a row holding one is quarantined at ingest, before this)
SPACE = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85",
                         "\u00a0", ""])
TOKEN = st.sampled_from(sorted(BLANK_TOKENS) + ["nul", "n/", "NoNe", "UnKnOwN", "NOT KNOWN", "not  known", "K"])
CASED = TOKEN.flatmap(lambda t: st.lists(st.booleans(), min_size=len(t), max_size=len(t)).map(
    lambda up: "".join(c.upper() if u else c for c, u in zip(t, up, strict=True))))
VALUE = st.tuples(st.lists(SPACE, max_size=3), CASED, st.lists(SPACE, max_size=3)).map(
    lambda p: "".join(p[0]) + p[1] + "".join(p[2]))


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUE, min_size=1, max_size=40))
def test_ascii_verdicts_are_the_rules(values):
    filler = [f"ID{i:05d}" for i in range(140)]  # enough distinct values for the whole-array kernels
    column = pd.Series(values + filler, dtype=object)
    expected = np.array([str(v).strip().lower() not in BLANK_TOKENS for v in column], dtype=bool)
    assert non_blank(column).tolist() == expected.tolist()
