"""Evaluate's paths over distinct values give what the whole-column rules give: the key codes of text parts
derived from the comparisons' column codes, and birth dates parsed once per distinct value."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from pace_linkage.engine import blocking, columns
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.settings import BlockingKey
from pace_linkage.evaluate import unseen

PARTS = ["first", "surname", "dob", BlockingKey(transform="prefix", column="surname", length=2),
         BlockingKey(transform="soundex", column="surname"), BlockingKey(transform="year", column="dob"),
         BlockingKey(transform="day_month_set", column="dob"), BlockingKey(transform="month_day", column="dob"),
         BlockingKey(transform="set", columns=["first", "surname"]),
         BlockingKey(transform="set", columns=["surname", "first", "middle"])]
NAMES = st.one_of(st.none(), st.sampled_from(["ann", "lee", "anna", "smith", "smyth", "o'neil", "Ann", "", "é"]))
DATES = st.one_of(st.none(), st.sampled_from(["1980-01-02", "1980-02-01", "1975-01-02", "2001-12-31", "19800102",
                                              " 1980-01-02", "1980-13-40", "not a date", "", "2000-02-29"]))


@st.composite
def text_records(draw):
    n = draw(st.integers(0, 30))
    storage = draw(st.sampled_from(["python", "pyarrow"]))
    frame = pd.DataFrame({c: draw(st.lists(NAMES, min_size=n, max_size=n)) for c in ("first", "surname", "middle")}
                         | {"dob": draw(st.lists(DATES, min_size=n, max_size=n))}, dtype=object)
    keys = draw(st.lists(st.lists(st.sampled_from(range(len(PARTS))), min_size=1, max_size=3, unique=True),
                         min_size=1, max_size=5))
    return frame.astype(pd.StringDtype(storage)), [[PARTS[i] for i in k] for k in keys]


@settings(max_examples=60, deadline=None)
@given(text_records(), st.lists(st.sampled_from(["first", "surname", "dob", "middle"]), max_size=4))
def test_key_codes_of_text_columns_from_the_cache_are_the_codes_of_parts_key(case, coded):
    records, keys = case
    cache = ColumnCache(records)
    for col in coded:  # whatever the comparisons coded before the estimate asks
        cache.codes(col)
    codes = unseen.KeyCodes(records, cache)
    for parts in [*keys, *([p] for p in PARTS)]:
        np.testing.assert_array_equal(codes(parts), unseen.parts_key(records, parts))


@settings(max_examples=60, deadline=None)
@given(text_records())
def test_dates_of_a_text_column_parsed_per_distinct_value_are_the_whole_column_parse(case):
    records, _ = case
    got = ColumnCache(records).date_parts("dob")
    want = ColumnCache(records.astype(object)).date_parts("dob")  # the whole column parsed as text
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_first_appearance_keeps_nulls_and_numbers_values_as_they_first_appear():
    got = unseen.first_appearance(np.array([7, -1, 3, 7, 9, -1, 3], dtype=np.int64))
    np.testing.assert_array_equal(got, [0, -1, 1, 0, 2, -1, 1])


TEXT = st.one_of(st.none(), st.text(alphabet="aAé’ 0-\x00\u00a0ß", max_size=4))


@settings(max_examples=80, deadline=None)
@given(st.lists(TEXT, max_size=40).map(lambda v: [*v, "", "\x00"] if any(x and "\x00" in x for x in v) else v),
       st.sampled_from(["python", "pyarrow"]), st.booleans())
def test_text_coded_through_arrow_is_pandas_factorize(values, storage, arrow):
    s = pd.Series(values, dtype=object).astype(pd.StringDtype(storage))
    with patch.multiple(columns, _ARROW_MIN_ROWS=0 if arrow else 10**9, _ARROW_DISTINCT_SHARE=-1.0):
        codes, uniques = columns.factorize_text(s)
    want_codes, want_uniques = pd.factorize(s, use_na_sentinel=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int64 and uniques.dtype == object
    assert uniques.tolist() == [str(u) for u in want_uniques]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=30), st.booleans())
def test_joint_codes_of_text_columns_from_their_codes_are_those_of_the_concatenation(rows, coded_first):
    frame = pd.DataFrame(rows, columns=["a", "b"], dtype=object)
    text = ColumnCache(frame.astype("string"))
    if coded_first:  # the columns' own codes made before
        text.codes("b")
    plain = ColumnCache(frame)  # object columns: the concatenation factorised
    for x, y in [("a", "b"), ("b", "a")]:
        for got, want in zip(text.joint_codes(x, y), plain.joint_codes(x, y), strict=True):
            np.testing.assert_array_equal(got, want)
        cl, cr = text.joint_codes(x, y)
        ok = (cl >= 0) & (cr >= 0)
        got = text.joint_scores(x, y, cl[ok], cr[ok], scorer=fuzz.ratio)
        np.testing.assert_array_equal(got, plain.joint_scores(x, y, cl[ok], cr[ok], scorer=fuzz.ratio))


def test_text_arrow_cannot_hold_is_coded_by_pandas():
    s = pd.Series(["a\ud800", None, "b", "a\ud800"], dtype="string")
    with patch.multiple(columns, _ARROW_MIN_ROWS=0, _ARROW_DISTINCT_SHARE=-1.0):
        codes, uniques = columns.factorize_text(s)
    assert codes.tolist() == [0, -1, 1, 0] and uniques.tolist() == ["a\ud800", "b"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-1, 5), min_size=12, max_size=12), min_size=1, max_size=4))
def test_combined_key_is_composite_key_of_the_columns(columns_):
    frame = pd.DataFrame({f"k{j}": pd.array(c, dtype="Int64") for j, c in enumerate(columns_)})
    frame = frame.mask(frame < 0)
    codes = [unseen.first_appearance(np.array(c, dtype=np.int64)) for c in columns_]
    want = blocking.composite_key(frame, list(frame.columns))
    np.testing.assert_array_equal(unseen.combined_key(codes, 12), want)


def test_combined_key_renumbers_before_its_radix_would_overflow():
    rng = np.random.default_rng(5)
    columns_ = [unseen.first_appearance(rng.integers(-1, 3000, 5000)) for _ in range(7)]  # 3000^7 > 2^62
    frame = pd.DataFrame({f"k{j}": pd.array(np.where(c < 0, 0, c), dtype="Int64") for j, c in enumerate(columns_)})
    for j, c in enumerate(columns_):
        frame.loc[c < 0, f"k{j}"] = pd.NA
    np.testing.assert_array_equal(unseen.combined_key(columns_, 5000),
                                  blocking.composite_key(frame, list(frame.columns)))
