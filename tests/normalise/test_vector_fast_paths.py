"""Each normaliser's whole-column fast path gives exactly what its per-value rule gives, on the values
it handles, and leaves the others to the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.normalise import contact

HOSTILE = st.sampled_from(
    ["", " ", "\u00a0", "\t", "\n", "\u2007", "\u0663", "\uff11", "\u00e9", "\ud800", "+", "(0)", "-", "x12",
     "ext 4", "N/A", "mailto:", "@", ".", "0", "00", "44", "9" * 40]
)
DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=12)


def check(fast, rule, values: list[str]) -> None:
    texts = np.asarray(values, dtype=object)
    found = fast(texts)
    if found is None:
        return
    handled, outs = found
    for i in np.flatnonzero(handled):
        assert tuple(o[i] for o in outs) == tuple(rule(texts[i])), texts[i]


def joined(parts: list[str]) -> str:
    return "".join(parts)


PHONE = st.lists(st.one_of(DIGITS, HOSTILE, st.sampled_from(["+44", "0", "07", "+447", " ", "0044", "+4407"])),
                 max_size=6).map(joined)


@settings(max_examples=300, deadline=None)
@given(st.lists(PHONE, min_size=1, max_size=20))
def test_phone_fast_path_matches_the_rule(values):
    check(contact.phone_fast, contact._phone_rule, values)


def test_phone_fast_path_handles_the_common_shapes_and_keeps_placeholders():
    values = ["07700 900123", "+447700900123", "01314960000", "07000 000000", "0044 7700 900123", "+44 (0)7700"]
    handled, (number, reason) = contact.phone_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, True, True, False, False]
    assert number[:4].tolist() == ["+447700900123", "+447700900123", "+441314960000", None]
    assert reason[3] == "phone_placeholder"


def test_phone_series_is_the_rule_per_value():
    raw = pd.Series(["07700 900123", None, "07700 900123", "abc", "0044 7700 900123", "07000 000000"])
    clean, reason = contact.phone_series(raw)
    expect = [contact._phone_rule(v) for v in raw]
    assert [None if pd.isna(c) else c for c in clean] == [e[0] for e in expect]
    assert reason.tolist() == [e[1] for e in expect]
