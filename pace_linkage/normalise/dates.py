"""Dates of birth (kind ``dob``) and other dates (kind ``date``).

Formats recognised, tried in this order (after trimming; month names any case):

1. ``fmt`` (a ``strptime`` format from the source or field config), when given.
2. ISO ``YYYY-MM-DD`` (also ``/`` or ``.`` separators), optionally followed by a time
   (``YYYY-MM-DD HH:MM:SS``, ``T`` separator, fractions, ``Z``/offset: the time is ignored).
3. Day first, UK order: ``DD/MM/YYYY``, ``D/M/YY`` (``/ - .`` or space), optionally with a time.
   If the middle number cannot be a month (> 12) but the first can, the value is read as US
   order ``MM/DD/YYYY`` (the only reading that gives a date).
4. Month names: ``12-Mar-1980``, ``12 March 1980``, ``12th March 80``, ``March 12, 1980``
   (``Sept`` accepted).
5. Eight digits: ``YYYYMMDD`` if that is a real date with a year 1800-2199, else ``DDMMYYYY``.
   Six digits: ``DDMMYY``.
6. Excel serial day numbers (days since 1899-12-30, as Excel counts): five-digit integers
   10000-99999, optionally with a ``.0`` fraction (``"29292"`` -> 1980-03-12). Fewer digits are
   never serials (``"1980"`` is a bare year, not a date).
7. Python ``date``/``datetime``/``Timestamp`` objects (real date cells) are used as they are.

Two-digit years: for a ``dob`` the year is 20YY unless that gives a future date or an age under
14 on ``today``, then 19YY. For a ``date`` it is 20YY unless that is more than 10 years ahead.

Checks (``dob``): placeholders (1900-01-01 always, plus configured ones, compared as dates or
as raw text) -> ``dob_placeholder``; before 1900 -> ``dob_before_1900``; after ``today`` ->
``dob_future``; age under 14 or over 110 on ``today`` -> ``dob_implausible_age``; nothing
matched -> ``dob_unparseable``. Kind ``date`` applies the placeholder, before-1900 and
unparseable checks only (future dates can be legitimate appointments).

``today`` defaults to the system date; the pipeline passes the run date so results are
reproducible.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pace_linkage.normalise._common import (
    as_text,
    is_null,
    map_unique,
    reason_series,
    to_string_series,
)

BUILTIN_PLACEHOLDERS = (dt.date(1900, 1, 1),)
MIN_AGE, MAX_AGE = 14, 110
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_MONTHS = {
    "JAN": 1, "JANUARY": 1, "FEB": 2, "FEBRUARY": 2, "MAR": 3, "MARCH": 3, "APR": 4, "APRIL": 4,
    "MAY": 5, "JUN": 6, "JUNE": 6, "JUL": 7, "JULY": 7, "AUG": 8, "AUGUST": 8, "SEP": 9, "SEPT": 9,
    "SEPTEMBER": 9, "OCT": 10, "OCTOBER": 10, "NOV": 11, "NOVEMBER": 11, "DEC": 12, "DECEMBER": 12,
}
_TIME = r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2}|[AP]M)?)?"
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME, re.ASCII | re.IGNORECASE)
_DMY = re.compile(r"(\d{1,2})\s*[-/. ]\s*(\d{1,2})\s*[-/. ]\s*(\d{4}|\d{2})" + _TIME, re.ASCII | re.IGNORECASE)
_D_MON_Y = re.compile(
    r"(\d{1,2})(?:ST|ND|RD|TH)?[-/., ]*([A-Z]{3,9})\.?[-/., ]*(\d{4}|\d{2})" + _TIME, re.ASCII | re.IGNORECASE
)
_MON_D_Y = re.compile(r"([A-Z]{3,9})\.?[-/. ]*(\d{1,2})(?:ST|ND|RD|TH)?,?[-/. ]*(\d{4})", re.ASCII | re.IGNORECASE)
_DIGITS8 = re.compile(r"\d{8}", re.ASCII)
_DIGITS6 = re.compile(r"\d{6}", re.ASCII)
_SERIAL = re.compile(r"(\d{5})(?:\.0*)?", re.ASCII)


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except (ValueError, OverflowError):
        return None


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _pivot(yy: int, month: int, day: int, today: dt.date, birth: bool) -> dt.date | None:
    """Resolve a two-digit year (module docstring rule)."""
    recent = _make(2000 + yy, month, day)
    if recent is None:
        return _make(1900 + yy, month, day)
    if birth:
        too_new = recent > today or _age(recent, today) < MIN_AGE
    else:
        too_new = recent.year > today.year + 10
    return _make(1900 + yy, month, day) if too_new else recent


def _ymd(y: str, m: int, d: int, today: dt.date, birth: bool) -> dt.date | None:
    if len(y) == 2:
        return _pivot(int(y), m, d, today, birth)
    return _make(int(y), m, d)


def _month(name: str) -> int | None:
    return _MONTHS.get(name.upper())


def parse_date(value: Any, fmt: str | None = None, today: dt.date | None = None, birth: bool = True) -> dt.date | None:
    """Parse one raw value into a date by the module's format rules (no plausibility checks)."""
    if isinstance(value, dt.datetime):
        return value.date() if not is_null(value) else None
    if isinstance(value, dt.date):
        return value
    text = as_text(value)
    if text is None:
        return None
    today = today or dt.date.today()
    if fmt:
        try:
            parsed = dt.datetime.strptime(text, fmt).date()
        except (ValueError, TypeError, OverflowError):
            parsed = None
        if parsed is not None:
            if "%y" in fmt:
                parsed = _pivot(parsed.year % 100, parsed.month, parsed.day, today, birth)
            return parsed
    if m := _ISO.fullmatch(text):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    if m := _DMY.fullmatch(text):
        a, b = int(m[1]), int(m[2])
        if b > 12 >= a:  # cannot be day-first; the only valid reading is month-first
            a, b = b, a
        return _ymd(m[3], b, a, today, birth)
    if m := _D_MON_Y.fullmatch(text):
        month = _month(m[2])
        return _ymd(m[3], month, int(m[1]), today, birth) if month else None
    if m := _MON_D_Y.fullmatch(text):
        month = _month(m[1])
        return _make(int(m[3]), month, int(m[2])) if month else None
    if _DIGITS8.fullmatch(text):
        ymd = _make(int(text[:4]), int(text[4:6]), int(text[6:])) if 1800 <= int(text[:4]) <= 2199 else None
        return ymd or _make(int(text[4:]), int(text[2:4]), int(text[:2]))
    if _DIGITS6.fullmatch(text):
        return _pivot(int(text[4:]), int(text[2:4]), int(text[:2]), today, birth)
    if m := _SERIAL.fullmatch(text):
        return _EXCEL_EPOCH + dt.timedelta(days=int(m[1]))
    return None


def _placeholder_sets(placeholders: Iterable[Any], today: dt.date) -> tuple[set[dt.date], set[str]]:
    dates, texts = set(BUILTIN_PLACEHOLDERS), set()
    for p in placeholders or ():
        text = as_text(p)
        if text is None:
            continue
        texts.add(text.upper())
        parsed = parse_date(p, today=today)
        if parsed is not None:
            dates.add(parsed)
    return dates, texts


def _rule_factory(kind: str, fmt: str | None, placeholders: Iterable[Any], today: dt.date | None):
    today = today or dt.date.today()
    birth = kind == "dob"
    ph_dates, ph_texts = _placeholder_sets(placeholders, today)
    nothing = (None, None, None, None)

    def rule(value: Any) -> tuple[Any, ...]:
        text = as_text(value)
        if text is None and not isinstance(value, dt.date):
            return (*nothing, None)
        if text is not None and text.upper() in ph_texts:
            return (*nothing, f"{kind}_placeholder")
        parsed = parse_date(value, fmt, today, birth)
        if parsed is None:
            return (*nothing, f"{kind}_unparseable")
        if parsed in ph_dates:
            return (*nothing, f"{kind}_placeholder")
        if parsed < dt.date(1900, 1, 1):
            return (*nothing, f"{kind}_before_1900")
        if birth:
            if parsed > today:
                return (*nothing, "dob_future")
            if not MIN_AGE <= _age(parsed, today) <= MAX_AGE:
                return (*nothing, "dob_implausible_age")
        return parsed.isoformat(), parsed.year, parsed.month, parsed.day, None

    return rule


def date_columns(
    s: pd.Series,
    kind: str = "dob",
    fmt: str | None = None,
    placeholders: Iterable[Any] = (),
    today: dt.date | None = None,
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]:
    """(ISO string, year, month, day, reason) for a column of raw dates; parts are nullable Int16."""
    if kind not in ("dob", "date"):
        raise ValueError("kind must be 'dob' or 'date'")
    (iso, year, month, day), reason = map_unique(s, _rule_factory(kind, fmt, placeholders, today), 4)
    idx = s.index
    parts = [pd.Series(pd.array(np.asarray(a, dtype=object), dtype="Int16"), index=idx) for a in (year, month, day)]
    return to_string_series(iso, idx), *parts, reason_series(reason, idx)


def dob_series(
    s: pd.Series, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None
) -> tuple[pd.Series, pd.Series]:
    """(ISO date strings, reason codes) for a column of raw dates of birth. See the module rules."""
    cols = date_columns(s, "dob", fmt, placeholders, today)
    return cols[0], cols[4]


def date_series(
    s: pd.Series, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None
) -> tuple[pd.Series, pd.Series]:
    """(ISO date strings, reason codes) for a column of raw non-birth dates (kind ``date``)."""
    cols = date_columns(s, "date", fmt, placeholders, today)
    return cols[0], cols[4]


def dob(
    value: Any, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None
) -> dt.date | None:
    """A plausible date of birth (``"12/03/1980"``, ``"29292"`` -> 1980-03-12), or None (module rules)."""
    iso = _rule_factory("dob", fmt, placeholders, today)(value)[0]
    return dt.date.fromisoformat(iso) if iso else None


def date(
    value: Any, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None
) -> dt.date | None:
    """A date (kind ``date``: no age or future checks), or None."""
    iso = _rule_factory("date", fmt, placeholders, today)(value)[0]
    return dt.date.fromisoformat(iso) if iso else None
