"""Whole-column string kernels (pyarrow's RE2 regular expressions) for the normalisers' fast paths.

A normaliser's fast path takes the distinct text values of a column, picks those in a shape whose
result it can compute with these kernels (a UK mobile number as ``07700 900123``, a postcode as
``EH1 2AB``), and computes their results for all of them at once; every other value goes to the
module's per-value rule. A fast path only ever narrows: on values outside its shapes it says nothing,
so it cannot disagree with the rule (each has a property test comparing the two on generated text).
Patterns here are ASCII only, so RE2 and Python's ``re`` read them alike.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(values: np.ndarray) -> pa.Array | None:
    """``values`` (an object array of ``str``) as an arrow string array; None when one cannot be
    encoded (a lone surrogate), so the caller leaves the column to the per-value rule."""
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError):
        return None


def fullmatch(arr: pa.Array, pattern: str) -> np.ndarray:
    """Boolean per value: the whole value matches ``pattern``."""
    return np.asarray(pc.match_substring_regex(arr, f"^(?:{pattern})$").fill_null(False), dtype=bool)


def groups(arr: pa.Array, pattern: str) -> dict[str, np.ndarray]:
    """The named groups of ``pattern`` matched against the whole value, as object arrays (None where the
    value does not match or a group took no part)."""
    struct = pc.extract_regex(arr, f"^(?:{pattern})$")
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    valid = np.asarray(struct.is_valid(), dtype=bool)
    out = {}
    for name in names:
        col = np.asarray(pc.struct_field(struct, name).to_numpy(zero_copy_only=False), dtype=object)
        col[~valid] = None
        out[name] = col
    return out


def strip_spaces_upper(arr: pa.Array) -> pa.Array:
    """ASCII spaces dropped, ASCII letters upper-cased."""
    return pc.ascii_upper(pc.replace_substring(arr, " ", ""))


def alnum_upper(arr: pa.Array) -> pa.Array:
    """ASCII letters and digits only, upper-cased: ``compact_key`` of ASCII text."""
    return pc.ascii_upper(pc.replace_substring_regex(arr, "[^A-Za-z0-9]+", ""))


def is_in(values: np.ndarray, members: Iterable[str]) -> np.ndarray:
    """Boolean per value of an object array: one of ``members``."""
    return pd.Series(values, dtype=object).isin(list(members)).to_numpy(dtype=bool)


def alike_from(texts: np.ndarray, width: int, start: int) -> np.ndarray:
    """Boolean per ASCII text of more than ``start`` and at most ``width`` characters: every character from
    position ``start`` on is the same one (``alike_from("7000000000", 10, 1)``)."""
    chars = np.asarray(texts.astype(f"S{width}")).view(np.uint8).reshape(len(texts), width)
    rest = chars[:, start + 1:]
    return ((rest == chars[:, start:start + 1]) | (rest == 0)).all(axis=1)
