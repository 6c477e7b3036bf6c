"""Rules of the NINO normaliser."""

import pandas as pd
import pytest

from pace_linkage.normalise import nino, nino_series, nino_suffix


def _reason(value):
    return nino_series(pd.Series([value], dtype=object))[1].iloc[0]


def test_nino_strips_spaces_and_case_and_returns_the_stem():
    assert nino("ab 12 34 56 c") == "AB123456"
    assert nino("AB-123456-C") == "AB123456"
    assert nino("AB123456") == "AB123456"


def test_nino_keeps_the_suffix_separately():
    assert nino_suffix("ab 12 34 56 c") == "C"
    assert nino_suffix("AB123456") is None


@pytest.mark.parametrize("letter", list("DFIQUV"))
def test_nino_rejects_forbidden_first_letters(letter):
    assert nino(f"{letter}A123457B") is None
    assert _reason(f"{letter}A123457B") == "nino_invalid"


@pytest.mark.parametrize("letter", list("DFIOQUV"))
def test_nino_rejects_forbidden_second_letters_including_o(letter):
    assert nino(f"A{letter}123457B") is None
    assert _reason(f"A{letter}123457B") == "nino_invalid"


@pytest.mark.parametrize("prefix", ["BG", "GB", "KN", "NK", "NT", "ZZ"])
def test_nino_rejects_unallocated_prefixes(prefix):
    assert nino(f"{prefix}123457A") is None
    assert _reason(f"{prefix}123457A") == "nino_unallocated_prefix"


@pytest.mark.parametrize("prefix", ["OO", "CR", "FY", "MW", "NC", "PP", "PY", "PZ"])
def test_nino_nulls_administrative_prefixes_with_a_reason(prefix):
    assert nino(f"{prefix}123457A") is None
    assert _reason(f"{prefix}123457A") == "nino_administrative"


def test_nino_nulls_tn_temporary_references():
    assert nino("TN 12 03 80 M") is None
    assert _reason("TN120380M") == "nino_temporary"
    assert _reason("TN120380") == "nino_temporary"


@pytest.mark.parametrize("value", ["XX999999X", "XX123457", "AA000000A", "AB000000", "JK111111D"])
def test_nino_nulls_placeholders(value):
    assert nino(value) is None
    assert _reason(value) == "nino_placeholder"


@pytest.mark.parametrize("value", ["AB12345", "AB1234567", "A1234567B", "AB123456E", "ABC12345", "ÅB123456", "AB١٢٣٤٥٦"])
def test_nino_rejects_malformed_values(value):
    assert nino(value) is None
    assert _reason(value) == "nino_invalid"


def test_nino_repairs_letter_o_and_i_in_the_digit_positions():
    assert nino("AB12345O") == "AB123450"
    assert nino("ABI23457C") == "AB123457"


def test_nino_treats_blank_and_null_as_absent_without_a_reason():
    values, reasons = nino_series(pd.Series(["", "   ", None, float("nan")], dtype=object))
    assert values.isna().all()
    assert reasons.isna().all()


def test_nino_series_returns_string_dtype_aligned_with_the_input_index():
    s = pd.Series(["AB123456C", "bad", None], index=[10, 20, 30], dtype=object)
    values, reasons = nino_series(s)
    assert str(values.dtype) == "string"
    assert list(values.index) == [10, 20, 30]
    assert values.iloc[0] == "AB123456" and pd.isna(values.iloc[1])
    assert list(reasons) == [None, "nino_invalid", None]


def test_nino_repairs_at_most_two_ocr_letters_in_the_digits():
    assert nino("AB1234SB") == "AB123458"
    assert nino("ABSOLOGI") is None


def test_nino_treats_hmrc_documentation_example_as_a_placeholder():
    assert nino("QQ 12 34 56 C") is None
    assert _reason("QQ123456C") == "nino_placeholder"
