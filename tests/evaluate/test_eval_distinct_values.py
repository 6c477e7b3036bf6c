"""Evaluate's paths over distinct values give what the whole-column rules give: the key codes of text parts
derived from the comparisons' column codes, and birth dates parsed once per distinct value."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

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
