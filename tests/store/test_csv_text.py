"""CSV text built in Arrow (pace_linkage.store.csvtext) is the file pandas writes, byte for byte: formulas
neutralised, fields quoted as Python's csv module quotes them, missing values empty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.redact import safe_csv_frame
from pace_linkage.store import csvtext
from pace_linkage.store.outputs import csv_bytes

TRICKY = ["", " ", ",", '"', "\n", "\r", "\r\n", "\t", "=", "+", "-", "@", "'", ";", "é", "名", "\u2028", "a,b",
          'say "hi"', "=SUM(A1)", "-1", "@x", "\tx", "\rx", " =x", "\x00", "\x1f", "\\"]
cell = st.one_of(st.none(), st.just(np.nan), st.just(pd.NA), st.sampled_from(TRICKY),
                 st.text(st.characters(blacklist_categories=["Cs"]), max_size=6),
                 st.lists(st.sampled_from(TRICKY), max_size=4).map("".join))
label = st.one_of(st.sampled_from(["a", "", "=x", "a,b", 'q"', "-", "x\ny", "b"]), st.text(max_size=4))


def pandas_bytes(df: pd.DataFrame) -> bytes:
    return safe_csv_frame(df).to_csv(index=False, lineterminator="\n").encode("utf-8")


@st.composite
def text_frames(draw):
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(0, 8))
    labels = draw(st.lists(label, min_size=n_cols, max_size=n_cols, unique=True))
    cols = [np.array(draw(st.lists(cell, min_size=n_rows, max_size=n_rows)), dtype=object) for _ in labels]
    return pd.DataFrame(dict(enumerate(cols))).set_axis(labels, axis=1) if n_rows else pd.DataFrame(
        {i: pd.Series([], dtype=object) for i in range(n_cols)}).set_axis(labels, axis=1)


@settings(max_examples=200, deadline=None)
@given(text_frames())
def test_text_frame_csv_is_the_pandas_file(df):
    fast = csvtext.text_csv_bytes(df)
    assert fast is not None
    assert fast == pandas_bytes(df)
    assert csv_bytes(df) == fast


@settings(max_examples=100, deadline=None)
@given(text_frames(), st.sampled_from([1, 2.5, True, b"x", pd.Timestamp("2020-01-02"), "\ud800"]))
def test_a_frame_beyond_text_is_left_to_pandas(df, odd):
    df = df.copy()
    df.insert(len(df.columns), "odd", [odd] * len(df) if len(df) else pd.Series([], dtype=float))
    if odd == "\ud800":  # text that UTF-8 cannot hold: an error either way, as before
        if len(df):
            with pytest.raises(UnicodeEncodeError):
                csv_bytes(df)
        return
    if len(df):
        assert csvtext.text_csv_bytes(df) is None
    assert csv_bytes(df) == pandas_bytes(df)


def test_quoting_rule_is_read_from_the_csv_module():
    chars = csvtext.quote_chars()
    assert {",", '"', "\n"} <= set(chars)
    assert csvtext.text_csv_bytes(pd.DataFrame({"a": ["x\ry", "p\nq"]})) == pandas_bytes(
        pd.DataFrame({"a": ["x\ry", "p\nq"]}))


def test_labels_and_shapes_outside_the_fast_path():
    assert csvtext.text_csv_bytes(pd.DataFrame()) is None
    assert csvtext.text_csv_bytes(pd.DataFrame({1: ["a"]})) is None
    assert csvtext.text_csv_bytes(pd.DataFrame({"a": pd.Series(["x"], dtype="category")})) is None
    dup = pd.DataFrame([["=a", "b,"]], columns=["c", "c"])
    assert csvtext.text_csv_bytes(dup) is None and csv_bytes(dup) == pandas_bytes(dup)
