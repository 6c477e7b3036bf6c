"""Each normaliser's whole-column fast path gives exactly what its per-value rule gives, on the values
it handles, and leaves the others to the rule."""

from __future__ import annotations

import datetime as dt
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


def mutated(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Well-formed values, as they are, with one character inserted or replaced, or with spacing or case
    changed: so that the fast path's edge (what it handles and what it leaves) is exercised."""
    def edit(value: str, at: int, piece: str, how: int) -> str:
        at = at % (len(value) + 1)
        if how == 0:
            return value[:at] + piece + value[at:]
        if how == 1:
            return value[:at] + piece + value[at + 1:]
        return [value.lower(), value.upper(), value.replace(" ", ""), " " + value, value.swapcase()][how - 2]
    extra = st.one_of(HOSTILE, st.characters(codec="utf-8", max_codepoint=0x2FFF), st.sampled_from("0O1lIZS5 "))
    return st.one_of(valid, st.builds(edit, valid, st.integers(0, 40), extra, st.integers(0, 6)))


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


PHONE = st.one_of(
    st.lists(st.one_of(DIGITS, HOSTILE, st.sampled_from(["+44", "0", "07", "+447", " ", "0044", "+4407"])),
             max_size=6).map(joined),
    mutated(st.builds(lambda p, n, sp: p + (n[:4] + " " + n[4:] if sp else n),
                      st.sampled_from(["+44", "0", "0044", "44", "+44 ", "+440", "", "+1", "00"]),
                      st.text(alphabet="0123456789", min_size=8, max_size=11), st.booleans())),
    mutated(st.builds(lambda p, d, n: p + d * n, st.sampled_from(["07", "+447", "01"]), st.sampled_from("0123456789"),
                      st.integers(7, 10))))


@settings(max_examples=100, deadline=None)
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
    many = [f"07700 900{i:03d}" for i in range(200)]  # enough distinct values for the fast path
    raw = pd.Series(["07700 900123", None, "07700 900123", "abc", "0044 7700 900123", "07000 000000", *many])
    clean, reason = contact.phone_series(raw)
    expect = [contact._phone_rule(v) for v in raw]
    assert [None if pd.isna(c) else c for c in clean] == [e[0] for e in expect]
    assert reason.tolist() == [e[1] for e in expect]


ALNUM = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", max_size=4)
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NINO = st.one_of(
    st.lists(st.one_of(ALNUM, DIGITS, HOSTILE, st.sampled_from(
        ["AB", "ab", "TN", "QQ", "XX", "OO", "GB", "DA", "AD", "123456", "000000", " ", "C", "E", "O1"])),
        max_size=6).map(joined),
    mutated(st.builds(lambda p, d, x, sp: p + (" ".join([d[:2], d[2:4], d[4:]]) if sp else d) + x,
                      st.text(alphabet=UPPER, min_size=2, max_size=2),
                      st.one_of(st.text(alphabet="0123456789", min_size=6, max_size=6),
                                st.sampled_from("0123456789").map(lambda c: c * 6)),
                      st.sampled_from(["", "A", "D", "E", "Z"]), st.booleans())))


@settings(max_examples=100, deadline=None)
@given(st.lists(NINO, min_size=1, max_size=20))
def test_nino_fast_path_matches_the_rule(values):
    check(nino.nino_fast, nino._rule, values)


def test_nino_fast_path_handles_valid_numbers_only():
    values = ["AB123456C", "ab 12 34 56", "TN123456A", "AB000000", "AB12345GC", "DA123456A", "AB123456E"]
    handled, (stem, suffix, _reason) = nino.nino_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, False, False, False, False]
    assert stem[:2].tolist() == ["AB123456", "AB123456"] and suffix[:2].tolist() == ["C", None]


POSTCODE = st.one_of(
    st.lists(st.one_of(ALNUM, HOSTILE, st.sampled_from(
        ["EH1", "SW1A", "1AA", "2AB", " ", "GIR", "0AA", "O", "I", "W1", "EC1A", "QA1", "0CI"])), max_size=5).map(joined),
    mutated(st.builds(lambda o, i, sp: o + (" " if sp else "") + i,
                      st.from_regex(r"[A-Z][A-Z]?[0-9][0-9A-Z]?", fullmatch=True),
                      st.from_regex(r"[0-9][A-Z]{2}", fullmatch=True), st.booleans())))


@settings(max_examples=100, deadline=None)
@given(st.lists(POSTCODE, min_size=1, max_size=20))
def test_postcode_fast_path_matches_the_rule(values):
    check(postcode.postcode_fast, postcode._rule, values)


def test_postcode_fast_path_reads_valid_postcodes_without_repair():
    values = ["EH1 2AB", "sw1a1aa", "W1A 0AX", "EH1O 0AB", "GIR 0AA", "M1 1AE"]
    handled, cols = postcode.postcode_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, True, False, False, True]
    assert [c[0] for c in cols] == ["EH1 2AB", "EH", "EH1", "EH1 2", None]
    assert [c[5] for c in cols] == ["M1 1AE", "M", "M1", "M1 1", None]


EMAIL = st.one_of(
    st.lists(st.one_of(ALNUM, HOSTILE, st.sampled_from(
        ["@", ".", "+", "+tag", "jo.smith", "gmail.com", "MAILTO:", "example.com", "none", "n", "u.ll", "-", "..",
         "co.uk", "A", " ", "'", "#"])), max_size=6).map(joined),
    mutated(st.builds(lambda u, d: u + "@" + d,
                      st.one_of(st.from_regex(r"[A-Za-z0-9.+_'-]{1,8}", fullmatch=True),
                                st.sampled_from(["none", "test", "n", "no.email", "mailto:jo", "+", "a+b"])),
                      st.one_of(st.from_regex(r"([a-z0-9-]{1,5}\.){1,2}[A-Za-z]{1,3}", fullmatch=True),
                                st.sampled_from(["example.com", "u.ll", "gmail.com"])))))


@settings(max_examples=100, deadline=None)
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


dates = importlib.import_module("pace_linkage.normalise.dates")
FORMATS = [None, "%d/%m/%Y", "%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%d.%m.%Y", "%d %m %Y", "%Y/%d/%m"]
NUMBER = st.one_of(st.text(alphabet="0123456789", min_size=1, max_size=4),
                   st.sampled_from(["00", "01", "02", "12", "13", "29", "30", "31", "1899", "1900", "1980", "2000",
                                    "2012", "2030", "0000", "0999", "1600", "2100"]))
DATE = st.one_of(
    st.lists(st.one_of(NUMBER, HOSTILE, st.sampled_from(["/", "-", ".", " ", "T"])), max_size=6).map(joined),
    mutated(st.builds(lambda d, f: d.strftime(f), st.dates(min_value=dt.date(1000, 1, 1)),
                      st.sampled_from([f for f in FORMATS if f]))),
    mutated(st.builds(lambda y, m, d, sep: f"{y:04d}{sep}{m:02d}{sep}{d:02d}", st.integers(0, 2100),
                      st.integers(0, 13), st.integers(0, 32), st.sampled_from(["-", "/", "", "."]))))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(FORMATS), st.sampled_from(["dob", "date"]), st.lists(DATE, min_size=1, max_size=20),
       st.lists(st.sampled_from(["01/01/1970", "1970-01-01", "19700101", "02/03/2001", "99"]), max_size=2),
       st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2040, 12, 31)),
       st.builds(dates.DateLimits, earliest=st.sampled_from([dt.date(1900, 1, 1), dt.date(1950, 6, 15)]),
                 min_age=st.integers(0, 20), max_age=st.integers(60, 120), allow_future=st.sampled_from([None, True,
                                                                                                          False])))
def test_date_fast_path_matches_the_rule(fmt, kind, values, placeholders, today, limits):
    fast = dates._fast_factory(kind, fmt, placeholders, today, limits)
    check(fast, dates._rule_factory(kind, fmt, placeholders, today, limits), values)


def test_date_fast_path_reads_the_numeric_layouts():
    today = dt.date(2024, 6, 1)
    fast = dates._fast_factory("dob", "%d/%m/%Y", ["01/01/1970"], today)
    values = ["12/03/1980", "31/02/1980", "01/01/1970", "12/03/2020", "1/3/1980", "12-03-1980"]
    handled, (iso, year, month, day, reason) = fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, True, False, False]
    assert (iso[0], year[0], month[0], day[0]) == ("1980-03-12", 1980, 3, 12)
    assert reason[:4].tolist() == [None, "dob_wrong_format", None, "dob_implausible_age"]
    assert dates._fast_factory("dob", "%d %b %Y", (), today) is None


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([f for f in FORMATS if f]), st.lists(DATE, min_size=1, max_size=20))
def test_day_month_order_counts_as_strptime_reads(fmt, values):
    swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    got = dates.day_month_order(pd.Series(values, dtype=object), fmt)
    flags = [(dates._fits(v.strip(), fmt), dates._fits(v.strip(), swapped)) if v.strip() else (False, False)
             for v in values]
    assert (got.fit_order, got.fit_other, got.fit_both) == (
        sum(a and not b for a, b in flags), sum(b and not a for a, b in flags), sum(a and b for a, b in flags))


text = importlib.import_module("pace_linkage.normalise.text")
TEXT = st.one_of(
    st.text(max_size=12),
    st.lists(st.one_of(ALNUM, HOSTILE, st.sampled_from(["&", "'", ".", "`", " ", "_", "-", "N/A", "Ltd", "ß", "Ó",
                                                         "ﬁ", "(", "n", "a", "/"])), max_size=6).map(joined),
    mutated(st.from_regex(r"[A-Za-z0-9&'. ()_-]{1,20}", fullmatch=True)))


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=20))
def test_text_and_ident_fast_paths_match_their_rules(values):
    check(text.text_fast, text._text_rule, values)
    check(text.ident_fast, text._ident_rule, values)


def test_text_fast_path_cleans_ascii_and_leaves_the_rest():
    values = ["O'Brien's Ltd.", "A&B  (Scotland)_x", "N/A", "...", " padded", "Café", "n.k."]
    handled, (clean, _reason) = text.text_fast(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, False, False, False, False]
    assert clean[:2].tolist() == ["OBRIENS LTD", "A AND B SCOTLAND X"]
    assert text.ident_fast(np.asarray(["ab 01", "ab  01", " x"], dtype=object))[0].tolist() == [True, False, False]


names = importlib.import_module("pace_linkage.normalise.names")
NAME = st.one_of(
    st.sampled_from(["Bob", "bob", "McDonald", "MCMCX", "Mc", "Iain", "Null", "xxx", "X", "Lord", "Kirsty", "Reid",
                     "Seán", "O'Neil", "Mr Smith", "Smith-Jones", "M'Donald", "Na", "Tbc", "Mcbob", "Robbie"]),
    mutated(st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True)),
    st.text(max_size=8))


@settings(max_examples=100, deadline=None)
@given(st.booleans(), st.lists(NAME, min_size=1, max_size=20))
def test_name_fast_path_matches_the_rule(given_name, values):
    check(names._fast_factory(given_name), names._rule_factory(given_name), values)


def test_name_fast_path_reads_single_ascii_words():
    values = ["Bob", "mcdonald", "Null", "Xx", "O'Neil", "Seán"]
    handled, cols = names._fast_factory(True)(np.asarray(values, dtype=object))
    assert handled.tolist() == [True, True, False, False, False, False]
    assert [c[0] for c in cols] == ["BOB", "ROBERT", "R163", "B", None]
    assert [c[1] for c in cols][:2] == ["MCDONALD", "MACDONALD"]
