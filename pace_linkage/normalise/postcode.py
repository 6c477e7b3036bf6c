"""UK postcodes.

Canonical form ``OUTWARD INWARD`` in upper case (``sw1a1aa`` -> ``SW1A 1AA``). Rules:

1. Drop whitespace and punctuation, upper-case. Non-ASCII characters make the value invalid.
2. The inward code is the last three characters: a digit then two letters. Outward is the rest
   (2 to 4 characters).
3. Position-dependent repair of O/0 and I/1 confusions (letters and digits are never ambiguous
   at these positions, so only a slip can put the wrong one there):
   inward first character ``O`` -> ``0``, ``I`` or ``L`` (a lower-case ``l``) -> ``1``; outward first character (always a
   letter) ``0`` -> ``O``, ``1`` -> ``I``; for the other outward characters every outward
   format of that length (``A9 A99 A9A AA9 AA99 AA9A``) is tried with the repair applied where
   the format wants the other class, and the valid reading that needs the fewest repairs wins
   (ties broken in the order listed). At most two repairs per postcode (``EH1O OAB`` ->
   ``EH10 0AB``), and only if the value has at least one genuine digit: a value of letters only
   (``not one`` would become ``N0T 0NE``) is a word, not a mistyped postcode, and is invalid.
4. Validate against the Royal Mail format, including the position rules: first letter not Q V X;
   second letter not I J Z; third-position letter (A9A) in ABCDEFGHJKPSTUW; fourth-position letter
   (AA9A) in ABEHMNPRVWXY; inward letters never C I K M O V. ``GIR 0AA`` is accepted. Anything
   else -> ``postcode_invalid``. Areas are *not* checked against a list: the format is what a
   keying error breaks, and a new or non-geographic area should not be lost.

Derived parts (:func:`postcode_parts`): area = the outward code's leading letters, district =
the outward code, sector = district + space + the inward digit (``EH1 2AB`` -> ``EH``, ``EH1``,
``EH1 2``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    as_text,
    map_unique,
    reason_series,
    to_string_series,
)
from pace_linkage.normalise._vector import arrow_text, fullmatch, groups, strip_spaces_upper

_STRIP = re.compile(r"[\W_]+")
_OUTWARD = re.compile(
    r"[A-PR-UWYZ][0-9][0-9]?"  # A9, A99
    r"|[A-PR-UWYZ][0-9][ABCDEFGHJKPSTUW]"  # A9A
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?"  # AA9, AA99
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]",  # AA9A
    re.ASCII,
)
_INWARD = re.compile(r"[0-9][ABD-HJLNP-UW-Z]{2}", re.ASCII)
MAX_REPAIRS = 2
_TEMPLATES = {2: ("A9",), 3: ("A99", "A9A", "AA9"), 4: ("AA99", "AA9A")}
# Classic keying/OCR confusions, applied only where the format demands the other class.
_TO_DIGIT = {"O": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}


def _repair_outward(out: str) -> tuple[int, str] | None:
    """(repairs, outward) for the valid reading needing the fewest O/0, I/1 repairs, or None."""
    first_repairs = 0
    if out[0] in _TO_LETTER:
        out, first_repairs = _TO_LETTER[out[0]] + out[1:], 1
    best: tuple[int, str] | None = None
    for template in _TEMPLATES.get(len(out), ()):
        chars, repairs = [], first_repairs
        for ch, want in zip(out, template, strict=True):
            if want == "9" and ch in _TO_DIGIT:
                ch, repairs = _TO_DIGIT[ch], repairs + 1
            elif want == "A" and ch in _TO_LETTER:
                ch, repairs = _TO_LETTER[ch], repairs + 1
            chars.append(ch)
        candidate = "".join(chars)
        if _OUTWARD.fullmatch(candidate) and (best is None or repairs < best[0]):
            best = (repairs, candidate)
    return best


def _rule(value: Any) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(postcode, area, district, sector, reason) for one raw value."""
    text = as_text(value)
    if text is None:
        return None, None, None, None, None
    compact = _STRIP.sub("", text).upper()
    if not compact.isascii() or not 5 <= len(compact) <= 7:
        return None, None, None, None, R.POSTCODE_INVALID
    has_digit = any(ch.isdigit() for ch in compact)
    out, inward = compact[:-3], compact[-3:]
    inward_repairs = int(inward[0] in _TO_DIGIT) + sum(ch in _TO_LETTER for ch in inward[1:])
    inward = _TO_DIGIT.get(inward[0], inward[0]) + "".join(_TO_LETTER.get(ch, ch) for ch in inward[1:])
    if out == "GIR" and inward == "0AA":
        return "GIR 0AA", "GIR", "GIR", "GIR 0", None
    repaired = _repair_outward(out)
    repairs = (repaired[0] if repaired else 0) + inward_repairs
    if repaired is None or not _INWARD.fullmatch(inward) or repairs > MAX_REPAIRS or (repairs and not has_digit):
        return None, None, None, None, R.POSTCODE_INVALID
    fixed = repaired[1]
    area, district, sector = postcode_parts(f"{fixed} {inward}")
    return f"{fixed} {inward}", area, district, sector, None


def postcode_parts(pc: str) -> tuple[str, str, str]:
    """(area, district, sector) of a canonical postcode: ``"EH1 2AB"`` -> ``("EH", "EH1", "EH1 2")``."""
    outward, _, inward = pc.partition(" ")
    area = outward[:2] if outward[1:2].isalpha() else outward[:1]
    if outward == "GIR":
        area = "GIR"
    return area, outward, f"{outward} {inward[:1]}"


_ALNUM_WORDS = r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"
_VALID = rf"(?P<outward>{_OUTWARD.pattern})(?P<inward>{_INWARD.pattern})"
# Of a valid compact postcode: the area (the outward code's leading letters) and the inward digit.
_PIECES = r"(?P<area>[A-Z]{1,2})[0-9][0-9A-Z]?(?P<sector>[0-9])[A-Z]{2}"


def postcode_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`postcode_parts` results of the distinct text values that are ASCII letters and digits in
    space-separated groups, already a valid postcode once spaces are dropped and letters upper-cased (no
    repair: a valid outward and inward code read as themselves; ``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    compact = strip_spaces_upper(arr)
    parts = groups(compact, _VALID)
    handled = fullmatch(arr, _ALNUM_WORDS) & (parts["outward"] != None)  # noqa: E711 (element-wise)
    pieces = groups(compact.filter(pa.array(handled)), _PIECES)
    cols = [np.full(len(texts), None, dtype=object) for _ in range(5)]
    out = parts["outward"][handled]
    cols[0][handled] = out + " " + parts["inward"][handled]
    cols[1][handled] = pieces["area"]
    cols[2][handled] = out
    cols[3][handled] = out + " " + pieces["sector"]
    return handled, cols


def postcode_columns(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]:
    """(postcode, area, district, sector, reason) for a column of raw postcodes (``string`` dtype)."""
    outs, reason = map_unique(s, _rule, 4, postcode_fast)
    return (*(to_string_series(o, s.index) for o in outs), reason_series(reason, s.index))


def postcode_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(canonical postcodes, reason codes) for a column of raw postcodes. See the module rules."""
    cols = postcode_columns(s)
    return cols[0], cols[4]


def postcode(value: Any) -> str | None:
    """Canonical ``OUTWARD INWARD`` postcode (``"sw1a1aa"`` -> ``"SW1A 1AA"``), or None (module rules)."""
    return _rule(value)[0]
