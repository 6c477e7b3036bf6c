"""Rules of the date-of-birth normaliser."""

import datetime as dt

import pandas as pd
import pytest

from pace_linkage.normalise import date, date_columns, dob, dob_series

TODAY = dt.date(2025, 11, 25)
MARCH_12_1980 = dt.date(1980, 3, 12)


def _reason(value, **kw):
    return dob_series(pd.Series([value], dtype=object), today=TODAY, **kw)[1].iloc[0]


@pytest.mark.parametrize(
    "raw",
    [
        "1980-03-12", "12/03/1980", "12/3/1980", "12.03.1980", "12-03-1980", "12-Mar-1980", "12 March 1980",
        "12th March 1980", "March 12, 1980", "12 mar 80", "19800312", "12031980", "120380", "29292", "29292.0",
        "1980-03-12 00:00:00", "1980-03-12T00:00:00.000Z", "12/03/1980 00:00",
    ],
)
def test_dob_reads_every_supported_format(raw):
    assert dob(raw, today=TODAY) == MARCH_12_1980


def test_dob_reads_day_first_by_default():
    assert dob("05/04/1980", today=TODAY) == dt.date(1980, 4, 5)


def test_dob_falls_back_to_month_first_only_when_day_first_is_impossible():
    assert dob("03/25/1980", today=TODAY) == dt.date(1980, 3, 25)


def test_dob_uses_a_configured_format_first():
    assert dob("05/04/1980", fmt="%m/%d/%Y", today=TODAY) == dt.date(1980, 5, 4)
    assert dob("1980-03-12", fmt="%m/%d/%Y", today=TODAY) is None  # never re-read another way
    assert _reason("1980-03-12", fmt="%m/%d/%Y") == "dob_wrong_format"


def test_dob_pivots_two_digit_years_for_birth_dates():
    assert dob("12/03/80", today=TODAY) == MARCH_12_1980
    assert dob("12/03/05", today=TODAY) == dt.date(2005, 3, 12)  # age 20
    assert dob("12/03/20", today=TODAY) == dt.date(1920, 3, 12)  # 2020 would be age 5
    assert dob("12/03/30", today=TODAY) == dt.date(1930, 3, 12)  # 2030 would be future
    assert dob("120320", fmt="%d%m%y", today=TODAY) == dt.date(1920, 3, 12)


def test_dob_reads_excel_serials_only_in_a_plausible_range():
    assert dob("29292", today=TODAY) == MARCH_12_1980
    assert dob("1980", today=TODAY) is None
    assert _reason("1980") == "dob_unparseable"


def test_dob_accepts_real_date_cells():
    assert dob(dt.datetime(1980, 3, 12, 0, 0), today=TODAY) == MARCH_12_1980
    assert dob(pd.Timestamp("1980-03-12"), today=TODAY) == MARCH_12_1980


@pytest.mark.parametrize("raw", ["01/01/1900", "1900-01-01"])
def test_dob_nulls_the_builtin_placeholder(raw):
    assert dob(raw, today=TODAY) is None
    assert _reason(raw) == "dob_placeholder"


def test_dob_nulls_configured_placeholders_as_dates_or_text():
    assert _reason("1901-01-01", placeholders=["01/01/1901"]) == "dob_placeholder"
    assert _reason("unknown", placeholders=["UNKNOWN"]) == "dob_placeholder"
    assert _reason("1901-01-01") == "dob_implausible_age"


def test_dob_nulls_future_early_and_implausible_dates_with_reasons():
    assert _reason("2030-01-01") == "dob_future"
    assert _reason("1899-12-31") == "dob_before_earliest"
    assert _reason("2015-01-01") == "dob_implausible_age"  # age 10
    assert _reason("1910-01-01") == "dob_implausible_age"  # age 115
    assert _reason("31/02/1980") == "dob_unparseable"
    assert _reason("not a date") == "dob_unparseable"


def test_dob_age_limits_are_inclusive_at_14_and_110():
    assert dob("2011-11-25", today=TODAY) == dt.date(2011, 11, 25)
    assert dob("2011-11-26", today=TODAY) is None


def test_date_kind_allows_future_dates_and_young_ages():
    assert date("2030-01-01", today=TODAY) == dt.date(2030, 1, 1)
    assert date("12/03/30", today=TODAY) == dt.date(2030, 3, 12)


def test_date_columns_give_nullable_int_parts():
    iso, year, month, day, reason = date_columns(pd.Series(["12/03/1980", None, "x"]), today=TODAY)
    assert iso.iloc[0] == "1980-03-12"
    assert str(year.dtype) == "Int16" and year.iloc[0] == 1980 and pd.isna(year.iloc[1])
    assert month.iloc[0] == 3 and day.iloc[0] == 12
    assert list(reason) == [None, None, "dob_unparseable"]
