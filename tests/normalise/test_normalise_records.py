"""The normalise stage function: column layout, dtypes, flags, reasons, config hooks, determinism."""

import datetime as dt

import pandas as pd
import pytest

from pace_linkage.config import FieldSpec
from pace_linkage.errors import InputError
from pace_linkage.normalise import CODES, REASONS, coverage_counts, field_columns, normalise_records

TODAY = dt.date(2025, 11, 25)
FIELDS = {
    "nino": FieldSpec(kind="nino"),
    "first_name": FieldSpec(kind="name"),
    "surname": FieldSpec(kind="name"),
    "dob": FieldSpec(kind="dob", placeholders=["1901-01-01"]),
    "sex": FieldSpec(kind="sex"),
    "postcode": FieldSpec(kind="postcode"),
    "email": FieldSpec(kind="email"),
    "client_id": FieldSpec(kind="id", placeholders=["000"]),
}


def _raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["sds", "sds", "dwp", "dwp"],
            "record_id": ["001", "002", "A1", "A2"],
            "line": [2, 3, 2, 3],
            "nino": ["ab 12 34 56 c", "XX999999X", None, "DA123457C"],
            "first_name": ["Bob", "UNKNOWN", "Seán", "Kate"],
            "surname": ["McDonald", "O'Neil", "-", "Smith-Jones"],
            "dob": ["12/03/1980", "01/01/1900", "1901-01-01", "29292"],
            "sex": ["m", "Female", "zz", "2"],
            "postcode": ["eh1 2ab", "not one", "G1 1AA", "EHI 2AB"],
            "client_id": ["0012", "000", None, " 7 "],
        }
    )


@pytest.fixture(scope="module")
def result():
    return normalise_records(_raw(), FIELDS, {"dob": "%d/%m/%Y"}, today=TODAY)


def test_records_have_key_columns_then_every_field_and_its_derived_columns_then_flags(result):
    records, _ = result
    expected = ["source", "record_id", "line"]
    for field, spec in FIELDS.items():
        expected += field_columns(field, spec.kind)
    assert list(records.columns) == expected + ["flags"]
    assert "first_name_canon" in records and "postcode_sector" in records and "nino_suffix" in records


def test_records_use_string_dtype_and_nullable_int16_date_parts(result):
    records, _ = result
    for col in ["nino", "first_name", "first_name_sound", "dob", "postcode_area", "email", "flags"]:
        assert str(records[col].dtype) == "string", col
    for col in ["dob_year", "dob_month", "dob_day"]:
        assert str(records[col].dtype) == "Int16", col


def test_a_field_the_source_lacks_is_all_null(result):
    records, _ = result
    assert records["email"].isna().all()


def test_records_hold_the_clean_values(result):
    records, _ = result
    row = records.iloc[0]
    assert (row["nino"], row["nino_suffix"]) == ("AB123456", "C")
    assert (row["first_name"], row["first_name_canon"], row["first_name_initial"]) == ("BOB", "ROBERT", "B")
    assert (row["surname"], row["surname_canon"]) == ("MCDONALD", "MACDONALD")
    assert (row["dob"], row["dob_year"], row["dob_month"], row["dob_day"]) == ("1980-03-12", 1980, 3, 12)
    assert (row["postcode"], row["postcode_district"]) == ("EH1 2AB", "EH1")
    assert row["client_id"] == "0012"
    assert records.loc[3, "postcode"] == "EH1 2AB"
    assert records.loc[3, "dob"] == "1980-03-12"


def test_surnames_get_no_nickname_lookup_but_first_names_do():
    df = pd.DataFrame({"source": ["a"], "record_id": ["1"], "line": [2], "first_name": ["Bob"], "surname": ["Bob"]})
    records, _ = normalise_records(df, FIELDS, today=TODAY)
    assert records.loc[0, "first_name_canon"] == "ROBERT"
    assert records.loc[0, "surname_canon"] == "BOB"


def test_flags_list_sorted_unique_reason_codes_of_nulled_values(result):
    records, _ = result
    assert records.loc[0, "flags"] == ""
    assert records.loc[1, "flags"] == "dob_placeholder;id_placeholder;name_placeholder;nino_placeholder;postcode_invalid"
    assert records.loc[2, "flags"] == "dob_placeholder;name_placeholder;sex_unknown_code"
    assert records.loc[3, "flags"] == "nino_invalid"


def test_configured_placeholders_null_values_with_the_kind_placeholder_reason(result):
    records, _ = result
    assert pd.isna(records.loc[1, "client_id"])
    assert pd.isna(records.loc[2, "dob"])  # 1901-01-01 is configured


def test_reasons_count_nulled_values_per_source_and_field(result):
    _, reasons = result
    assert list(reasons.columns) == ["source", "field", "reason", "count"]
    assert set(reasons["reason"]) <= set(REASONS)
    got = {(r.source, r.field, r.reason): r.count for r in reasons.itertuples()}
    assert got[("sds", "nino", "nino_placeholder")] == 1
    assert got[("dwp", "surname", "name_placeholder")] == 1
    assert got[("sds", "dob", "dob_placeholder")] == 1
    assert reasons["count"].sum() == sum(len(f.split(";")) for f in result[0]["flags"] if f)  # one per nulled value
    assert list(reasons.index) == list(range(len(reasons)))


def test_coverage_counts_satisfy_present_equals_valid_plus_nulled(result):
    records, reasons = result
    cov = coverage_counts(records, reasons, FIELDS)
    assert cov["sds"]["nino"] == {"present": 2, "valid": 1, "rows": 2}
    assert cov["dwp"]["nino"] == {"present": 1, "valid": 0, "rows": 2}
    assert cov["dwp"]["email"] == {"present": 0, "valid": 0, "rows": 2}


def test_source_date_format_is_tried_first():
    df = pd.DataFrame({"source": ["a"], "record_id": ["1"], "line": [2], "dob": ["05/04/1980"]})
    us, _ = normalise_records(df, {"dob": FieldSpec(kind="dob")}, {"dob": "%m/%d/%Y"}, today=TODAY)
    uk, _ = normalise_records(df, {"dob": FieldSpec(kind="dob")}, today=TODAY)
    field_default, _ = normalise_records(df, {"dob": FieldSpec(kind="dob", date_format="%m/%d/%Y")}, today=TODAY)
    assert us.loc[0, "dob"] == "1980-05-04" == field_default.loc[0, "dob"]
    assert uk.loc[0, "dob"] == "1980-04-05"


def test_output_is_deterministic_and_independent_of_row_order():
    raw = _raw()
    a, ra = normalise_records(raw, FIELDS, today=TODAY)
    b, rb = normalise_records(raw, FIELDS, today=TODAY)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ra, rb)
    shuffled = raw.sample(frac=1.0, random_state=3)
    c, rc = normalise_records(shuffled, FIELDS, today=TODAY)
    pd.testing.assert_frame_equal(c.loc[a.index], a)
    pd.testing.assert_frame_equal(rc, ra)


def test_empty_input_gives_empty_outputs_with_the_full_layout():
    df = _raw().iloc[0:0]
    records, reasons = normalise_records(df, FIELDS, today=TODAY)
    assert len(records) == 0 and "flags" in records and "dob_year" in records
    assert len(reasons) == 0 and list(reasons.columns) == ["source", "field", "reason", "count"]


def test_missing_key_columns_raise_an_input_error_naming_the_column_not_a_value():
    df = pd.DataFrame({"record_id": ["1"], "nino": ["AB123456C"]})
    with pytest.raises(InputError) as err:
        normalise_records(df, FIELDS, today=TODAY)
    assert "source" in str(err.value) and "AB123456" not in str(err.value)


def test_every_reason_code_is_documented_and_fits_the_flag_bitmask():
    assert list(CODES) == sorted(REASONS)
    assert len(CODES) < 63
    assert all(REASONS[c] for c in CODES)
