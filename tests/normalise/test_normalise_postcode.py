"""Rules of the postcode normaliser."""

import pandas as pd
import pytest

from pace_linkage.normalise import postcode, postcode_columns, postcode_parts, postcode_series


def test_postcode_adds_the_space_and_upper_cases():
    assert postcode("sw1a1aa") == "SW1A 1AA"
    assert postcode("  eh1   2ab ") == "EH1 2AB"


@pytest.mark.parametrize(
    "raw", ["EH1 2AB", "EHI 2AB", "EHl 2AB", "EH1 ZAB".replace("Z", "2"), "EH1 2AB", "eh1-2ab", "EH12AB", "EH1 2AB."]
)
def test_postcode_reads_eh1_2ab_variants_the_same(raw):
    assert postcode(raw) == "EH1 2AB"


def test_postcode_repairs_o_and_0_by_position():
    assert postcode("EH1 OAB") == "EH1 0AB"  # inward unit starts with a digit
    assert postcode("0X1 1AA") == "OX1 1AA"  # area letters
    assert postcode("1V2 3AB") == "IV2 3AB"
    assert postcode("G1O 1AA") == "G10 1AA"  # A9A cannot take O, A99 can take 0


@pytest.mark.parametrize("raw", ["GIR 0AA", "gir0aa", "GIR OAA"])
def test_postcode_accepts_the_special_gir_0aa(raw):
    assert postcode(raw) == "GIR 0AA"


@pytest.mark.parametrize("raw", ["M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB", "G1 1AA"])
def test_postcode_accepts_every_uk_format(raw):
    assert postcode(raw) == raw


@pytest.mark.parametrize("raw", ["EH1", "QH1 2AB", "EH1 2CI", "ZZ99 3VZ", "EH1 2A", "123456", "EH1 2ÅB", "VX1 1AA"])
def test_postcode_rejects_invalid_values_with_a_reason(raw):
    values, reasons = postcode_series(pd.Series([raw]))
    assert pd.isna(values.iloc[0])
    assert reasons.iloc[0] == "postcode_invalid"


def test_postcode_parts_gives_area_district_and_sector():
    assert postcode_parts("EH1 2AB") == ("EH", "EH1", "EH1 2")
    assert postcode_parts("G12 8QQ") == ("G", "G12", "G12 8")
    assert postcode_parts("SW1A 1AA") == ("SW", "SW1A", "SW1A 1")


def test_postcode_columns_derive_parts_for_the_whole_column():
    pc, area, district, sector, reason = postcode_columns(pd.Series(["eh12ab", None, "bad"]))
    assert list(pc.fillna("-")) == ["EH1 2AB", "-", "-"]
    assert list(area.fillna("-")) == ["EH", "-", "-"]
    assert list(district.fillna("-")) == ["EH1", "-", "-"]
    assert list(sector.fillna("-")) == ["EH1 2", "-", "-"]
    assert list(reason) == [None, None, "postcode_invalid"]


def test_postcode_repairs_up_to_two_slips_when_the_value_has_a_real_digit():
    assert postcode("EH1O OAB") == "EH10 0AB"


def test_postcode_never_turns_a_word_into_a_postcode():
    assert postcode("not one") is None
    assert postcode_series(pd.Series(["not one"]))[1].iloc[0] == "postcode_invalid"


@pytest.mark.parametrize(
    "raw, fixed",
    [("PAZ6 3SQ", "PA26 3SQ"), ("G4Z 8FE", "G42 8FE"), ("KY9 ZRX", "KY9 2RX"), ("EH22 3N2", "EH22 3NZ"),
     ("680 6JJ", "G80 6JJ"), ("EHS2 6GT", "EH52 6GT")],
)
def test_postcode_repairs_other_classic_ocr_confusions_by_position(raw, fixed):
    assert postcode(raw) == fixed
