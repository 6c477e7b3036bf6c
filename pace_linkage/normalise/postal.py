"""Postal codes of any country (the ``postal_code`` kind): no shape is assumed.

The UK ``postcode`` kind checks the Royal Mail format and nulls anything else; a US ZIP code, an Australian,
German, Dutch, Canadian or Irish code is not UK-shaped and would be lost. This kind keeps any code:

1. Accents are folded, letters upper-cased, and every blank and punctuation character dropped
   (``k1a 0b1`` -> ``K1A0B1``, ``1234-ab`` -> ``1234AB``, ``90210-1234`` -> ``902101234``).
2. What is left must be 2 to :data:`MAX_LENGTH` ASCII letters and digits with at least one digit (every
   country's codes have one; a word such as ``LONDON`` or ``ABROAD`` in a postal-code column is not a code),
   else ``postal_code_invalid``.
3. A missing-value marker (N/A, UNKNOWN, NONE ...) or a code of zeros only (``00000``) ->
   ``postal_code_placeholder``.

No letter/digit repair is made (without a country's format there is no telling a slip from a code).

Derived columns: ``f_prefix2``, ``f_prefix3``, ``f_prefix4``, the first 2, 3 and 4 characters of the clean
code (the whole code when it is shorter): in most countries' systems a leading part names a region (the first
two digits of a German or French code, the first three of a US ZIP code or a Canadian code's forward sortation
area, the four digits of a Dutch code), so a person who moved nearby agrees on a prefix.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    GENERIC_PLACEHOLDERS,
    as_text,
    compact_key,
    fold_accents,
    map_unique,
    reason_series,
    to_string_series,
)

MAX_LENGTH = 10  # the longest codes in use (e.g. a US ZIP+4 without its hyphen: 9)
PREFIXES = (2, 3, 4)
_DROP = re.compile(r"[\W_]+")
_CODE = re.compile(rf"(?=[A-Z]*[0-9])[A-Z0-9]{{2,{MAX_LENGTH}}}", re.ASCII)


def _rule(value: Any) -> tuple[str | None, ...]:
    """(code, prefix2, prefix3, prefix4, reason) for one raw value."""
    text = as_text(value)
    none = (None,) * (1 + len(PREFIXES))
    if text is None:
        return (*none, None)
    if compact_key(text) in GENERIC_PLACEHOLDERS:
        return (*none, R.POSTAL_CODE_PLACEHOLDER)
    code = _DROP.sub("", fold_accents(text)).upper()
    if not _CODE.fullmatch(code):
        return (*none, R.POSTAL_CODE_INVALID)
    if not code.strip("0"):
        return (*none, R.POSTAL_CODE_PLACEHOLDER)
    return (code, *(code[:k] for k in PREFIXES), None)


def postal_code_columns(s: pd.Series) -> tuple[pd.Series, ...]:
    """(code, prefix2, prefix3, prefix4, reason) for a column of raw postal codes (``string`` dtype)."""
    outs, reason = map_unique(s, _rule, 1 + len(PREFIXES))
    return (*(to_string_series(o, s.index) for o in outs), reason_series(reason, s.index))


def postal_code(value: Any) -> str | None:
    """The clean code (``"k1a 0b1"`` -> ``"K1A0B1"``), or None (module rules)."""
    return _rule(value)[0]
