"""CSV text of a frame of text columns, joined whole: the bytes pandas writes, at a fraction of its cost.

``pandas.DataFrame.to_csv`` hands every row to Python's ``csv`` writer, after formula neutralising has sliced
every value; at a million records that is most of the time spent writing ``clusters.csv``.
:func:`text_csv_bytes` gives the same bytes for the frames the pipeline writes most (every column text or
missing): a column none of whose values starts a formula (:func:`pace_linkage.redact.neutralise_formula`) or
needs quoting, found by substring searches over the column joined into one text, is written as it is; only
another column is read value by value; the rows are joined by ``str.join``. The quoting rule is the ``csv``
module's own (``QUOTE_MINIMAL``, ``"`` doubled inside a quoted field), read from the module once rather than
restated. A frame it does not cover (a number, date or bytes column, a label that is not text or repeats, no
column) gives None: the caller writes it with pandas.
"""

from __future__ import annotations

import csv
import functools
import io
import re

import numpy as np
import pandas as pd

from pace_linkage.redact import FORMULA_STARTS, neutralise_formula, safe_header

LINE_END = "\n"


@functools.cache
def quote_chars() -> str:
    """The characters that make Python's ``csv`` writer quote a field (``QUOTE_MINIMAL``, ``\\n`` line ends),
    found by asking it about each ASCII character once; beyond ASCII only the delimiter would."""
    found = []
    for code in range(128):
        buf = io.StringIO()
        csv.writer(buf, lineterminator=LINE_END).writerow([f"a{chr(code)}b", "x"])
        if buf.getvalue().startswith('"'):
            found.append(chr(code))
    return "".join(found)


@functools.cache
def _quoted_by_csv():
    return re.compile("[" + "".join(re.escape(c) for c in quote_chars()) + "]")


def _text_values(s: pd.Series) -> np.ndarray | None:
    """``s``'s values as an object array of str (a missing value as ""), or None unless every value is text or
    missing."""
    if not pd.api.types.is_object_dtype(s.dtype):
        return None
    values = s.to_numpy()
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # no value missing
        return values
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return None
    return np.where(pd.isna(values), "", values)


def _plain(values: list[str], single: bool) -> bool:
    """Whether every value is written as it is: none starts a formula or holds a character the ``csv`` module
    quotes (and, as a row's only field, none is empty). Read off the column joined into one text, by substring
    searches rather than a test per value."""
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:  # a value holds a line end
        return False
    if any(c in joined for c in quote_chars() if c != "\n"):
        return False
    if joined.startswith(FORMULA_STARTS) or any(c in joined and "\n" + c in joined for c in FORMULA_STARTS):
        return False  # (a character found nowhere starts no value: the cheap search first)
    return not (single and "" in values)


def _fields(values: np.ndarray, single: bool) -> list[str]:
    """One column's CSV fields: formula-neutralised (:func:`pace_linkage.redact.neutralise_formula`) and quoted
    where the ``csv`` module quotes (``""`` for an empty field that is the row's only one)."""
    as_list = values.tolist()
    if _plain(as_list, single):
        return as_list
    safe = neutralise_formula(pd.Series(values, dtype=object)).tolist()
    quoted = _quoted_by_csv()
    return [('"' + v.replace('"', '""') + '"') if quoted.search(v) or (single and not v) else v for v in safe]


def _header(labels: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=LINE_END).writerow([safe_header(c) for c in labels])
    return buf.getvalue()


def text_csv_bytes(df: pd.DataFrame) -> bytes | None:
    """``safe_csv_frame(df).to_csv(index=False, lineterminator="\\n")`` in UTF-8, when every column holds text
    or missing values and every label is text; None otherwise."""
    labels = list(df.columns)
    if not labels or not all(isinstance(c, str) for c in labels) or len(set(labels)) < len(labels):
        return None  # repeated labels too: pandas' path keeps its own reading of them
    columns = []
    for i in range(len(labels)):
        values = _text_values(df.iloc[:, i])
        if values is None:
            return None
        columns.append(values)
    head = _header(labels)
    if not len(df):
        return head.encode("utf-8")
    fields = [_fields(v, len(columns) == 1) for v in columns]
    rows = map(",".join, zip(*fields, strict=True)) if len(fields) > 1 else fields[0]
    return (head + LINE_END.join(rows) + LINE_END).encode("utf-8")


__all__ = ["LINE_END", "quote_chars", "text_csv_bytes"]
