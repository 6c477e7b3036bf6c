"""Blocking key transforms: what a blocking rule looks at in a column, each a function of whole columns.

A rule's ``on`` lists key parts (:class:`~pace_linkage.engine.settings.BlockingKey`); a plain column name is the
``exact`` transform. Each part becomes one or more key columns (:func:`key_frame`); two records share the rule's
key when every key column agrees, and a null anywhere in a part's input makes the part null (no pair):

=================  ==============================================  =============================================
transform          key                                             what it survives
=================  ==============================================  =============================================
``exact``          the value                                       --
``prefix``         the first ``length`` characters (a shorter      a slip after the first ``length`` letters,
                   value whole)                                    a truncated or extended name
``soundex``        American Soundex of the letters (first letter   spelling variants that sound alike (not a
                   and three digits)                               changed first letter)
``set``            the values of ``columns`` in sorted order       values entered in each other's boxes (first
                                                                   name and surname swapped)
``year``           the year of a date                              a wrong day or month
``month``/``day``  the month / day of a date                       --
``month_day``      month and day of a date                         a wrong year
``day_month_set``  day and month in either order                   day and month swapped
=================  ==============================================  =============================================

Dates are read as ISO ``YYYY-MM-DD`` text (what the date normaliser writes) or datetimes; anything else is
null. No Python code runs per record: a transform runs once per distinct value (pandas' vectorised string
methods, a code-point matrix for Soundex, integer arithmetic for dates) and is mapped back by integer codes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pace_linkage.engine.settings import BlockingKey, BlockingRule
from pace_linkage.errors import LinkageError

# Soundex digit per letter A..Z: 0 = vowel (A E I O U Y; separates equal codes), -1 = H or W (ignored: equal
# codes either side of it are coded once)
_SOUNDEX_LETTERS = "01230120022455012623010202"
_SOUNDEX = np.full(128, -1, dtype=np.int8)
for _i, _d in enumerate(_SOUNDEX_LETTERS):
    _SOUNDEX[ord("A") + _i] = int(_d)
_SOUNDEX[ord("H")] = _SOUNDEX[ord("W")] = -1


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string")


def prefix(values: pd.Series, length: int) -> pd.Series:
    """The first ``length`` characters of each value (a shorter value whole); null stays null."""
    return _text(values).str.slice(0, length)


def soundex(values: pd.Series) -> pd.Series:
    """American Soundex (``R163`` for ROBERT) of the letters A-Z of each upper-cased value; null for a null or a
    value without such a letter."""
    letters = _text(values).str.upper().str.replace(r"[^A-Z]", "", regex=True)
    null = (letters.isna() | (letters == "")).to_numpy(dtype=bool)
    u = np.asarray(letters.fillna("").to_numpy(dtype=object), dtype=str)
    width = max(u.dtype.itemsize // 4, 1)
    m = np.zeros((len(u), width), dtype=np.uint32)
    if len(u) and u.dtype.itemsize:
        m[:] = np.ascontiguousarray(u).view(np.uint32).reshape(len(u), width)
    present = m != 0
    codes = np.where(present, _SOUNDEX[np.minimum(m, 127)], -2)  # -2: padding after the value
    first = np.maximum(codes[:, :1], 0)  # a first vowel, H or W codes nothing
    rest = codes[:, 1:]
    keep = rest != -1  # H and W are skipped entirely
    order = np.argsort(~keep, axis=1, kind="stable")
    rest = np.where(np.take_along_axis(keep, order, axis=1), np.take_along_axis(rest, order, axis=1), -2)
    prev = np.concatenate([first, rest[:, :-1]], axis=1)
    emit = (rest > 0) & (rest != prev)
    out = np.full((len(u), 4), ord("0"), dtype=np.uint32)
    out[:, 0] = m[:, 0]
    rows, cols = np.nonzero(emit)
    rank = np.cumsum(emit, axis=1)[rows, cols]
    sel = rank <= 3
    out[rows[sel], rank[sel]] = (ord("0") + rest[rows[sel], cols[sel]]).astype(np.uint32)
    code = out.view("U4").ravel().astype(object)
    code[null] = None
    return pd.Series(code, index=values.index, dtype="string")


def _dates(values: pd.Series) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values)
    return pd.DatetimeIndex(pd.to_datetime(_text(values).str.slice(0, 10), format="%Y-%m-%d", errors="coerce"))


def _date_part(values: pd.Series, part: Callable[[pd.DatetimeIndex], np.ndarray]) -> pd.Series:
    d = _dates(values)
    out = pd.array(np.asarray(part(d), dtype=np.float64), dtype="Int64")
    out[np.asarray(d.isna())] = pd.NA
    return pd.Series(out, index=values.index)


def _day_month_set(d: pd.DatetimeIndex) -> np.ndarray:
    day, month = np.asarray(d.day, dtype=np.float64), np.asarray(d.month, dtype=np.float64)
    return np.minimum(day, month) * 100 + np.maximum(day, month)


_DATE_PARTS: dict[str, Callable[[pd.DatetimeIndex], np.ndarray]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "month_day": lambda d: np.asarray(d.month, dtype=np.float64) * 100 + np.asarray(d.day, dtype=np.float64),
    "day_month_set": _day_month_set,
}


def _codes(codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Integer key codes (``-1`` = null) as a nullable integer column."""
    return pd.Series(pd.arrays.IntegerArray(codes.astype(np.int64), codes < 0), index=index)


def _through_uniques(values: pd.Series, transform: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``transform`` applied to the distinct values only, as codes in the order of the transformed values (a
    window rule sorts by them); null where the value or its transform is null."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = transform(pd.Series(uniques))
    tcodes = pd.factorize(out, sort=True, use_na_sentinel=True)[0]
    return _codes(np.where(codes >= 0, tcodes[np.maximum(codes, 0)] if len(tcodes) else -1, -1), values.index)


def sorted_set(frame: pd.DataFrame) -> list[pd.Series]:
    """The columns' values sorted within each row (so ``(A, B)`` and ``(B, A)`` give the same key columns), as
    codes in value order; a row with a null anywhere is null in every output column."""
    n, k = frame.shape
    stacked = pd.concat([frame[c].astype("string") for c in frame.columns], ignore_index=True)
    codes = pd.factorize(stacked, sort=True, use_na_sentinel=True)[0].reshape(k, n).T
    null = (codes < 0).any(axis=1)
    ordered = np.sort(codes, axis=1)
    ordered[null] = -1
    return [_codes(ordered[:, j], frame.index) for j in range(k)]


def part_columns(records: pd.DataFrame, part: str | BlockingKey) -> list[pd.Series]:
    """The key column(s) of one part of a rule, aligned with ``records``."""
    key = BlockingKey(column=part) if isinstance(part, str) else part
    missing = [c for c in key.source_columns() if c not in records.columns]
    if missing:
        raise LinkageError(f"blocking: column(s) {', '.join(missing)} not in the records")
    if key.transform == "set":
        return sorted_set(records[key.source_columns()])
    values = records[str(key.column)]
    if key.transform == "exact":
        return [values]
    if key.transform == "prefix":
        return [_through_uniques(values, lambda u: prefix(u, int(key.length or 1)))]
    if key.transform == "soundex":
        return [_through_uniques(values, soundex)]
    part_of = _DATE_PARTS[key.transform]
    return [_through_uniques(values, lambda u: _date_part(u, part_of))]


def key_frame(records: pd.DataFrame, rule: BlockingRule) -> pd.DataFrame:
    """One column per key column of ``rule`` (named ``k0``, ``k1`` ...), aligned with ``records``: the
    records agree on the rule exactly when they agree on every column, none null."""
    cols = [c for part in rule.on for c in part_columns(records, part)]
    return pd.DataFrame({f"k{j}": c for j, c in enumerate(cols)}, index=records.index)
