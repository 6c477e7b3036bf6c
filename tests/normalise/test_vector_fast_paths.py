"""Each normaliser's whole-column fast path gives exactly what its per-value rule gives, on the values
it handles, and leaves the others to the rule."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

# the package re-exports functions of the same names as these modules
contact = importlib.import_module("pace_linkage.normalise.contact")
nino = importlib.import_module("pace_linkage.normalise.nino")
postcode = importlib.import_module("pace_linkage.normalise.postcode")


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


ALNUM = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", max_size=4)
NINO = st.lists(st.one_of(ALNUM, DIGITS, HOSTILE, st.sampled_from(
    ["AB", "ab", "TN", "QQ", "XX", "OO", "GB", "DA", "AD", "123456", "000000", " ", "C", "E", "O1"])), max_size=6).map(joined)


@settings(max_examples=300, deadline=None)
@given(st.lists(NINO, min_size=1, max_size=20))
def test_nino_fast_path_matches_the_rule(values):
    check(nino.nino_fast, nino._rule, values)


def test_nino_fast_path_handles_valid_numbers_only():
    values = ["AB123456C", "ab 12 34 56", "TN123456A", "AB000000", "AB12345GC", "DA123456A", "AB123456E"]
    handled, (stem, suffix, _reason) = nino.nino_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, False, False, False, False]
    assert stem[:2].tolist() == ["AB123456", "AB123456"] and suffix[:2].tolist() == ["C", None]


POSTCODE = st.lists(st.one_of(ALNUM, HOSTILE, st.sampled_from(
    ["EH1", "SW1A", "1AA", "2AB", " ", "GIR", "0AA", "O", "I", "W1", "EC1A", "QA1", "0CI"])), max_size=5).map(joined)


@settings(max_examples=300, deadline=None)
@given(st.lists(POSTCODE, min_size=1, max_size=20))
def test_postcode_fast_path_matches_the_rule(values):
    check(postcode.postcode_fast, postcode._rule, values)


def test_postcode_fast_path_reads_valid_postcodes_without_repair():
    values = ["EH1 2AB", "sw1a1aa", "W1A 0AX", "EH1O 0AB", "GIR 0AA", "M1 1AE"]
    handled, cols = postcode.postcode_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, True, False, False, True]
    assert [c[0] for c in cols] == ["EH1 2AB", "EH", "EH1", "EH1 2", None]
    assert [c[5] for c in cols] == ["M1 1AE", "M", "M1", "M1 1", None]


EMAIL = st.lists(st.one_of(ALNUM, HOSTILE, st.sampled_from(
    ["@", ".", "+", "+tag", "jo.smith", "gmail.com", "MAILTO:", "example.com", "none", "n", "u.ll", "-", "..",
     "co.uk", "A", " ", "'", "#"])), max_size=6).map(joined)


@settings(max_examples=300, deadline=None)
@given(st.lists(EMAIL, min_size=1, max_size=20))
def test_email_fast_path_matches_the_rule(values):
    check(contact.email_fast, contact._email_parts_rule, values)


def test_email_fast_path_handles_valid_addresses_as_written():
    values = ["Jo.Smith+news@Gmail.com", "+x@a.co", "n@u.ll", "none@gmail.com", "mailto:a@b.co", "a@b", "a b@c.co"]
    handled, cols = contact.email_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, False, False, False, False]
    assert [c[0] for c in cols] == ["jo.smith+news@gmail.com", "jo.smith", "gmail.com", "jo.smith+news@gmail.com",
                                    None]
    assert [c[1] for c in cols][1] == "+x"
