"""Reading one sheet of an .xlsx workbook: row 1 is the header, every later row a record, every cell as text.

Rules:

- Only the rows and cells the file holds are read (:meth:`pace_linkage.ingest.workbook.ReadOnlySheet.present_rows`);
  the sheet's declared dimension is ignored, so the time taken is linear in the sheet's XML, never in a size
  the file merely declares. A row absent from the file, or present with no value, is a blank line (counted).
- The header is row 1 up to its last non-empty cell, checked as a csv header is (no empty, repeated or
  invalid name; at most :data:`~pace_linkage.ingest.rows.MAX_COLUMNS` columns). A sheet that is not a sheet a
  spreadsheet program writes (a row number beyond Excel's :data:`MAX_SHEET_ROWS`, or rows out of order) is
  refused with one line naming the file and the row.
- A row with a value beyond the header's width is ``too_many_fields``; a row holding the same cell twice is
  ``duplicate_key``; a NUL byte, a lone surrogate or an over-long cell quarantine it as in every reader.
- A formula cell with no calculated value in the file (the partner's export never computed it) in the record
  id or a mapped column quarantines its row as ``formula_without_value``: the value the partner meant is
  unknown, and reading it as empty would be a silent loss. In any other column it reads as empty and is
  counted in a note on the source. (A formula whose calculated value is in the file reads as that value.)
- Dates become ISO text; whole numbers lose the spurious ``.0``; booleans are ``TRUE``/``FALSE``.
- A quarantined row's raw text is the JSON list of its cells up to the header's width, followed, when it has
  values beyond the header, by one object of those values by column letter (``["1", "A", {"XFD": "x"}]``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

from openpyxl.utils.cell import get_column_letter

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError, PaceError
from pace_linkage.ingest.rows import Extract, RowSet, cell_faults, check_header, check_width, text_extract
from pace_linkage.ingest.workbook import UNCALCULATED, load_workbook, quiet

MAX_SHEET_ROWS = 1_048_576  # Excel's limit: no spreadsheet program writes a row beyond it


def cell_text(v: object) -> str:
    """Excel cell -> text. Dates become ISO; whole numbers lose the spurious '.0'."""
    if type(v) is str:  # the common cell, first
        return v
    if v is None or v is UNCALCULATED:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_xlsx(src: SourceConfig, path: Path) -> Extract:
    """One sheet of a workbook as an :class:`Extract` (see the module docstring for the rules), openpyxl's
    warnings silenced (:func:`pace_linkage.ingest.workbook.quiet`)."""
    with quiet():
        return _read_sheet(src, path)


def _read_sheet(src: SourceConfig, path: Path) -> Extract:
    try:
        wb = load_workbook(path)
    except Exception as exc:  # zipfile.BadZipFile, KeyError for a missing part, XML errors and friends
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        if src.sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(src.sheet, int):
            ws = wb.worksheets[src.sheet]
        else:
            ws = wb[src.sheet]
    except (IndexError, KeyError):
        wb.close()
        raise InputError(f"{path}: sheet '{src.sheet}' not found (source '{src.name}')") from None
    try:
        return _sheet_extract(src, path, ws.present_rows())
    except PaceError:
        raise
    except Exception as exc:  # a sheet's XML or compressed data broken part-way
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__} in the sheet)") from None
    finally:
        wb.close()


def _column_name(col: int) -> str:
    """A column's letters (``XFD``), or its number past the last column a letter name exists for."""
    return get_column_letter(col) if col <= 18_278 else str(col)


def _header(path: Path, rows: Iterator[tuple[int, list[tuple[int, object]]]]) -> list[str]:
    """The checked header names of row 1."""
    first = next(rows, None)
    if first is None:
        raise InputError(f"{path}: workbook sheet is empty (expected a header row)")
    idx, cells = first
    named = {col: cell_text(v) for col, v in cells if cell_text(v).strip()}
    if idx != 1 or not named:
        raise InputError(f"{path}: line 1: header row is empty")
    width = max(named)
    check_width(width, path)
    return check_header([named.get(col, "") for col in range(1, width + 1)], path)


def _sheet_extract(src: SourceConfig, path: Path, rows: Iterator[tuple[int, list[tuple[int, object]]]]) -> Extract:
    header = _header(path, rows)
    width = len(header)
    used = {src.record_id, *src.source_columns()}
    mapped = {i for i, h in enumerate(header, start=1) if h in used}
    out, prev, uncalculated = RowSet(), 1, 0
    for idx, cells in rows:
        if idx <= prev or idx > MAX_SHEET_ROWS:
            why = f"comes after row {prev}" if idx <= prev else f"is beyond the sheet limit of {MAX_SHEET_ROWS} rows"
            raise InputError(f"{path}: sheet row {idx} {why} (not a sheet a spreadsheet program writes)")
        out.blank += idx - prev - 1  # rows absent from the file are blank
        prev = idx
        row, extra, reasons = [""] * width, {}, []
        seen: set[int] = set()
        for col, v in cells:
            if col in seen and "duplicate_key" not in reasons:
                reasons.append("duplicate_key")
            seen.add(col)
            if v is UNCALCULATED:
                if col in mapped and "formula_without_value" not in reasons:
                    reasons.append("formula_without_value")
                elif col not in mapped:
                    uncalculated += 1
                continue
            text = cell_text(v)
            if col <= width:
                row[col - 1] = text
            elif text.strip():
                extra[col] = text
        if not reasons and not extra and not any(t.strip() for t in row):
            out.blank += 1
            continue
        reasons = (["too_many_fields"] if extra else []) + cell_faults(row + list(extra.values())) + reasons
        if reasons:
            raw = row + ([{_column_name(c): t for c, t in sorted(extra.items())}] if extra else [])
            out.quarantined.append((idx, ";".join(reasons), json.dumps(raw, ensure_ascii=False)))
        else:
            out.kept.append(row)
            out.lines.append(idx)
    if uncalculated:
        out.notes.append(f"{uncalculated} formula cell(s) without a calculated value in unmapped columns read "
                         "as empty")
    return text_extract(src.name, path.name, header, out)
