"""Date settings: the earliest date, the dob age limits and future dates, a strict configured format, and the
day/month order check of a column."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.normalise.dates import DAY_FIRST, MONTH_FIRST, DateLimits, date_columns, day_month_order

TODAY = dt.date(2025, 3, 31)


def _one(value, kind="dob", fmt=None, limits=DateLimits()):
    iso, _, _, _, reason = date_columns(pd.Series([value], dtype=object), kind, fmt, today=TODAY, limits=limits)
    return (None if pd.isna(iso.iloc[0]) else iso.iloc[0]), reason.iloc[0]


def test_dates_before_1900_are_nulled_by_default_and_kept_after_an_earlier_earliest():
    assert _one("1870-05-02") == (None, "dob_before_earliest")
    assert _one("1870-05-02", "date") == (None, "date_before_earliest")
    old = DateLimits(earliest=dt.date(1800, 1, 1), max_age=200)
    assert _one("1870-05-02", limits=old) == ("1870-05-02", None)
    assert _one("02/05/1870", "date", "%d/%m/%Y", DateLimits(earliest=dt.date(1850, 1, 1))) == ("1870-05-02", None)
    assert _one("1799-12-31", limits=old) == (None, "dob_before_earliest")


def test_dob_age_limits_and_future_dates_are_settings():
    assert _one("2015-01-01") == (None, "dob_implausible_age")  # age 10 under the default 14
    assert _one("2015-01-01", limits=DateLimits(min_age=0)) == ("2015-01-01", None)
    assert _one("1920-01-01") == ("1920-01-01", None)  # age 105
    assert _one("1910-01-01") == (None, "dob_implausible_age")  # age 115, over the default 110
    assert _one("1910-01-01", limits=DateLimits(max_age=120)) == ("1910-01-01", None)
    assert _one("1950-01-01", limits=DateLimits(max_age=60)) == (None, "dob_implausible_age")
    assert _one("2026-01-01", limits=DateLimits(min_age=0)) == (None, "dob_future")
    assert _one("2026-01-01", limits=DateLimits(min_age=0, allow_future=True)) == ("2026-01-01", None)
    assert _one("2026-01-01", "date") == ("2026-01-01", None)
    assert _one("2026-01-01", "date", limits=DateLimits(allow_future=False)) == (None, "date_future")


def test_two_digit_years_pivot_on_the_configured_min_age():
    assert _one("01/02/20", fmt="%d/%m/%y") == ("1920-02-01", None)  # 2020 would be age 5, under 14
    assert _one("01/02/20", fmt="%d/%m/%y", limits=DateLimits(min_age=0)) == ("2020-02-01", None)


@pytest.mark.parametrize("raw", ["1980-03-12", "12 March 1980", "19800312", "03/25/1980", "12/03/1980 00:00"])
def test_a_value_the_configured_format_does_not_read_is_a_reason_never_read_another_way(raw):
    assert _one(raw, fmt="%d/%m/%Y") == (None, "dob_wrong_format")
    assert _one(raw)[0] is not None  # without a format the same value is auto-detected


def test_a_configured_format_still_takes_excel_serials_and_date_cells():
    assert _one("29292", fmt="%d/%m/%Y") == ("1980-03-12", None)
    assert _one(dt.date(1980, 3, 12), fmt="%d/%m/%Y") == ("1980-03-12", None)


def test_no_format_keeps_the_auto_detection_and_its_reason():
    assert _one("25/03/1980") == ("1980-03-25", None)
    assert _one("03/25/1980") == ("1980-03-25", None)
    assert _one("not a date") == (None, "dob_unparseable")


dates = st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2009, 12, 31))  # plausible either way round


@settings(max_examples=150, deadline=None)
@given(dates)
def test_month_first_values_under_a_day_first_format_are_never_read_as_another_date(d):
    text = d.strftime("%m/%d/%Y")
    iso, reason = _one(text, fmt="%d/%m/%Y")
    if d.day > 12:
        assert (iso, reason) == (None, "dob_wrong_format")
    else:  # ambiguous: read as the format says, which is the only reading a format allows
        assert (iso, reason) == (dt.date(d.year, d.day, d.month).isoformat(), None)


@settings(max_examples=60, deadline=None)
@given(st.lists(dates, min_size=1, max_size=40))
def test_day_month_order_counts_add_up_and_swap_under_the_swapped_format(ds):
    s = pd.Series([d.strftime("%m/%d/%Y") for d in ds], dtype=object)
    day_first, month_first = day_month_order(s, "%d/%m/%Y"), day_month_order(s, "%m/%d/%Y")
    assert day_first.order == DAY_FIRST and month_first.order == MONTH_FIRST
    assert day_first.fit_order + day_first.fit_other + day_first.fit_both == len(ds)
    assert (day_first.fit_order, day_first.fit_other) == (month_first.fit_other, month_first.fit_order)
    assert day_first.fit_other == sum(d.day > 12 for d in ds)


def test_day_month_order_without_a_format_counts_the_values_auto_detection_swapped():
    s = pd.Series(["03/25/1980", "03/25/1980", "04/05/1981", "25/03/1980", "1980-03-25", None, " "], dtype=object)
    got = day_month_order(s)
    assert (got.order, got.fit_order, got.fit_other, got.fit_both) == (DAY_FIRST, 1, 2, 1)


def test_day_month_order_needs_a_numeric_day_and_month():
    assert day_month_order(pd.Series(["12 Mar 1980"]), "%d %b %Y") is None
    assert day_month_order(pd.Series(["1980-03-25"]), "%Y-%m-%d").fit_order == 1
