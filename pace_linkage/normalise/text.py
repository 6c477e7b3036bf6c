"""Free text (kind ``text``, e.g. employer names) and identifiers (kind ``id``).

Text (:func:`text`): accents folded, upper case, ``&`` -> ``AND``, apostrophes and full stops
dropped (``O'Brien's Ltd.`` -> ``OBRIENS LTD``), every other non-alphanumeric character -> space,
spaces collapsed and trimmed. Letters of other scripts are kept (upper-cased where they have case).
A missing-value marker (N/A, UNKNOWN, NONE ...) -> ``text_placeholder``; nothing but punctuation
-> ``text_invalid``.

Identifier (:func:`ident`): the partner's own id as trimmed text, case and leading zeros kept
(``" 000123 "`` -> ``"000123"``); control characters removed and inner whitespace runs collapsed to
one space. Numbers handed over by a spreadsheet lose a spurious ``.0``. Empty -> None (no reason:
nothing was there).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    GENERIC_PLACEHOLDERS,
    as_text,
    compact_key,
    fold_accents,
    single_column,
)
from pace_linkage.normalise._vector import alnum_upper, arrow_text, fullmatch, is_in

_DROP = re.compile(r"['’‘`´ʼ.]")
_SEPARATE = re.compile(r"[\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"\s+")


def _text_once(raw: str) -> str:
    folded = fold_accents(raw).upper().replace("&", " AND ")
    return " ".join(_SEPARATE.sub(" ", _DROP.sub("", folded)).split())


def _text_rule(value: Any) -> tuple[str | None, str | None]:
    raw = as_text(value)
    if raw is None:
        return None, None
    if compact_key(raw) in GENERIC_PLACEHOLDERS:
        return None, R.TEXT_PLACEHOLDER
    out = _text_once(raw)
    for _ in range(3):  # a few exotic characters need a second pass (case mapping after folding)
        again = _text_once(out)
        if again == out:
            break
        out = again
    if not out:
        return None, R.TEXT_INVALID
    if compact_key(out) in GENERIC_PLACEHOLDERS:
        return None, R.TEXT_PLACEHOLDER
    return out, None


# Printable ASCII with no blank at either end: accent folding and the second pass leave such text alone.
_ASCII_TRIMMED = r"[!-~](?:[ -~]*[!-~])?"


def text_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`text` results of the distinct text values in printable ASCII, trimmed, that are neither a
    placeholder nor only punctuation (``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    out = pc.replace_substring_regex(pc.replace_substring(pc.ascii_upper(arr), "&", " AND "), "['`.]", "")
    out = pc.ascii_trim(pc.replace_substring_regex(out, "[^A-Z0-9]+", " "), " ")
    clean = np.asarray(out, dtype=object)
    handled = (fullmatch(arr, _ASCII_TRIMMED) & (clean != "")
               & ~is_in(np.asarray(alnum_upper(arr), dtype=object), GENERIC_PLACEHOLDERS)
               & ~is_in(np.asarray(pc.replace_substring(out, " ", ""), dtype=object), GENERIC_PLACEHOLDERS))
    return handled, [np.where(handled, clean, None), np.full(len(texts), None, dtype=object)]


def text_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(clean text, reason codes) for a column of raw free text. See the module rules."""
    return single_column(s, _text_rule, text_fast)


def text(value: Any) -> str | None:
    """Upper case, accents folded, punctuation dropped, spaces collapsed; or None."""
    return _text_rule(value)[0]


def _ident_rule(value: Any) -> tuple[str | None, str | None]:
    raw = as_text(value)
    if raw is None:
        return None, None
    out = _SPACES.sub(" ", _CONTROL.sub("", _SPACES.sub(" ", raw))).strip()
    return (out or None), None


def ident_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`ident` results of the distinct text values already trimmed printable ASCII with single
    spaces: themselves (``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    handled = fullmatch(arr, r"[!-~]+(?: [!-~]+)*")
    return handled, [np.where(handled, texts, None), np.full(len(texts), None, dtype=object)]


def ident_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(trimmed identifiers, reason codes: always None) for a column of raw ids."""
    return single_column(s, _ident_rule, ident_fast)


def ident(value: Any) -> str | None:
    """Trimmed identifier text, leading zeros kept; empty -> None."""
    return _ident_rule(value)[0]
