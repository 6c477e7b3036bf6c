"""Shared machinery: run a per-value rule once per *unique* raw value and map the results back.

Real columns repeat values heavily (a million rows hold a few thousand distinct first names), so
every column normaliser factorises the column, applies its rule to the unique values only, and
broadcasts the results with one numpy ``take``. The rule functions are small, pure, and total:
they accept any object, never raise, and return ``(outputs..., reason)``. The scalar functions
(``nino(value)`` ...) call the very same rule directly, so the two can never disagree, without
paying pandas' per-call overhead.
"""

from __future__ import annotations

import datetime as _dt
import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

STRING = pd.StringDtype()  # python-backed ``string`` dtype; null is ``pd.NA``

# Characters NFKD does not decompose into an ASCII base letter.
_FOLD_EXTRA = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
        "ı": "i", "ħ": "h", "Ħ": "H", "ŀ": "l", "Ŀ": "L", "ĸ": "k",
    }
)


# Whole-value missing-data markers, compared with everything but letters and digits removed.
GENERIC_PLACEHOLDERS = frozenset(
    "UNKNOWN UNKOWN NOTKNOWN NK UNK NA NULL NONE NIL TBC TBA NOTGIVEN NOTSTATED NOTPROVIDED "
    "NOTRECORDED NOTAPPLICABLE REFUSED WITHHELD MISSING BLANK".split()
)


def compact_key(text: str) -> str:
    """Upper-case letters and digits only (``"n/a"`` -> ``"NA"``), for placeholder lookups."""
    return "".join(filter(str.isalnum, text.upper()))


def fold_accents(text: str) -> str:
    """Fold accents and ligatures to their base letters (``Ó`` -> ``O``, ``ß`` -> ``ss``).

    NFKD compatibility decomposition (so ``ﬁ`` -> ``fi`` and full-width letters -> ASCII), then
    combining marks dropped, then a small table for letters NFKD leaves alone (``ø``, ``ł``, ``æ``).
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD_EXTRA))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_FOLD_EXTRA)


def is_null(value: Any) -> bool:
    """True for None, NaN, pd.NA and NaT."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return False


def as_text(value: Any) -> str | None:
    """The value as text, or None when null or blank.

    Extracts keep text as text, but a spreadsheet may still hand over numbers and dates: integral
    floats lose their ``.0`` (``7700900123.0`` -> ``7700900123``), dates become ISO strings.
    """
    if is_null(value):
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = str(value)
    elif isinstance(value, (int, np.integer)):
        text = str(int(value))
    elif isinstance(value, (float, np.floating)):
        f = float(value)
        text = str(int(f)) if math.isfinite(f) and f.is_integer() else repr(f)
    elif isinstance(value, (_dt.date, _dt.datetime)):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    return text or None


# A fast path: (distinct text values) -> (handled mask, n_out output arrays and the reasons), or None.
FastPath = Callable[[np.ndarray], "tuple[np.ndarray, list[np.ndarray]] | None"]
# Below this many distinct values the rule alone is quicker than a fast path's fixed cost (~0.5 ms a column).
FAST_MIN_VALUES = 128


def map_unique(
    s: pd.Series, rule: Callable[[Any], Sequence[Any]], n_out: int, fast: FastPath | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Apply ``rule`` to each unique non-null value of ``s``; return ``n_out`` output arrays and reasons.

    ``rule(value)`` returns ``n_out`` outputs followed by a reason code (or None). Null inputs give
    null outputs and no reason. Arrays are object dtype, aligned with ``s``. ``fast``, when given,
    computes the results of the distinct text values it recognises all at once (``_vector``) when there are
    at least :data:`FAST_MIN_VALUES`; the rule runs on the others only, so ``fast`` must give exactly what the
    rule gives on the values it handles.
    """
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    columns = [np.empty(len(uniques) + 1, dtype=object) for _ in range(n_out + 1)]
    todo = np.arange(len(uniques))
    if fast is not None and len(uniques) >= FAST_MIN_VALUES:
        is_text = np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques))
        texts = np.flatnonzero(is_text)
        found = fast(uniques[texts])
        if found is not None:
            handled, outs = found
            for col, out in zip(columns, outs, strict=True):
                col[texts[handled]] = out[handled]
            done = np.zeros(len(uniques), dtype=bool)
            done[texts[handled]] = True
            todo = np.flatnonzero(~done)
    results = [rule(u) for u in uniques[todo]]
    for k, col in enumerate(columns):
        col[todo] = [r[k] for r in results]
        col[-1] = None  # code -1 (null input) picks this slot
    taken = [col.take(codes) for col in columns]
    return taken[:n_out], taken[n_out]


def to_string_series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Object array with None for null -> ``string`` dtype Series (null = pd.NA)."""
    return pd.Series(pd.array(values, dtype=STRING), index=index)


def reason_series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Reason codes as an object Series (None where no reason)."""
    return pd.Series(values, index=index, dtype=object)


def single_column(s: pd.Series, rule, fast: FastPath | None = None) -> tuple[pd.Series, pd.Series]:
    """(clean values, reason codes) of a column whose per-value ``rule`` returns ``(clean or None, reason or
    None)``: the rule runs once per distinct value the ``fast`` path leaves (:func:`map_unique`)."""
    (out,), reason = map_unique(s, rule, 1, fast)
    return to_string_series(out, s.index), reason_series(reason, s.index)
