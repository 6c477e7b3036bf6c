"""Reading a JSON-lines file: one JSON object per line, every value as text.

Rules (each line is read on its own, so one hostile line never stops the file):

- A blank line is skipped and counted; a line that does not decode in the declared encoding is quarantined
  as ``bad_encoding`` (with ``on_bad_encoding: quarantine``; otherwise the file is refused, see
  :mod:`pace_linkage.ingest.decode`).
- A line nested deeper than :data:`MAX_JSON_DEPTH` arrays or objects is quarantined as ``too_deep`` before it
  is parsed (the depth is counted outside strings, so brackets inside a value do not count).
- A line that is not a JSON object is ``malformed_json``; an object naming a key twice, at any depth, is
  ``duplicate_key`` (JSON parsers keep the last value silently: two NI numbers in one record would become one).
- A record with more than :data:`~pace_linkage.ingest.rows.MAX_COLUMNS` keys is ``too_many_fields``; the keys
  of all records together over that limit refuse the file.
- A key or value holding a lone surrogate (``"\\ud800"``: not valid Unicode) is ``bad_encoding``; a NUL byte is
  ``nul_byte``; a value longer than :data:`~pace_linkage.ingest.rows.MAX_CELL_CHARS` is ``field_too_long``.
- Values become text: strings as they are, ``null`` as empty, numbers without a spurious ``.0``, booleans as
  ``true``/``false``, arrays and objects as compact JSON.
- An empty file is an :class:`InputError` unless the source sets ``allow_empty`` (a month with no records):
  then zero records with the configured columns, and a note that the file is empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.ingest.decode import read_text
from pace_linkage.ingest.rows import (
    MAX_COLUMNS,
    Extract,
    RowSet,
    cell_faults,
    check_width,
    empty_extract,
    line_index,
    quarantine_frame,
)

MAX_JSON_DEPTH = 32  # arrays/objects inside one another; a person record needs two or three

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN, _CLOSE = np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)


class _DuplicateKey(ValueError):
    """An object names the same key twice."""


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_object)


def json_depth(line: str) -> int:
    """How deeply arrays and objects nest in one JSON text (brackets inside strings do not count); linear in
    the length of ``line``, with no recursion."""
    bare = _STRING.sub("", line).encode("utf-8", "surrogatepass")
    if not bare:
        return 0
    b = np.frombuffer(bare, dtype=np.uint8)
    steps = np.isin(b, _OPEN).astype(np.int64) - np.isin(b, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def json_text(v: object) -> str:
    """A JSON value as cell text."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _parse(line: str) -> tuple[dict[str, str] | None, str]:
    """One line's record (keys and values as text), or None and the reason it is quarantined."""
    if line.count("[") + line.count("{") > MAX_JSON_DEPTH and json_depth(line) > MAX_JSON_DEPTH:
        return None, "too_deep"
    try:
        obj = _DECODER.decode(line)
    except _DuplicateKey:
        return None, "duplicate_key"
    except RecursionError:  # not reached below MAX_JSON_DEPTH; kept so that no line can stop the file
        return None, "too_deep"
    except ValueError:
        return None, "malformed_json"
    if not isinstance(obj, dict):
        return None, "malformed_json"
    if len(obj) > MAX_COLUMNS:
        return None, "too_many_fields"
    row = {str(k): json_text(v) for k, v in obj.items()}
    reasons = cell_faults([*row, *row.values()])
    return (None, ";".join(reasons)) if reasons else (row, "")


def _records(src: SourceConfig, path: Path, text: str, bad: set[int]) -> tuple[list[dict], RowSet, list[str]]:
    """The records of the lines of ``text`` (``bad``: lines that did not decode), the rows' accounting, and
    the keys in order of first use."""
    records: list[dict] = []
    rows = RowSet()
    keys: dict[str, None] = {}
    physical = text.split("\n")
    if physical[-1] == "":
        physical.pop()  # the newline ending the last line does not start a blank line
    for n, line in enumerate(physical, start=1):
        if not line.strip():
            rows.blank += 1
            continue
        if n in bad:
            rows.quarantined.append((n, "bad_encoding", line))
            continue
        row, reason = _parse(line)
        if row is None:
            rows.quarantined.append((n, reason, line))
            continue
        for k in row:
            if k not in keys:
                keys[k] = None
                check_width(len(keys), path, "the records name")
        records.append(row)
        rows.lines.append(n)
    return records, rows, list(keys)


def read_jsonl(src: SourceConfig, path: Path) -> Extract:
    """A JSON-lines file as an :class:`Extract` (see the module docstring for the rules)."""
    text, bad_lines = read_text(src, path)
    blank = not text or text.isspace()  # as ``not text.strip()``, without copying the text
    if blank and not src.allow_empty:
        raise InputError(f"{path}: file is empty (expected JSON lines; set allow_empty if the partner sends "
                         f"an empty file for a month with no records)")
    if blank:  # JSON lines has no header: with allow_empty, an empty file is zero records
        return empty_extract(src, path.name)
    records, rows, header = _records(src, path, text, set(bad_lines))
    frame = (pd.DataFrame.from_records(records, columns=header) if records
             else pd.DataFrame(columns=header, dtype=object))
    frame = frame.astype(object).where(frame.notna(), "").set_axis(line_index(rows.lines))
    q = quarantine_frame(rows.quarantined)
    return Extract(src.name, path.name, header, frame, q, len(frame) + len(q), rows.blank)
