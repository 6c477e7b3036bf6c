"""Postal codes of any country are masked for review sheets and the report's waterfalls: at most the first two
characters of a code of five or more are shown."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pace_linkage.redact import mask_series, mask_value


def test_a_postal_code_keeps_at_most_its_first_two_characters():
    assert mask_value("postal_code", "1012AB") == "10****"
    assert mask_value("postal_code", "90210") == "90***"
    assert mask_value("postal_code", "2000") == "****"
    assert mask_value("postal_code", None) == ""


@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789ABXY -", max_size=12)), max_size=10))
def test_series_and_scalar_agree_and_hide_all_but_a_prefix(values):
    out = mask_series("postal_code", pd.Series(values, dtype=object)).tolist()
    assert out == [mask_value("postal_code", v) for v in values]
    for v, m in zip(values, out, strict=True):
        shown = [c for c in m if c not in "* "]
        assert len(shown) <= 2 and (not shown or (v or "").strip().upper().startswith("".join(shown)))
