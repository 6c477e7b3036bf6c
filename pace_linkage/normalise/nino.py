"""National Insurance numbers (NINO).

Rules, applied in this order to each value:

1. Drop whitespace and punctuation (anything that is not a letter or digit), upper-case ASCII.
   Any other character (accented or non-Latin letters, non-ASCII digits) makes the value invalid.
2. In the six digit positions (3-8) up to two letters from the classic keying/OCR confusions
   are read as digits: ``O`` -> 0, ``I``/``L`` -> 1, ``Z`` -> 2, ``S`` -> 5, ``G`` -> 6, ``B`` -> 8
   (a letter can never be valid there; more than two means a word, not a slip).
3. The shape must be two letters, six digits and an optional one-letter suffix; else ``nino_invalid``.
4. ``TN`` prefix -> ``nino_temporary`` (the TN + date of birth + M/F temporary reference).
5. Placeholders -> ``nino_placeholder``: prefix ``XX`` (``XX999999X``) or ``QQ`` (HMRC's own
   documentation example ``QQ123456C``), or all six digits the
   same (``AB000000``, ``AA999999``). Such a number is allocated to nobody in practice, and a
   dummy kept would tie unrelated people together. (Straight runs such as ``123456`` are *not*
   treated as dummies: they are valid numbers, and ``AB123456`` is a legitimate stem.)
6. Administrative prefixes OO, CR, FY, MW, NC, PP, PY, PZ -> ``nino_administrative``.
7. Never-allocated prefixes BG, GB, KN, NK, NT, ZZ -> ``nino_unallocated_prefix``.
8. HMRC letter rules: first letter not D F I Q U V; second letter not D F I O Q U V; suffix A-D
   or absent; else ``nino_invalid``.

The linkage key is the 8-character stem (``AB123456``); the suffix is kept separately because
partners often omit it and it never distinguishes two people.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    as_text,
    map_unique,
    reason_series,
    to_string_series,
)
from pace_linkage.normalise._vector import (
    alike_from,
    arrow_text,
    fullmatch,
    groups,
    is_in,
    strip_spaces_upper,
)

_SEPARATORS = re.compile(r"[\W_]+")
_SHAPE = re.compile(r"[A-Z]{2}[0-9]{6}[A-Z]?", re.ASCII)
_DIGIT_FIX = {"O": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
MAX_REPAIRS = 2
_BAD_FIRST = set("DFIQUV")
_BAD_SECOND = set("DFIOQUV")
ADMINISTRATIVE_PREFIXES = frozenset({"OO", "CR", "FY", "MW", "NC", "PP", "PY", "PZ"})
UNALLOCATED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "ZZ"})  # TN: see nino_temporary
TEMPORARY_PREFIX = "TN"


def _rule(value: Any) -> tuple[str | None, str | None, str | None]:
    """(stem, suffix, reason) for one raw value."""
    text = as_text(value)
    if text is None:
        return None, None, None
    compact = _SEPARATORS.sub("", text).upper()
    if not compact.isascii():
        return None, None, R.NINO_INVALID
    if len(compact) in (8, 9) and sum(ch in _DIGIT_FIX for ch in compact[2:8]) <= MAX_REPAIRS:
        compact = compact[:2] + "".join(_DIGIT_FIX.get(ch, ch) for ch in compact[2:8]) + compact[8:]
    if not _SHAPE.fullmatch(compact):
        return None, None, R.NINO_INVALID
    prefix, digits, suffix = compact[:2], compact[2:8], compact[8:]
    if prefix == TEMPORARY_PREFIX:
        return None, None, R.NINO_TEMPORARY
    if prefix in ("XX", "QQ") or len(set(digits)) == 1:
        return None, None, R.NINO_PLACEHOLDER
    if prefix in ADMINISTRATIVE_PREFIXES:
        return None, None, R.NINO_ADMINISTRATIVE
    if prefix in UNALLOCATED_PREFIXES:
        return None, None, R.NINO_UNALLOCATED_PREFIX
    if prefix[0] in _BAD_FIRST or prefix[1] in _BAD_SECOND or suffix not in ("", "A", "B", "C", "D"):
        return None, None, R.NINO_INVALID
    return prefix + digits, (suffix or None), None


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Prefixes a number may have (rules 4-8), for the fast path; any other goes to the rule.
VALID_PREFIXES = frozenset(
    a + b for a in _LETTERS for b in _LETTERS
    if a not in _BAD_FIRST and b not in _BAD_SECOND and a + b not in ADMINISTRATIVE_PREFIXES
    and a + b not in UNALLOCATED_PREFIXES and a + b not in (TEMPORARY_PREFIX, "XX", "QQ")
)
_ALNUM_WORDS = r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"
_NINO = r"(?P<prefix>[A-Z]{2})(?P<digits>[0-9]{6})(?P<suffix>[A-D]?)"


def nino_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`nino` results of the distinct text values that are ASCII letters and digits in
    space-separated groups, with a valid prefix and digits not all alike (``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    parts = groups(strip_spaces_upper(arr), _NINO)
    prefix, digits, suffix = parts["prefix"], parts["digits"], parts["suffix"]
    handled = fullmatch(arr, _ALNUM_WORDS) & is_in(prefix, VALID_PREFIXES)
    handled[handled] = ~alike_from(digits[handled], 6, 0)
    stem = np.full(len(texts), None, dtype=object)
    letter = np.full(len(texts), None, dtype=object)
    stem[handled] = prefix[handled] + digits[handled]
    letter[handled & (suffix != "")] = suffix[handled & (suffix != "")]
    return handled, [stem, letter, np.full(len(texts), None, dtype=object)]


def nino_columns(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(stem, suffix, reason) for a column of raw NINOs; stem and suffix are ``string`` dtype."""
    (stem, suffix), reason = map_unique(s, _rule, 2, nino_fast)
    return to_string_series(stem, s.index), to_string_series(suffix, s.index), reason_series(reason, s.index)


def nino_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(clean 8-character stems, reason codes) for a column of raw NINOs. See the module rules."""
    stem, _suffix, reason = nino_columns(s)
    return stem, reason


def nino(value: Any) -> str | None:
    """The NINO stem (``"ab 12 34 56 c"`` -> ``"AB123456"``), or None if absent/invalid (module rules)."""
    return _rule(value)[0]


def nino_suffix(value: Any) -> str | None:
    """The suffix letter A-D of a valid NINO, or None."""
    return _rule(value)[1]
