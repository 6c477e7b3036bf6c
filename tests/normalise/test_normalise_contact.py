"""Rules of the sex, phone, e-mail, text and id normalisers."""

import pandas as pd
import pytest

from pace_linkage.normalise import (
    email,
    email_series,
    ident,
    phone,
    phone_series,
    sex,
    sex_series,
    text,
    text_series,
)


@pytest.mark.parametrize(
    "raw, code",
    [("M", "M"), ("m", "M"), ("Male", "M"), ("man", "M"), ("1", "M"), ("F", "F"), ("female", "F"),
     ("Woman", "F"), ("2", "F"), ("X", "X"), ("Non-binary", "X"), ("Other", "X")],
)
def test_sex_maps_documented_codes(raw, code):
    assert sex(raw) == code


@pytest.mark.parametrize("raw, reason", [("U", "sex_not_stated"), ("Prefer not to say", "sex_not_stated"),
                                         ("9", "sex_not_stated"), ("0", "sex_not_stated"), ("Q", "sex_unknown_code")])
def test_sex_nulls_unknown_codes_with_a_reason(raw, reason):
    values, reasons = sex_series(pd.Series([raw]))
    assert pd.isna(values.iloc[0])
    assert reasons.iloc[0] == reason


@pytest.mark.parametrize(
    "raw, e164",
    [("0131 496 0000", "+441314960000"), ("07700 900123", "+447700900123"), ("+44 (0)7700 900123", "+447700900123"),
     ("0044 7700 900123", "+447700900123"), ("447700900123", "+447700900123"), ("7700900123", "+447700900123"),
     ("(0131) 496-0000 ext 12", "+441314960000"), ("+353 1 234 5678", "+35312345678")],
)
def test_phone_formats_numbers_as_e164(raw, e164):
    assert phone(raw) == e164


@pytest.mark.parametrize("raw, reason", [("123", "phone_invalid"), ("0131 496 000a", "phone_invalid"),
                                         ("07000 000000", "phone_placeholder"), ("N/A", "phone_placeholder")])
def test_phone_nulls_invalid_numbers_with_a_reason(raw, reason):
    values, reasons = phone_series(pd.Series([raw]))
    assert pd.isna(values.iloc[0])
    assert reasons.iloc[0] == reason


def test_email_lower_cases_and_trims():
    assert email("  John.Smith@Example.CO.UK ") == "john.smith@example.co.uk"
    assert email("mailto:a.b@c.org") == "a.b@c.org"


@pytest.mark.parametrize("raw, reason", [("bad@", "email_invalid"), ("a..b@x.com", "email_invalid"),
                                         ("josé@x.com", "email_invalid"), ("noemail@gmail.com", "email_placeholder"),
                                         ("someone@example.com", "email_placeholder"), ("n/a", "email_placeholder")])
def test_email_nulls_invalid_or_dummy_addresses_with_a_reason(raw, reason):
    values, reasons = email_series(pd.Series([raw]))
    assert pd.isna(values.iloc[0])
    assert reasons.iloc[0] == reason


def test_text_upper_cases_folds_accents_and_drops_punctuation():
    assert text("O'Brien's Café Ltd.") == "OBRIENS CAFE LTD"
    assert text("Marks & Spencer,  plc") == "MARKS AND SPENCER PLC"
    assert text_series(pd.Series(["---"]))[1].iloc[0] == "text_invalid"
    assert text_series(pd.Series(["N/A"]))[1].iloc[0] == "text_placeholder"


def test_ident_trims_and_keeps_leading_zeros():
    assert ident("  000123 ") == "000123"
    assert ident("Ab-01") == "Ab-01"
    assert ident("") is None
    assert ident(12.0) == "12"
