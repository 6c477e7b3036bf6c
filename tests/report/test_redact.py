"""redact: masking rules, small-count suppression and CSV formula neutralisation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.redact import (
    mask_dob,
    mask_name,
    mask_nino,
    mask_postcode,
    mask_series,
    mask_value,
    neutralise_formula,
    safe_csv_frame,
    suppress_frame,
    suppress_mapping,
    suppress_small,
)


def test_mask_name_keeps_first_letter_of_each_word_and_the_length():
    assert mask_name("John McDonald") == "J*** M*******"
    assert mask_name("Mary-Jane Smith") == "M***-J*** S****"
    assert mask_name("  Al ") == "  A* "


def test_mask_nino_keeps_prefix_last_two_digits_and_suffix():
    assert mask_nino("AB123456C") == "AB****56C"
    assert mask_nino("ab 12 34 56 c") == "AB****56C"
    assert mask_nino("AB123456") == "AB****56"


def test_mask_nino_masks_a_malformed_value_entirely():
    assert mask_nino("AB12C") == "*****"


def test_mask_postcode_keeps_only_the_outward_code():
    assert mask_postcode("EH1 2AB") == "EH1 ***"
    assert mask_postcode("g2  4aa") == "G2 ***"
    assert mask_postcode("KA270AB") == "KA27 ***"
    assert mask_postcode("not a postcode") == "*** * ********"


def test_mask_dob_keeps_only_the_year():
    assert mask_dob("1980-03-12") == "1980-**-**"
    assert mask_dob(dt.date(1980, 3, 12)) == "1980-**-**"
    assert mask_dob(pd.Timestamp("1980-03-12")) == "1980-**-**"
    assert mask_dob("12/03/1980") == "**********"


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, pd.NaT])
@pytest.mark.parametrize("kind", ["name", "nino", "postcode", "dob", "email", "phone", "id", "sex", "text", "date"])
def test_every_mask_turns_missing_values_into_empty_strings(kind, missing):
    assert mask_value(kind, missing) == ""


def test_mask_value_dispatches_by_kind_and_rejects_unknown_kinds_without_the_value():
    assert mask_value("name", "Ann") == "A**"
    assert mask_value("email", "jo.smith@example.org") == "j*******@*******.org"
    assert mask_value("phone", "07700 900123") == "***** ****23"
    assert mask_value("id", "SDS-001234") == "********34"
    with pytest.raises(ValueError) as err:
        mask_value("shoe_size", "Ann")
    assert "Ann" not in str(err.value)


def test_mask_series_agrees_with_the_scalar_rules():
    cases = {
        "name": ["John McDonald", "o'neil", None, "Ann-Marie  Ross"],
        "nino": ["AB123456C", "ab 12 34 56", "junk", None],
        "postcode": ["EH1 2AB", "eh12ab", "EH1", np.nan],
        "dob": ["1980-03-12", "12/03/1980", None, "2001-01-01"],
        "email": ["jo@x.org", "bad", None, "a.b@c.co.uk"],
        "phone": ["07700 900123", "1", None, "+44 7700"],
        "id": ["SDS-001234", "7", None, "ab"],
    }
    for kind, values in cases.items():
        s = pd.Series(values, dtype=object)
        assert mask_series(kind, s).tolist() == [mask_value(kind, v) for v in values], kind


def test_mask_series_accepts_datetime_columns():
    s = pd.Series(pd.to_datetime(["1980-03-12", None]))
    assert mask_series("dob", s).tolist() == ["1980-**-**", ""]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_masked_names_never_show_more_than_the_first_character_of_a_word(value):
    out = mask_name(value)
    assert len(out) == len(value)
    for i, (a, b) in enumerate(zip(value, out, strict=True)):
        starts_word = i == 0 or value[i - 1].isspace() or value[i - 1] == "-"
        assert b == a or (b == "*" and not starts_word)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHZ -", max_size=12))
def test_masked_ninos_never_show_the_middle_digits(value):
    out = mask_nino(value)
    compact = value.replace(" ", "").upper()
    assert len(out) == len(compact)
    assert out[2:6] in ("****", "*" * len(out[2:6]))


def test_suppress_small_hides_counts_below_the_threshold_but_not_zero():
    assert [suppress_small(n, 5) for n in (0, 1, 4, 5, 100)] == [0, "*", "*", 5, 100]
    assert suppress_small(3, 0) == 3
    assert suppress_small(np.int64(2), 10) == "*"
    assert suppress_small(0.5, 10) == 0.5 and suppress_small(True, 10) is True


def test_suppress_mapping_and_frame_apply_to_counts_only():
    assert suppress_mapping({"a": 2, "b": 0, "c": {"d": 9, "e": 3}}, 5) == {"a": "*", "b": 0, "c": {"d": 9, "e": "*"}}
    df = pd.DataFrame({"source": ["a", "b", "c"], "rows": [0, 3, 40], "rate": [0.1, 0.2, 0.3]})
    out = suppress_frame(df, 5)
    assert out["rows"].tolist() == [0, "*", 40]
    assert out["rate"].tolist() == [0.1, 0.2, 0.3] and df["rows"].tolist() == [0, 3, 40]


def test_neutralise_formula_quotes_cells_that_a_spreadsheet_would_evaluate():
    s = pd.Series(["=1+1", "+44", "-3", "@SUM(A1)", "\tx", "\rx", "plain", None, 7], dtype=object)
    out = neutralise_formula(s)
    assert out.tolist() == ["'=1+1", "'+44", "'-3", "'@SUM(A1)", "'\tx", "'\rx", "plain", None, 7]


def test_safe_csv_frame_neutralises_every_text_column_and_leaves_numbers():
    df = pd.DataFrame({"name": ["=HYPERLINK(1)", "ok"], "n": [-1, 2], "s": pd.array(["-x", None], dtype="string")})
    out = safe_csv_frame(df)
    assert out["name"].tolist() == ["'=HYPERLINK(1)", "ok"]
    assert out["n"].tolist() == [-1, 2]
    assert out["s"].tolist()[0] == "'-x" and pd.isna(out["s"].tolist()[1])
    assert df["name"][0] == "=HYPERLINK(1)"
