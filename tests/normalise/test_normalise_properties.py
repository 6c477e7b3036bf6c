"""Property tests: every normaliser is total, returns null or a valid value, and is idempotent."""

import datetime as dt
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pace_linkage.normalise import dob, email, ident, name, name_canon, nino, phone, postcode, sex, text

TODAY = dt.date(2025, 11, 25)
PROPS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mixed(*shaped: st.SearchStrategy) -> st.SearchStrategy:
    """Arbitrary unicode text, or text shaped like the field (so valid paths are exercised too)."""
    return st.one_of(st.text(), *shaped)


def _chars(alphabet: str, n: int, m: int | None = None) -> st.SearchStrategy:
    return st.text(alphabet=alphabet, min_size=n, max_size=n if m is None else m)


def _join(*parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map("".join)


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
SPACE = _chars(" -", 0, 1)


NINO_OK = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}")
POSTCODE_OK = re.compile(r"GIR 0AA|[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}")


@PROPS
@given(_mixed(_join(_chars(LETTERS, 2), SPACE, _chars(DIGITS + "OI", 2), SPACE, _chars(DIGITS, 4), SPACE,
                     _chars("ABCDEFabcdX ", 0, 1))))
def test_nino_is_total_valid_and_idempotent(raw):
    out = nino(raw)
    assert out is None or (NINO_OK.fullmatch(out) and out[:2] not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
    assert nino(out) == out


@PROPS
@given(_mixed(_join(_chars(LETTERS + "01", 1, 2), _chars(DIGITS + "OIl", 1, 2), _chars(LETTERS, 0, 1), SPACE,
                     _chars(DIGITS + "OIl", 1), _chars(LETTERS, 2)), st.sampled_from(["gir0aa", "GIR OAA", "GIR 0AA"])))
def test_postcode_is_total_valid_and_idempotent(raw):
    out = postcode(raw)
    assert out is None or POSTCODE_OK.fullmatch(out)
    assert postcode(out) == out


@PROPS
@given(
    st.one_of(
        st.text(),
        _join(_chars(DIGITS, 1, 2), _chars("/.- ", 1), _chars(DIGITS, 1, 2), _chars("/.- ", 1), _chars(DIGITS, 2, 4)),
        _join(st.sampled_from(["19", "20"]), _chars(DIGITS, 2), st.just("-"), _chars(DIGITS, 1, 2), st.just("-"),
              _chars(DIGITS, 1, 2), st.sampled_from(["", " 00:00:00", "T12:30:00.000Z"])),
        _join(_chars(DIGITS, 5, 8), st.sampled_from(["", ".0"])),
        _join(_chars(DIGITS, 1, 2), SPACE, st.sampled_from(["jan", "Feb", "MAR", "April", "sept", "December"]), SPACE,
              _chars(DIGITS, 2, 4)),
        st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2100, 1, 1)).map(lambda d: d.strftime("%d/%m/%Y")),
    )
)
def test_dob_is_total_plausible_and_stable_through_its_iso_form(raw):
    out = dob(raw, today=TODAY)
    if out is not None:
        assert dt.date(1900, 1, 1) < out <= TODAY
        assert 14 <= TODAY.year - out.year - ((TODAY.month, TODAY.day) < (out.month, out.day)) <= 110
        assert dob(out.isoformat(), today=TODAY) == out
    else:
        assert dob(None, today=TODAY) is None


NAME_CHARS = st.sampled_from(list("abcmMcCdoOnNelLyY '’-.éÉßøÆ") + ["Mc", "Mac", "M'", "Mr ", " Jr", "Bob", "X"])


@PROPS
@given(st.one_of(st.text(), st.lists(NAME_CHARS, max_size=12).map("".join)))
def test_name_is_total_valid_and_idempotent(raw):
    out = name(raw)
    assert out is None or re.fullmatch(r"[A-Z]+( [A-Z]+)*", out)
    assert name(out) == out


@PROPS
@given(st.one_of(st.text(), st.lists(NAME_CHARS, max_size=12).map("".join)), st.booleans())
def test_name_canon_is_total_valid_and_idempotent(raw, given_name):
    out = name_canon(raw, given_name=given_name)
    assert out is None or re.fullmatch(r"[A-Z]+", out)
    assert name_canon(out, given_name=given_name) == out


@PROPS
@given(_mixed(st.sampled_from(["m", "f", "male", "FEMALE", "Woman", "man", "1", "2", "9", "u", "x", "other"]),
             _chars(LETTERS + DIGITS + " -", 0, 3)))
def test_sex_is_total_valid_and_idempotent(raw):
    out = sex(raw)
    assert out in (None, "M", "F", "X")
    assert sex(out) == out


@PROPS
@given(_mixed(_join(st.sampled_from(["", "+44 ", "+44(0)", "0044", "0", "+", "00"]), _chars("123456789", 1),
                   _chars(DIGITS + " ", 6, 14), st.sampled_from(["", " ext 12", "x9"]))))
def test_phone_is_total_e164_and_idempotent(raw):
    out = phone(raw)
    assert out is None or re.fullmatch(r"\+[1-9][0-9]{7,14}", out)
    assert phone(out) == out


@PROPS
@given(_mixed(_join(SPACE, _chars(LETTERS + DIGITS + "._%+-", 1, 10), st.just("@"), _chars(LETTERS + DIGITS + "-", 1, 8),
                   st.just("."), _chars(LETTERS, 2, 4), _chars(" ", 0, 1))))
def test_email_is_total_lower_case_and_idempotent(raw):
    out = email(raw)
    assert out is None or (out == out.lower() and out.count("@") == 1 and out == out.strip())
    assert email(out) == out


@PROPS
@given(st.text())
def test_text_is_total_collapsed_upper_case_and_idempotent(raw):
    out = text(raw)
    assert out is None or (out == out.strip() and "  " not in out and out == out.upper() and out)
    assert text(out) == out


@PROPS
@given(st.text())
def test_ident_is_total_trimmed_and_idempotent(raw):
    out = ident(raw)
    assert out is None or (out == out.strip() and out)
    assert ident(out) == out


BATCH = settings(max_examples=200, deadline=None)


@BATCH
@given(st.lists(st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["AB123456C", "EH1 2AB", "Bob", "12/03/1980"])),
                max_size=20))
def test_column_versions_agree_with_the_scalar_functions_value_by_value(values):
    import pandas as pd

    from pace_linkage.normalise import (
        dob_series,
        name_canon_series,
        name_series,
        nino_series,
        postcode_series,
    )

    s = pd.Series(values, dtype=object)
    for series_fn, scalar in [(nino_series, nino), (postcode_series, postcode), (name_series, name),
                              (name_canon_series, name_canon)]:
        got = series_fn(s)[0]
        assert [None if pd.isna(v) else v for v in got] == [scalar(v) for v in values]
    got = dob_series(s, today=TODAY)[0]
    assert [None if pd.isna(v) else v for v in got] == [
        (d.isoformat() if (d := dob(v, today=TODAY)) else None) for v in values
    ]
