"""Business names (kind org_name) and Companies House numbers (kind company_number)."""

import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pace_linkage.config import FieldSpec, load_config
from pace_linkage.normalise import normalise_records
from pace_linkage.normalise.organisation import (
    LEGAL_FORMS,
    company_number,
    company_number_columns,
    org_core,
    org_name,
    org_name_columns,
    org_suffix,
    org_trading,
)

PROPS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("raw", "name", "suffix"),
    [
        ("Clyde Bakery Ltd", "CLYDE BAKERY", "LTD"),
        ("Clyde Bakery Limited", "CLYDE BAKERY", "LTD"),
        ("CLYDE BAKERY L.T.D.", "CLYDE BAKERY", "LTD"),
        ("clyde bakery ltd.", "CLYDE BAKERY", "LTD"),
        ("Marks and Spencer P.L.C.", "MARKS AND SPENCER", "PLC"),
        ("Marks & Spencer Public Limited Company", "MARKS AND SPENCER", "PLC"),
        ("Kelly Associates LLP", "KELLY ASSOCIATES", "LLP"),
        ("Kelly Associates Limited Liability Partnership", "KELLY ASSOCIATES", "LLP"),
        ("Fife Food Bank CIC", "FIFE FOOD BANK", "CIC"),
        ("Fife Food Bank Community Interest Company", "FIFE FOOD BANK", "CIC"),
        ("Leith Arts SCIO", "LEITH ARTS", "SCIO"),
        ("Clyde Bakery", "CLYDE BAKERY", None),
    ],
)
def test_legal_forms_are_taken_off_the_name_in_one_canonical_spelling(raw, name, suffix):
    assert org_name(raw) == name
    assert org_suffix(raw) == suffix


def test_the_and_common_words_stay_in_the_name():
    assert org_name("The Clyde Bakery & Sons Ltd") == "THE CLYDE BAKERY AND SONS"
    assert org_name("the clyde bakery and sons limited") == "THE CLYDE BAKERY AND SONS"


def test_a_trading_name_is_kept_apart_from_the_legal_name():
    for raw in (
        "Smith Holdings Ltd t/a Clyde Bakery",
        "SMITH HOLDINGS LTD T/A CLYDE BAKERY",
        "Smith Holdings Ltd, trading as Clyde Bakery",
        "Smith Holdings Ltd (t/a Clyde Bakery)",
        "Smith Holdings Ltd T.A. Clyde Bakery",
    ):
        assert org_name(raw) == "SMITH HOLDINGS", raw
        assert org_suffix(raw) == "LTD", raw
        assert org_trading(raw) == "CLYDE BAKERY", raw


def test_a_value_that_is_only_a_trading_name_is_the_name():
    assert org_name("t/a Joe's Cafe") == "JOES CAFE"
    assert org_trading("t/a Joe's Cafe") is None


def test_words_that_merely_contain_ta_are_not_trading_markers():
    assert org_name("Tata Steel UK Ltd") == "TATA STEEL UK"
    assert org_trading("Tata Steel UK Ltd") is None


def test_a_bracketed_place_after_the_legal_form_stays_in_the_name():
    assert org_name("Clyde Foods Ltd (Paisley)") == "CLYDE FOODS PAISLEY"
    assert org_suffix("Clyde Foods Ltd (Paisley)") == "LTD"


def test_a_name_is_never_reduced_to_nothing():
    assert org_name("Limited") == "LIMITED"
    assert org_name("Ltd Ltd") == "LTD"


def test_placeholders_and_punctuation_are_null_with_a_reason():
    names, suffix, trading, core, first, reason = org_name_columns(
        pd.Series(["N/A", "unknown", "--", None, "Acme"])
    )
    assert names.isna().tolist() == [True, True, True, True, False]
    assert reason.tolist() == ["org_name_placeholder", "org_name_placeholder", "org_name_invalid", None, None]


def test_accents_are_folded():
    assert org_name("Café Ñandú Ltd") == "CAFE NANDU"


@pytest.mark.parametrize(
    ("raw", "core"),
    [
        ("The Clyde Bakery Ltd", "CLYDE BAKERY"),
        ("Kelly & Sons Ltd", "KELLY"),
        ("Kelly Engineering Group Ltd", "KELLY ENGINEERING"),
        ("Stirling Paper Mills (Scotland) Limited", "STIRLING PAPER MILLS"),
        ("Stirling Paper Mills UK Ltd", "STIRLING PAPER MILLS"),
        ("Scotland Foods Ltd", "SCOTLAND FOODS"),  # a leading place is part of the name, not a qualifier
        ("The Group", "THE GROUP"),  # nothing but generic words: the core is the name
    ],
)
def test_the_core_drops_generic_words_and_trailing_geographic_qualifiers(raw, core):
    assert org_core(raw) == core


def test_the_first_column_is_the_cores_first_word():
    cols = org_name_columns(pd.Series(["The Clyde Bakery Ltd"]))
    assert cols[4].tolist() == ["CLYDE"]


ORG_WORDS = st.sampled_from(
    [
        "The",
        "Clyde",
        "&",
        "and",
        "Sons",
        "Ltd",
        "Limited",
        "plc",
        "P.L.C.",
        "LLP",
        "t/a",
        "T/A",
        "trading as",
        "(Scotland)",
        "(Paisley)",
        "Group",
        "Café",
        "O'Neill's",
        "-",
        ".",
        "CIC",
        "Co.",
        "UK",
        "Trading-As",
        "ta",
        "x",
    ]
)
ORG_TEXT = st.one_of(st.text(max_size=40), st.lists(ORG_WORDS, max_size=8).map(" ".join))


@PROPS
@given(ORG_TEXT)
def test_org_name_is_total_clean_and_idempotent(raw):
    out = org_name(raw)
    if out is not None:
        assert re.fullmatch(r"[A-Z0-9]+( [A-Z0-9]+)*", out) or not out.isascii()
        assert org_name(out) == out
        assert org_suffix(raw) in (None, *LEGAL_FORMS.values())
        assert org_core(raw) and set(org_core(raw).split()) <= set(out.split())


# ----------------------------------------------------------------------------- company numbers
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("SC123456", "SC123456"),
        ("sc 123456", "SC123456"),
        ("SC-12345", "SC012345"),
        ("01234567", "01234567"),
        ("1234567", "01234567"),  # a spreadsheet dropped the leading zero
        ("SCO12345", "SC012345"),  # letter O keyed for a zero
        ("so305123", "SO305123"),
        ("R0000123", "R0000123"),
    ],
)
def test_company_numbers_are_eight_characters(raw, clean):
    assert company_number(raw) == clean


def test_invalid_company_numbers_are_null_with_a_reason():
    raw = pd.Series(
        ["XX123456", "123456789", "SC1234567", "SC000000", "00000000", "ÄB123456", "", None, "SC123456"]
    )
    number, digits, reason = company_number_columns(raw)
    assert number.isna().tolist() == [True] * 8 + [False]
    assert reason.tolist() == [
        "company_number_prefix",
        "company_number_invalid",
        "company_number_invalid",
        "company_number_placeholder",
        "company_number_placeholder",
        "company_number_invalid",
        None,
        None,
        None,
    ]


def test_digits_column_drops_prefix_and_leading_zeros():
    _number, digits, _ = company_number_columns(pd.Series(["SC012345", "12345", "SC123456"]))
    assert digits.tolist() == ["12345", "12345", "123456"]


@PROPS
@given(st.one_of(st.text(max_size=12), st.from_regex(r"[A-Za-z]{0,2} ?[0-9OoIl]{1,8}", fullmatch=True)))
def test_company_number_is_total_valid_and_idempotent(raw):
    out = company_number(raw)
    if out is not None:
        assert re.fullmatch(r"[0-9]{8}|[A-Z]{2}[0-9]{6}|R[0-9]{7}", out)
        assert company_number(out) == out


# ------------------------------------------------------------------------------- in the stage
def test_normalise_records_produces_the_org_columns_and_counts_reasons():
    fields = {"name": FieldSpec(kind="org_name"), "company_number": FieldSpec(kind="company_number")}
    df = pd.DataFrame(
        {
            "source": "bg",
            "record_id": ["1", "2", "3"],
            "line": [2, 3, 4],
            "name": ["The Clyde Bakery Ltd t/a Bread Co", "n/a", None],
            "company_number": ["sc12345", "SC000000", "SC12A456"],
        }
    )
    records, reasons = normalise_records(df, fields)
    assert list(records.columns) == [
        "source",
        "record_id",
        "line",
        "name",
        "name_suffix",
        "name_trading",
        "name_core",
        "name_first",
        "company_number",
        "company_number_digits",
        "flags",
    ]
    assert records.loc[0, ["name", "name_suffix", "name_trading", "company_number"]].tolist() == [
        "THE CLYDE BAKERY",
        "LTD",
        "BREAD CO",
        "SC012345",
    ]
    assert dict(zip(reasons["reason"], reasons["count"], strict=True)) == {
        "company_number_placeholder": 1,
        "company_number_invalid": 1,
        "org_name_placeholder": 1,
    }


def test_the_employer_config_declares_the_derived_columns_it_blocks_on():
    cfg = load_config("config/employer.yaml")
    derived = cfg.derived_columns()
    assert {"name_core", "name_first", "name_suffix", "name_trading", "company_number_digits"} <= derived
    assert cfg.entity == "employer" and cfg.id_column == "pace_employer_id"
