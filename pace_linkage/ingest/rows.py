"""What every reader shares: the :class:`Extract` it returns, the rows it sorts into kept and quarantined, the
limits a hostile file meets, and the header checks.

Limits (each a one-line :class:`InputError` naming the file and the limit, or a row quarantined with a reason):

- :data:`MAX_CELL_CHARS`: a cell longer than this quarantines its row (``field_too_long``).
- :data:`MAX_COLUMNS`: a header (csv, xlsx) or the keys of a JSON-lines file together wider than this refuse the
  file; a single JSON record with more keys is quarantined (``too_many_fields``). Readers of sparse formats
  (JSON lines, xlsx) would otherwise build rows x columns cells from a file that names a column once.
- Text that is not valid Unicode (a lone surrogate, e.g. the JSON escape ``"\\ud800"`` or a UTF-7 file) cannot
  be written to any output; a row holding one, in any cell or key, is quarantined as ``bad_encoding`` and its
  raw text kept with the surrogate escaped (``\\ud800``); a header name holding one refuses the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.schema import LINE

MAX_CELL_CHARS = 10_000  # a cell longer than this is not a plausible field value
MAX_COLUMNS = 1_000  # a partner extract with more columns than this is not a person list
BOM = "\ufeff"

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Extract:
    """What was read from one source file. ``quarantine`` has columns line, reasons, raw (the original
    row re-serialised in the file's own delimiter, for the partner to correct). ``notes`` are value-free
    remarks on the file as a whole (an empty delivery, formula cells read as empty), reported per source."""

    source: str
    file: str
    header: list[str]
    # one text column per header name, indexed by LINE: the 1-based line (or sheet row) each record starts on.
    # The index, not a column, so that a partner's own column named "line" is a column like any other.
    frame: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    blank_lines: int = 0
    notes: list[str] = field(default_factory=list)
    # the columns a quarantined row is re-serialised with (None: every column). Set by a sharing agreement
    # with allowed_fields, so a partner's unshared columns never reach the quarantine files either.
    raw_header: list[str] | None = None


@dataclass
class RowSet:
    """The records of a file, sorted: the rows kept (each with the line it starts on), the rows quarantined
    as (line, reasons, raw), the number of blank lines skipped and notes on the file."""

    kept: list[list[str]] | np.ndarray = field(default_factory=list)  # or one object array, records x cells
    lines: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)
    blank: int = 0
    notes: list[str] = field(default_factory=list)


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (a code point U+D800-U+DFFF): not valid Unicode, no UTF-8 form."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def safe_raw(text: str) -> str:
    """``text`` with any lone surrogate written as its escape (``\\ud800``), so that it can be written out."""
    if not has_surrogate(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def quarantine_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """The quarantine of a reader (line, reasons, raw); a raw text is always writable as UTF-8."""
    return pd.DataFrame([(n, r, safe_raw(raw)) for n, r, raw in rows],
                        columns=[LINE, "reasons", "raw"]).astype({LINE: "int64"})


def empty_note(header_only: bool) -> str:
    """The note of a file that delivered no records."""
    return "no records: the file has a header and no rows" if header_only else "no records: the file is empty"


def line_index(lines: list[int]) -> pd.Index:
    """The index of an :class:`Extract`'s frame: each record's line."""
    return pd.Index(lines, dtype="int64", name=LINE)


def empty_extract(src: SourceConfig, file_name: str) -> Extract:
    """Zero records from an empty file a source allows (``allow_empty``): the configured columns as header."""
    consent = [src.sharing.consent_column] if src.sharing and src.sharing.consent_column else []
    header = list(dict.fromkeys([src.record_id, *src.source_columns(), *consent]))
    frame = pd.DataFrame(columns=header, dtype=object, index=line_index([]))
    return Extract(src.name, file_name, header, frame, quarantine_frame([]), 0, 0, [empty_note(header_only=False)])


def text_extract(src_name: str, file_name: str, header: list[str], rows: RowSet) -> Extract:
    """The :class:`Extract` of rows of text cells in header order (a csv file or a workbook sheet)."""
    kept = rows.kept if isinstance(rows.kept, np.ndarray) else rows.kept or None  # an array: records x cells
    frame = pd.DataFrame(kept, columns=header, dtype=object, index=line_index(rows.lines))
    q = quarantine_frame(rows.quarantined)
    notes = list(rows.notes)
    if not len(frame) and not len(q):
        notes.insert(0, empty_note(header_only=True))
    return Extract(src_name, file_name, header, frame, q, len(frame) + len(q), rows.blank, notes)


_VALUE_LIKE = re.compile(
    r"[A-Z]{2}\W*\d{2}\W*\d{2}\W*\d{2}\W*[A-D]?"  # a NI number
    r"|[^@\s]+@[^@\s]+"  # an email address
    r"|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"  # a postcode
    r"|\d{1,4}\s*[-/. ]\s*(?:\d{1,2}|[A-Z]{3,9})\s*[-/. ]\s*\d{2,4}.*"  # a date
    r"|[+(]?\d[\d\s().-]*",  # a number, phone number or numeric id
    re.IGNORECASE,
)


def looks_like_value(name: str) -> bool:
    """Whether a header cell looks like a field value (NINO, email, postcode, date, number) rather than a
    column name: the sign of a file without a header row, whose first record must not reach a message."""
    name = name.strip()
    return bool(_VALUE_LIKE.fullmatch(name)) or sum(ch.isdigit() for ch in name) >= 6


def header_names(header: list[str], limit: int = 12) -> str:
    """The header names for an error message, or a note instead if any of them looks like a value."""
    if any(looks_like_value(h) for h in header):
        return "line 1 looks like data, not a header row: is the header missing? (names not shown)"
    return ", ".join(header[:limit]) + (", ..." if len(header) > limit else "")


def check_width(width: int, path, what: str = "header has") -> None:
    """Refuse a file whose columns number more than :data:`MAX_COLUMNS`."""
    if width > MAX_COLUMNS:
        raise InputError(f"{path}: line 1: {what} {width} columns, over the limit of {MAX_COLUMNS}")


def check_header(header: list[str], path) -> list[str]:
    """The header names stripped (of blanks and any byte-order mark); one value-free line if a name is empty,
    repeated or not valid Unicode, or if there are more than :data:`MAX_COLUMNS`."""
    header = [h.replace(BOM, "").strip() for h in header]
    if not any(header):
        raise InputError(f"{path}: line 1: header row is empty")
    check_width(len(header), path)
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if not h:
            raise InputError(f"{path}: line 1, column {i}: header name is empty")
        if has_surrogate(h):
            raise InputError(f"{path}: line 1, column {i}: header name is not valid text (a lone surrogate)")
        if h in seen:
            # never quoted: in a file without a header row line 1 is a record, and a value it repeats (forename =
            # surname) would be shown; the columns are named by position instead
            note = (" (line 1 looks like data, not a header row: is the header missing?)"
                    if any(looks_like_value(name) for name in header) else "")
            raise InputError(f"{path}: line 1, column {i}: header name repeats column {seen[h]} (name not shown)"
                             + note)
        seen[h] = i
    return header


def cell_faults(cells: list[str]) -> list[str]:
    """Why a row with these cells is quarantined whatever its format: ``bad_encoding`` (a lone surrogate),
    ``nul_byte``, ``field_too_long``, in that order (empty: none)."""
    if max(map(len, cells), default=0) <= MAX_CELL_CHARS:
        joined = "".join(cells)
        if "\x00" not in joined and not has_surrogate(joined):
            return []
    reasons = []
    if any(has_surrogate(c) for c in cells):
        reasons.append("bad_encoding")
    if any("\x00" in c for c in cells):
        reasons.append("nul_byte")
    if any(len(c) > MAX_CELL_CHARS for c in cells):
        reasons.append("field_too_long")
    return reasons
