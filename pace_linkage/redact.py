"""Redaction: the one place where values are rendered for humans.

Anything that shows a partner's value to a person (a list of top false positives, a clerical review
sheet) goes through these functions; logs, exceptions and the HTML report never show values at all.

Masking rules (each is total: None / NaN / pd.NA -> ""; a value that does not look like its kind is
masked *entirely*, character by character, keeping only spaces, so a malformed value never leaks):

* name      ``John McDonald`` -> ``J*** M*******``: first character of each word kept, every other
            character ``*``; words are separated by whitespace or hyphens, which are kept; lengths kept.
* nino      ``AB123456C`` -> ``AB****56C``: spaces removed, upper-cased; the prefix letters and the last
            two digits (and suffix letter) kept, the middle four digits masked. An 8-character stem
            ``AB123456`` -> ``AB****56``.
* postcode  ``EH1 2AB`` -> ``EH1 ***``: the outward code kept, the inward code masked (a missing space
            is restored first).
* dob/date  ``1980-03-12`` -> ``1980-**-**``: only the year kept (date/datetime objects accepted).
* email     ``jo.smith@example.org`` -> ``j*******@*******.org``: first character and top-level domain.
* phone     every digit but the last two masked.
* id        every character but the last two masked.
* text      as name.  sex: shown as is (M/F/X carries no identity on its own).

CSV output: :func:`safe_csv_frame` neutralises spreadsheet formulas (OWASP "CSV injection") in every
text column of every CSV the pipeline writes. Small counts: :func:`suppress_small`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------
# Value masking: one regex rule per kind, shared by the scalar and the Series version
# --------------------------------------------------------------------------------------------------
_NAME_TAIL = re.compile(r"(?<=[^\s-])[^\s-]")  # every char that follows a char of the same word
_ANY = re.compile(r"\S")
_NINO = re.compile(r"^([A-Z]{2})\d{4}(\d{2}[A-D]?)$")
_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?) ?\d[A-Z]{2}$")
_ISO_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}(?:[ T].*)?$")
_EMAIL = re.compile(r"^(.)([^@]*)@(.+)\.([A-Za-z]{2,})$")
_KEEP_LAST2 = re.compile(r"\S(?=(?:\s*\S){2})")  # every non-space char with >= 2 more after it
_DIGIT_KEEP_LAST2 = re.compile(r"\d(?=(?:\D*\d){2})")


def _is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(isinstance(v, float) and np.isnan(v))
    except TypeError:
        return False


def _text(v: Any) -> str:
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)


def _stars(m: re.Match) -> str:
    return "*" * len(m.group(0))


def _mask_all(s: str) -> str:
    return _ANY.sub("*", s)


def mask_name(v: Any) -> str:
    """``John McDonald`` -> ``J*** M*******`` (first character of each word, lengths kept)."""
    return "" if _is_null(v) else _NAME_TAIL.sub("*", _text(v))


def mask_nino(v: Any) -> str:
    """``AB123456C`` -> ``AB****56C``; anything not NINO-shaped is masked entirely."""
    if _is_null(v):
        return ""
    s = re.sub(r"\s+", "", _text(v)).upper()
    m = _NINO.match(s)
    return f"{m.group(1)}****{m.group(2)}" if m else _mask_all(s)


def mask_postcode(v: Any) -> str:
    """``EH1 2AB`` -> ``EH1 ***`` (outward code kept); anything not postcode-shaped masked entirely."""
    if _is_null(v):
        return ""
    s = re.sub(r"\s+", " ", _text(v)).strip().upper()
    m = _POSTCODE.match(s)
    return f"{m.group(1)} ***" if m else _mask_all(s)


def mask_dob(v: Any) -> str:
    """``1980-03-12`` -> ``1980-**-**`` (year kept); a non-ISO date is masked entirely."""
    if _is_null(v):
        return ""
    s = _text(v).strip()
    m = _ISO_DATE.match(s)
    return f"{m.group(1)}-**-**" if m else _mask_all(s)


def mask_email(v: Any) -> str:
    """``jo.smith@example.org`` -> ``j*******@*******.org``."""
    if _is_null(v):
        return ""
    s = _text(v).strip()
    m = _EMAIL.match(s)
    if not m:
        return _mask_all(s)
    return f"{m.group(1)}{'*' * len(m.group(2))}@{'*' * len(m.group(3))}.{m.group(4)}"


def mask_phone(v: Any) -> str:
    """Every digit but the last two masked: ``07700 900123`` -> ``***** ****23`` (spacing kept)."""
    return "" if _is_null(v) else _DIGIT_KEEP_LAST2.sub("*", _text(v))


def mask_id(v: Any) -> str:
    """Every character but the last two masked: ``SDS-001234`` -> ``********34``."""
    return "" if _is_null(v) else _KEEP_LAST2.sub("*", _text(v))


def _as_is(v: Any) -> str:
    return "" if _is_null(v) else _text(v)


MASKERS: dict[str, Callable[[Any], str]] = {
    "name": mask_name,
    "text": mask_name,
    "nino": mask_nino,
    "postcode": mask_postcode,
    "dob": mask_dob,
    "date": mask_dob,
    "email": mask_email,
    "phone": mask_phone,
    "id": mask_id,
    "sex": _as_is,
}


def mask_value(kind: str, v: Any) -> str:
    """Mask ``v`` by field kind (the ``kind`` of :class:`pace_linkage.config.FieldSpec`)."""
    try:
        masker = MASKERS[kind]
    except KeyError:
        raise ValueError(f"mask_value: unknown field kind '{kind}' (known: {', '.join(sorted(MASKERS))})") from None
    return masker(v)


def mask_series(kind: str, s: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_value` over a column: same rules, nulls -> "", object dtype out."""
    if kind not in MASKERS:
        mask_value(kind, None)  # raises the ValueError
    null = s.isna().to_numpy()
    text = s.astype(object).where(~null, "")
    if kind in ("dob", "date") and pd.api.types.is_datetime64_any_dtype(s):
        text = s.dt.strftime("%Y-%m-%d").astype(object).where(~null, "")
    st = text.astype(str).str  # str(date) is ISO; str(datetime) is ISO date + time
    if kind in ("name", "text"):
        out = st.replace(_NAME_TAIL, "*", regex=True)
    elif kind == "nino":
        compact = st.replace(r"\s+", "", regex=True).str.upper()
        out = compact.str.replace(_NINO, r"\1****\2", regex=True)
        out = out.where(compact.str.match(_NINO), compact.str.replace(_ANY, "*", regex=True))
    elif kind == "postcode":
        clean = st.replace(r"\s+", " ", regex=True).str.strip().str.upper()
        out = clean.str.replace(_POSTCODE, r"\1 ***", regex=True)
        out = out.where(clean.str.match(_POSTCODE), clean.str.replace(_ANY, "*", regex=True))
    elif kind in ("dob", "date"):
        clean = st.strip()
        out = clean.str.replace(_ISO_DATE, r"\1-**-**", regex=True)
        out = out.where(clean.str.match(_ISO_DATE), clean.str.replace(_ANY, "*", regex=True))
    elif kind == "email":
        clean = st.strip()
        parts = clean.str.extract(_EMAIL)
        built = parts[0] + _star_runs(parts[1]) + "@" + _star_runs(parts[2]) + "." + parts[3]
        out = built.where(parts[0].notna(), clean.str.replace(_ANY, "*", regex=True))
    elif kind == "phone":
        out = st.replace(_DIGIT_KEEP_LAST2, "*", regex=True)
    elif kind == "id":
        out = st.replace(_KEEP_LAST2, "*", regex=True)
    else:  # sex
        out = text.astype(str)
    return out.where(~null, "").astype(object)


def _star_runs(s: pd.Series) -> pd.Series:
    """A run of ``*`` as long as each string (null -> "")."""
    lengths = s.astype("string").str.len().fillna(0).astype(int).tolist()
    return pd.Series("*", index=s.index).str.repeat(lengths)


def mask_frame(df: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``df`` with each column named in ``kinds`` masked by its kind."""
    out = df.copy()
    for col, kind in kinds.items():
        if col in out.columns:
            out[col] = mask_series(kind, out[col])
    return out


# --------------------------------------------------------------------------------------------------
# Small-count suppression
# --------------------------------------------------------------------------------------------------
SUPPRESSED = "*"


def suppress_small(count: Any, threshold: int) -> Any:
    """Statistical disclosure control: a count in 1..threshold-1 is shown as ``"*"``.

    0 stays 0 (an empty cell discloses nothing about a person); counts >= threshold, non-integers and
    everything when ``threshold`` <= 1 are returned unchanged. Booleans are not counts.
    """
    if threshold <= 1 or isinstance(count, bool) or not isinstance(count, int | np.integer):
        return count
    return SUPPRESSED if 0 < int(count) < threshold else count


def suppress_mapping(counts: Mapping[Any, Any], threshold: int) -> dict[Any, Any]:
    """:func:`suppress_small` over the values of a flat mapping of counts (nested mappings recursed)."""
    return {
        k: suppress_mapping(v, threshold) if isinstance(v, Mapping) else suppress_small(v, threshold)
        for k, v in counts.items()
    }


def suppress_frame(df: pd.DataFrame, threshold: int, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with small counts suppressed in ``columns`` (default: every integer column).

    Suppressed columns become object dtype (they mix ints and ``"*"``).
    """
    out = df.copy()
    if threshold <= 1:
        return out
    cols = columns if columns is not None else [
        c for c in out.columns if pd.api.types.is_integer_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])
    ]
    for c in cols:
        values = out[c]
        small = (values > 0) & (values < threshold)
        out[c] = values.astype(object).where(~small.fillna(False).to_numpy(dtype=bool), SUPPRESSED)
    return out


# --------------------------------------------------------------------------------------------------
# CSV formula neutralisation (OWASP CSV injection)
# --------------------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(series: pd.Series) -> pd.Series:
    """Prefix ``'`` to text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return.

    A spreadsheet then shows the cell as text instead of evaluating it as a formula (OWASP CSV
    injection guidance). Non-text cells (numbers, nulls) are left untouched; returns a new Series.
    """
    if not _has_text(series):
        return series.copy()
    try:
        first = series.str.slice(0, 1)
    except AttributeError:  # an object column holding no strings at all
        return series.copy()
    risky = first.isin(FORMULA_STARTS).to_numpy(dtype=bool)
    if not risky.any():
        return series.copy()
    out = series.copy()
    out[risky] = "'" + series[risky].astype(str)
    return out


def _has_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def safe_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` safe to write as CSV: every object/string column (and the header) neutralised."""
    out = df.copy()
    for c in out.columns:
        if _has_text(out[c]):
            out[c] = neutralise_formula(out[c])
    out.columns = [("'" + c) if isinstance(c, str) and c.startswith(FORMULA_STARTS) else c for c in out.columns]
    return out


__all__ = [
    "FORMULA_STARTS",
    "MASKERS",
    "SUPPRESSED",
    "mask_dob",
    "mask_email",
    "mask_frame",
    "mask_id",
    "mask_name",
    "mask_nino",
    "mask_phone",
    "mask_postcode",
    "mask_series",
    "mask_value",
    "neutralise_formula",
    "safe_csv_frame",
    "suppress_frame",
    "suppress_mapping",
    "suppress_small",
]
