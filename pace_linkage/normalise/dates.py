"""Dates of birth (kind ``dob``) and other dates (kind ``date``).

Formats recognised, tried in this order (after trimming; month names any case):

1. ``fmt`` (a ``strptime`` format from the source or field config), when given: then only 1, 6, 7.
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

A configured format is strict: a value it does not read is nulled with reason ``<kind>_wrong_format``
and never re-read by the rules 2-5 (a month-first value under a day-first format would otherwise be read
as another valid date, or as itself, silently). Two exceptions, neither a text layout that could be
confused with another: real date cells (7) and Excel serial numbers (6), which a spreadsheet writes
into any date column. Without a format, the rules 2-7 apply in order (auto-detection).

Two-digit years: for a ``dob`` the year is 20YY unless that gives a future date or an age under
``min_age`` on ``today``, then 19YY. For a ``date`` it is 20YY unless that is more than 10 years ahead.

Checks, in this order, each with its reason: placeholders (1900-01-01 always, plus configured ones,
compared as dates or as raw text) -> ``<kind>_placeholder``; before ``earliest`` (default
1900-01-01) -> ``<kind>_before_earliest``; after ``today`` -> ``dob_future`` / ``date_future``
(a ``dob`` by default, a ``date`` only with ``allow_future`` false); age under ``min_age`` (default
14) or over ``max_age`` (default 110) on ``today`` -> ``dob_implausible_age`` (``dob`` only; a future
date a field allows has no age);
nothing matched -> ``<kind>_unparseable`` (no format) or ``<kind>_wrong_format`` (a format).
:class:`DateLimits` holds the settings (``FieldSpec.earliest``, ``min_age``, ``max_age``,
``allow_future``).

``today`` defaults to the system date; the pipeline passes the run date so results are
reproducible.

:func:`day_month_order` counts, for a column and its configured format, the values only the
configured day/month order reads, those only the other order reads, and those both read, so that a
column written month-first under a day-first format (or the other way) is named, not silently misread.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
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
from pace_linkage.normalise._vector import arrow_text, groups, is_in

BUILTIN_PLACEHOLDERS = (dt.date(1900, 1, 1),)
EARLIEST = dt.date(1900, 1, 1)
MIN_AGE, MAX_AGE = 14, 110


@dataclass(frozen=True)
class DateLimits:
    """The plausibility settings of a date field (module docstring, "Checks")."""

    earliest: dt.date = EARLIEST  # an earlier date is nulled (``<kind>_before_earliest``)
    min_age: int = MIN_AGE  # dob: a younger age on the run date is nulled (``dob_implausible_age``)
    max_age: int = MAX_AGE  # dob: an older age on the run date is nulled
    allow_future: bool | None = None  # None: the kind's default (dob: no, date: yes)

    def future_ok(self, birth: bool) -> bool:
        return (not birth) if self.allow_future is None else self.allow_future


DEFAULT_LIMITS = DateLimits()
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


def _pivot(yy: int, month: int, day: int, today: dt.date, birth: bool, min_age: int = MIN_AGE) -> dt.date | None:
    """Resolve a two-digit year (module docstring rule)."""
    recent = _make(2000 + yy, month, day)
    if recent is None:
        return _make(1900 + yy, month, day)
    if birth:
        too_new = recent > today or _age(recent, today) < min_age
    else:
        too_new = recent.year > today.year + 10
    return _make(1900 + yy, month, day) if too_new else recent


def _ymd(y: str, m: int, d: int, today: dt.date, birth: bool, min_age: int) -> dt.date | None:
    if len(y) == 2:
        return _pivot(int(y), m, d, today, birth, min_age)
    return _make(int(y), m, d)


def _month(name: str) -> int | None:
    return _MONTHS.get(name.upper())


def parse_date(
    value: Any, fmt: str | None = None, today: dt.date | None = None, birth: bool = True, min_age: int = MIN_AGE
) -> dt.date | None:
    """Parse one raw value into a date by the module's format rules (no plausibility checks): with ``fmt``,
    by that format alone (or as an Excel serial); without, by auto-detection."""
    if isinstance(value, dt.datetime):
        return value.date() if not is_null(value) else None
    if isinstance(value, dt.date):
        return value
    text = as_text(value)
    if text is None:
        return None
    today = today or dt.date.today()
    if fmt:
        return _strict(text, fmt, today, birth, min_age)
    return _detect(text, today, birth, min_age)


def _serial(text: str) -> dt.date | None:
    m = _SERIAL.fullmatch(text)
    return _EXCEL_EPOCH + dt.timedelta(days=int(m[1])) if m else None


def _strict(text: str, fmt: str, today: dt.date, birth: bool, min_age: int) -> dt.date | None:
    """``text`` read by ``fmt`` only (a two-digit year pivoted), else as an Excel serial, else None."""
    try:
        parsed = dt.datetime.strptime(text, fmt).date()
    except (ValueError, TypeError, OverflowError):
        return _serial(text)
    if "%y" in fmt:
        return _pivot(parsed.year % 100, parsed.month, parsed.day, today, birth, min_age)
    return parsed


def _detect(text: str, today: dt.date, birth: bool, min_age: int) -> dt.date | None:
    """``text`` read by the first of the auto-detected layouts (module docstring, 2-6) that matches it."""
    if m := _ISO.fullmatch(text):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    if m := _DMY.fullmatch(text):
        a, b = int(m[1]), int(m[2])
        if b > 12 >= a:  # cannot be day-first; the only valid reading is month-first
            a, b = b, a
        return _ymd(m[3], b, a, today, birth, min_age)
    if m := _D_MON_Y.fullmatch(text):
        month = _month(m[2])
        return _ymd(m[3], month, int(m[1]), today, birth, min_age) if month else None
    if m := _MON_D_Y.fullmatch(text):
        month = _month(m[1])
        return _make(int(m[3]), month, int(m[2])) if month else None
    if _DIGITS8.fullmatch(text):
        ymd = _make(int(text[:4]), int(text[4:6]), int(text[6:])) if 1800 <= int(text[:4]) <= 2199 else None
        return ymd or _make(int(text[4:]), int(text[2:4]), int(text[:2]))
    if _DIGITS6.fullmatch(text):
        return _pivot(int(text[4:]), int(text[2:4]), int(text[:2]), today, birth, min_age)
    return _serial(text)


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


def _rule_factory(kind: str, fmt: str | None, placeholders: Iterable[Any], today: dt.date | None,
                  limits: DateLimits = DEFAULT_LIMITS):
    today = today or dt.date.today()
    birth = kind == "dob"
    ph_dates, ph_texts = _placeholder_sets(placeholders, today)
    nothing = (None, None, None, None)
    no_match = f"{kind}_wrong_format" if fmt else f"{kind}_unparseable"
    future_ok = limits.future_ok(birth)

    def rule(value: Any) -> tuple[Any, ...]:
        text = as_text(value)
        if text is None and not isinstance(value, dt.date):
            return (*nothing, None)
        if text is not None and text.upper() in ph_texts:
            return (*nothing, f"{kind}_placeholder")
        parsed = parse_date(value, fmt, today, birth, limits.min_age)
        if parsed is None:
            return (*nothing, no_match)
        if parsed in ph_dates:
            return (*nothing, f"{kind}_placeholder")
        if parsed < limits.earliest:
            return (*nothing, f"{kind}_before_earliest")
        if parsed > today and not future_ok:
            return (*nothing, f"{kind}_future")
        if birth and parsed <= today and not limits.min_age <= _age(parsed, today) <= limits.max_age:
            return (*nothing, "dob_implausible_age")
        return parsed.isoformat(), parsed.year, parsed.month, parsed.day, None

    return rule


# Fast path (``_vector``): a value in a fixed layout of zero-padded numbers (the configured format when it
# holds only %d, %m and %Y between ``-/.`` or spaces, else ISO ``YYYY-MM-DD``), which strptime and
# the ISO rule read as exactly those numbers, checked all at once; any other value goes to the rule.
_PIECES = {"%d": "(?P<d>[0-9]{2})", "%m": "(?P<m>[0-9]{2})", "%Y": "(?P<y>[0-9]{4})"}
_LITERALS = {"-": "-", "/": "/", ".": "\\.", " ": " "}
_ISO_LAYOUT = "(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def numeric_layout(fmt: str | None) -> str | None:
    """The RE2 pattern of the values ``fmt`` reads as zero-padded numbers (ISO's without a format), or
    None when ``fmt`` holds anything but %d, %m, %Y once each and the literals ``-/.`` and space."""
    if not fmt:
        return _ISO_LAYOUT
    out = []
    for token in re.split(r"(%.)", fmt):
        if token in _PIECES and _PIECES[token] not in out:
            out.append(_PIECES[token])
        elif token.startswith("%") or not all(ch in _LITERALS for ch in token):
            return None
        else:
            out.extend(_LITERALS[ch] for ch in token)
    return "".join(out) if len([p for p in out if p in _PIECES.values()]) == 3 else None


def _real(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Boolean per (year, month, day): a real calendar date (year 1 or later)."""
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    days = _MONTH_DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    return (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days)


def _numbers(texts: np.ndarray, layout: str) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(matches the layout, its year/month/day as texts and int arrays) of distinct text values."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    parts = groups(arr, layout)
    shaped = parts["y"] != None  # noqa: E711 (element-wise)
    ints = {k: np.where(shaped, v, "0").astype(np.int64) for k, v in parts.items()}
    return shaped, {**parts, **{k.upper(): v for k, v in ints.items()}}


def _fast_factory(kind: str, fmt: str | None, placeholders: Iterable[Any], today: dt.date | None,
                  limits: DateLimits = DEFAULT_LIMITS):
    """The whole-column twin of :func:`_rule_factory`'s rule for the values in ``fmt``'s numeric layout."""
    layout = numeric_layout(fmt)
    if layout is None:
        return None
    today = today or dt.date.today()
    birth = kind == "dob"
    ph_dates, ph_texts = _placeholder_sets(placeholders, today)
    ph_keys = [p.year * 10000 + p.month * 100 + p.day for p in ph_dates]
    no_match = f"{kind}_wrong_format" if fmt else f"{kind}_unparseable"

    def fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
        found = _numbers(texts, layout)
        if found is None:
            return None
        shaped, n = found
        handled = shaped & ~is_in(texts, ph_texts)  # upper-casing leaves these texts alone
        y, m, d = n["Y"], n["M"], n["D"]
        key, now = y * 10000 + m * 100 + d, today.year * 10000 + today.month * 100 + today.day
        age = today.year - y - ((today.month * 100 + today.day) < (m * 100 + d))
        reason = np.select(
            [~_real(y, m, d), np.isin(key, ph_keys),
             key < limits.earliest.year * 10000 + limits.earliest.month * 100 + limits.earliest.day,
             (key > now) & (not limits.future_ok(birth)),
             birth & (key <= now) & ((age < limits.min_age) | (age > limits.max_age))],
            [no_match, f"{kind}_placeholder", f"{kind}_before_earliest", f"{kind}_future", "dob_implausible_age"],
            "",
        ).astype(object)
        ok = handled & (reason == "")
        cols = [np.full(len(texts), None, dtype=object) for _ in range(5)]
        cols[0][ok] = n["y"][ok] + "-" + n["m"][ok] + "-" + n["d"][ok]
        for col, part in zip(cols[1:4], (y, m, d), strict=True):
            col[ok] = part[ok].tolist()
        cols[4][handled & ~ok] = reason[handled & ~ok]
        return handled, cols

    return fast


def date_columns(
    s: pd.Series,
    kind: str = "dob",
    fmt: str | None = None,
    placeholders: Iterable[Any] = (),
    today: dt.date | None = None,
    limits: DateLimits = DEFAULT_LIMITS,
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]:
    """(ISO string, year, month, day, reason) for a column of raw dates; parts are nullable Int16."""
    if kind not in ("dob", "date"):
        raise ValueError("kind must be 'dob' or 'date'")
    rule = _rule_factory(kind, fmt, placeholders, today, limits)
    (iso, year, month, day), reason = map_unique(s, rule, 4, _fast_factory(kind, fmt, placeholders, today, limits))
    idx = s.index
    parts = [pd.Series(pd.array(np.asarray(a, dtype=object), dtype="Int16"), index=idx) for a in (year, month, day)]
    return to_string_series(iso, idx), *parts, reason_series(reason, idx)


def dob_series(
    s: pd.Series, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None,
    limits: DateLimits = DEFAULT_LIMITS,
) -> tuple[pd.Series, pd.Series]:
    """(ISO date strings, reason codes) for a column of raw dates of birth. See the module rules."""
    cols = date_columns(s, "dob", fmt, placeholders, today, limits)
    return cols[0], cols[4]


def date_series(
    s: pd.Series, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None,
    limits: DateLimits = DEFAULT_LIMITS,
) -> tuple[pd.Series, pd.Series]:
    """(ISO date strings, reason codes) for a column of raw non-birth dates (kind ``date``)."""
    cols = date_columns(s, "date", fmt, placeholders, today, limits)
    return cols[0], cols[4]


def dob(
    value: Any, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None,
    limits: DateLimits = DEFAULT_LIMITS,
) -> dt.date | None:
    """A plausible date of birth (``"12/03/1980"``, ``"29292"`` -> 1980-03-12), or None (module rules)."""
    iso = _rule_factory("dob", fmt, placeholders, today, limits)(value)[0]
    return dt.date.fromisoformat(iso) if iso else None


def date(
    value: Any, fmt: str | None = None, placeholders: Iterable[Any] = (), today: dt.date | None = None,
    limits: DateLimits = DEFAULT_LIMITS,
) -> dt.date | None:
    """A date (kind ``date``: no age check; future dates kept unless ``limits`` say otherwise), or None."""
    iso = _rule_factory("date", fmt, placeholders, today, limits)(value)[0]
    return dt.date.fromisoformat(iso) if iso else None


DAY_FIRST, MONTH_FIRST = "day before month", "month before day"


@dataclass(frozen=True)
class DayMonthOrder:
    """How a column's values fit its day/month order: ``order`` is the configured one (or the auto-detected
    reading, day first); ``fit_order`` counts values only it reads, ``fit_other`` values only the other order
    reads (they contradict the configuration), ``fit_both`` values both read (read in ``order``, so wrongly
    if the column is written the other way). Counts are of present values, not distinct ones."""

    order: str
    fit_order: int
    fit_other: int
    fit_both: int


def _fits(text: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(text, fmt)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _order_auto(text: str) -> tuple[bool, bool]:
    m = _DMY.fullmatch(text)
    if not m:
        return False, False
    a, b = int(m[1]), int(m[2])
    return 1 <= b <= 12 and 1 <= a <= 31, 1 <= a <= 12 and 1 <= b <= 31


def day_month_order(s: pd.Series, fmt: str | None = None) -> DayMonthOrder | None:
    """The :class:`DayMonthOrder` of a column of raw dates under ``fmt`` (None: the auto-detection, which
    reads ``nn/nn/yyyy`` day first). None when the format holds no numeric day and month (``%d %b %Y``)."""
    if fmt:
        if "%d" not in fmt or "%m" not in fmt:
            return None
        order = DAY_FIRST if fmt.index("%d") < fmt.index("%m") else MONTH_FIRST
        swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")

        def fits(text: str) -> tuple[bool, bool]:
            return _fits(text, fmt), _fits(text, swapped)
    else:
        order, fits = DAY_FIRST, _order_auto
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    n = np.bincount(codes[codes >= 0], minlength=len(uniques))
    flags = _order_flags(np.asarray(uniques, dtype=object), fits, numeric_layout(fmt) if fmt else None)
    this, that = flags[:, 0], flags[:, 1]
    return DayMonthOrder(order, int(n[this & ~that].sum()), int(n[that & ~this].sum()), int(n[this & that].sum()))


def _order_flags(uniques: np.ndarray, fits, layout: str | None) -> np.ndarray:
    """(reads in the order, reads in the other) per distinct value: the values in the format's numeric
    layout all at once (a real date with day and month as written, or swapped), the others by ``fits``."""
    flags = np.zeros((len(uniques), 2), dtype=bool)
    todo = np.arange(len(uniques))
    if layout is not None and len(uniques):
        texts = np.flatnonzero(np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques)))
        found = _numbers(uniques[texts], layout)
        if found is not None:
            shaped, n = found
            flags[texts[shaped], 0] = _real(n["Y"], n["M"], n["D"])[shaped]
            flags[texts[shaped], 1] = _real(n["Y"], n["D"], n["M"])[shaped]
            todo = np.setdiff1d(todo, texts[shaped])
    for i in todo:  # once per distinct value outside the layout
        text = as_text(uniques[i])
        flags[i] = fits(text) if text is not None else (False, False)
    return flags
