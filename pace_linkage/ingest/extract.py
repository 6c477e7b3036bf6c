"""Extract: read one partner file exactly as its config says, every cell as text.

:func:`read_source` reads a source's one file with the reader of its format: csv here, JSON lines in
:mod:`pace_linkage.ingest.jsonl`, xlsx in :mod:`pace_linkage.ingest.sheet`; text files are decoded by
:mod:`pace_linkage.ingest.decode` and every reader shares the limits and checks of
:mod:`pace_linkage.ingest.rows`.

Rules (each one a known pitfall of reading partner files with pandas defaults):
- Every cell stays text: no type inference, so ``"007"`` keeps its zeros and the surname ``NULL`` or ``NA``
  is not turned into a missing value.
- The file is decoded strictly in its declared encoding (:mod:`pace_linkage.ingest.decode`): a byte that
  does not decode is one value-free error line, or with ``on_bad_encoding: quarantine`` its line quarantined
  as ``bad_encoding``. A byte-order mark never reaches a column name or the first cell of a row.
- Ragged rows (more or fewer fields than the header) are quarantined, never padded or truncated.
- Quoted newlines are kept inside their field; a record's ``line`` is the physical line it starts on.
- Quoting is strict: a stray quote after a quoted field, or a quoted field still open at the end of the
  file, quarantines the row as ``malformed_csv`` with its physical lines kept (never a silent repair that
  merges the following rows into one field).
- NUL bytes, lone surrogates (text that is not valid Unicode, e.g. from a UTF-7 file) and cells longer than
  :data:`~pace_linkage.ingest.rows.MAX_CELL_CHARS` quarantine their row (``nul_byte``, ``bad_encoding``,
  ``field_too_long``); a header wider than :data:`~pace_linkage.ingest.rows.MAX_COLUMNS` refuses the file.
- A row repeating the header line exactly (files concatenated, each with its header) is quarantined as
  ``header_row``: it is not a record.
- Blank lines are not records: they are skipped and counted. A file with nothing but a BOM or blank lines
  is an empty file (:class:`InputError`), unless the source sets ``allow_empty``: then it is zero records.
  A file with a header and no record is zero records and says so in its notes.
- Error messages name file, line, column and byte, never a value: header names are quoted only when none
  of them looks like a field value (a file without a header row would otherwise quote its first record).

The result is an :class:`Extract` whose ``rows_in == len(frame) + len(quarantine)``.
"""

from __future__ import annotations

import csv
import glob
import io
from collections.abc import Callable
from itertools import compress, repeat
from pathlib import Path

import numpy as np

from pace_linkage.config import SourceConfig
from pace_linkage.config.fields import file_pattern_problem
from pace_linkage.errors import InputError
from pace_linkage.ingest.decode import may_hold_surrogates, read_text
from pace_linkage.ingest.jsonl import read_jsonl
from pace_linkage.ingest.rows import (
    BOM,
    MAX_CELL_CHARS,
    Extract,
    RowSet,
    check_header,
    empty_extract,
    has_surrogate,
    header_names,
    looks_like_value,
    safe_raw,
    text_extract,
)

__all__ = ["MAX_CELL_CHARS", "Extract", "header_names", "looks_like_value", "read_source", "resolve_file"]

csv.field_size_limit(64 * 1024 * 1024)  # oversized cells are quarantined by us, not crashed on by csv


def resolve_file(src: SourceConfig, extracts_dir: Path) -> Path:
    """The one file a source's ``file`` pattern names inside ``extracts_dir``.

    The file is confined to the extracts folder: the pattern is relative with no ``..`` part, and the file it
    names, once every symbolic link is followed, lies inside the folder (itself resolved). A delivery unpacked
    from an archive may carry a link pointing anywhere: a link to a file inside the folder is read, a link out
    of it is refused. Messages name the path as configured, never where a link points."""
    root = Path(extracts_dir)
    shown = root / src.file
    problem = file_pattern_problem(src.file)
    if problem:
        raise InputError(f"{shown}: source '{src.name}': file {problem}")
    if not root.is_dir():
        raise InputError(f"{root}: source '{src.name}': extracts folder not found")
    matches = sorted(glob.glob(src.file, root_dir=root))
    if not matches:
        raise InputError(f"{shown}: source '{src.name}': no such file")
    if len(matches) > 1:
        names = ", ".join(Path(m).name for m in matches[:5])
        raise InputError(f"{shown}: source '{src.name}': pattern matches {len(matches)} files ({names})")
    path = root / matches[0]
    try:
        real, inside = path.resolve(strict=True), root.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{path}: source '{src.name}': cannot be opened (a broken or looping symbolic link?)") from None
    if not real.is_relative_to(inside):
        raise InputError(f"{path}: source '{src.name}': a symbolic link out of the extracts folder is refused "
                         "(a partner's file must lie inside the folder)")
    if not real.is_file():
        raise InputError(f"{path}: source '{src.name}': not a file")
    return path


def read_source(src: SourceConfig, extracts_dir: Path) -> Extract:
    """The source's one file read by the reader of its format. A file name that is not valid UTF-8 is refused:
    it would reach quarantine.csv, metrics.json and the report, none of which can hold it."""
    path = resolve_file(src, extracts_dir)
    if has_surrogate(path.name):
        raise InputError(f"{safe_raw(str(path))}: source '{src.name}': the file name is not valid UTF-8; "
                         "rename the file")
    if src.format == "csv":
        return _read_csv(src, path)
    if src.format == "xlsx":
        from pace_linkage.ingest.sheet import read_xlsx  # local: only xlsx sources need openpyxl

        return read_xlsx(src, path)
    return read_jsonl(src, path)


# ------------------------------------------------------------------------------------------------- csv
def _read_csv(src: SourceConfig, path: Path) -> Extract:
    """A delimited file: strictly decoded, header checked, then every record kept, quarantined or skipped as
    blank (:func:`_csv_records`)."""
    text, bad_lines = read_text(src, path)
    if not text or text.isspace():  # nothing but blanks (without copying the text, as strip() would)
        if src.allow_empty:
            return empty_extract(src, path.name)
        raise InputError(f"{path}: file is empty (expected a header line; set allow_empty if the partner sends "
                         "an empty file for a month with no records)")
    # strict: a quote in the wrong place or a quoted field left open at the end of the file is an error
    # (quarantined as malformed_csv with its physical lines), never a silent repair that swallows rows
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=src.delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error:
        raise InputError(f"{path}: line 1: header cannot be parsed as {src.delimiter!r}-delimited CSV") from None
    as_read = [h.lstrip(BOM) for h in header]
    header = check_header(header, path)
    rows = _quote_free_records(text, as_read, bad_lines, src)
    if rows is None:
        rows = _csv_records(reader, text, as_read, set(bad_lines), src)
    return text_extract(src.name, path.name, header, rows)


def _csv_records(reader, text: str, header: list[str], bad: set[int], src: SourceConfig) -> RowSet:
    """Sort the records after the header (as read: ``header``) into kept, quarantined and blank.

    A row is quarantined, with every reason that applies (:func:`_csv_faults`), if it spans a line in ``bad``
    (not decodable), has more or fewer fields than the header, holds a lone surrogate, a NUL byte or a cell
    longer than :data:`MAX_CELL_CHARS`, or repeats the header line; its raw text is the row written back with
    the source's delimiter. A row the csv reader cannot parse is quarantined as ``malformed_csv`` with the physical
    lines it spans, and reading carries on from the next row. A blank line (an empty row, or one empty field)
    is skipped and counted.
    """
    rows = RowSet()
    width = len(header)
    kept, lines, quarantined = rows.kept, rows.lines, rows.quarantined
    raw_of = _csv_line_writer(src.delimiter)
    lines_of = _physical_lines(text)
    prev_end = reader.line_num
    # Whole-file facts decide which per-row checks can be skipped (same result, less work per row):
    # no NUL or lone surrogate anywhere means no row holds one; no bad line means no row spans one.
    suspect = "\x00" in text or (may_hold_surrogates(src.encoding) and has_surrogate(text))
    while True:
        try:
            for row in reader:
                start, prev_end = prev_end + 1, reader.line_num
                n = len(row)
                if (n == width and not bad and not suspect and max(map(len, row)) <= MAX_CELL_CHARS
                        and (n > 1 or row[0].strip()) and row != header):
                    kept.append(row)  # the common case: one check per row, all C-level
                    lines.append(start)
                    continue
                if not row or (n == 1 and not row[0].strip()):
                    rows.blank += 1
                    continue
                reasons = _csv_faults(row, header, suspect, bad, start, prev_end)
                if reasons:
                    quarantined.append((start, ";".join(reasons), raw_of(row)))
                else:
                    kept.append(row)
                    lines.append(start)
            break
        except csv.Error:
            # the reader stays usable after an error: record the row and carry on from the next one
            start = prev_end + 1
            end = max(reader.line_num, start)
            quarantined.append((start, "malformed_csv", lines_of(start, end)))
            prev_end = end
    return rows


def _quote_free_records(text: str, header: list[str], bad: list[int], src: SourceConfig) -> RowSet | None:
    """:func:`_csv_records` without the csv module, for a file with no quote character (or None when it cannot
    be: a quote, an undecodable line, a NUL byte or lone surrogate anywhere, or a line longer than the csv
    module's field limit). Without quotes a record is one physical line (ending in ``\\r\\n``, ``\\r`` or
    ``\\n``, as the csv reader splits them) and its fields are the line split on the delimiter, so the rows,
    their lines and every quarantine reason are the csv reader's. The rows kept come back as one array of
    cells (records x header), judged line by line only where a row is not plainly a record."""
    delimiter = src.delimiter
    if ('"' in text or bad or delimiter in '"\r\n' or "\x00" in text
            or (may_hold_surrogates(src.encoding) and has_surrogate(text))):
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the last line's ending, not a line of its own
    lines = lines[1:]  # line 1 is the header
    size = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    if len(lines) and size.max() > csv.field_size_limit():
        return None
    width = len(header)
    plain = np.fromiter(map(str.count, lines, repeat(delimiter)), dtype=np.int64, count=len(lines)) == width - 1
    plain &= size <= MAX_CELL_CHARS  # no cell can be longer than its line
    if width == 1:
        plain &= np.fromiter(map(bool, map(str.strip, lines)), dtype=bool, count=len(lines))
    plain &= np.asarray(lines, dtype=object) != delimiter.join(header)
    rows = RowSet()
    raw_of = _csv_line_writer(delimiter)
    for i in np.flatnonzero(~plain).tolist():  # blank, ragged, too long or a repeated header
        row = lines[i].split(delimiter) if lines[i] else []
        if not row or (len(row) == 1 and not row[0].strip()):
            rows.blank += 1
            continue
        rows.quarantined.append((i + 2, ";".join(_csv_faults(row, header, False, set(), i + 2, i + 2)), raw_of(row)))
    kept = lines if plain.all() else list(compress(lines, plain))
    if kept:
        cells = delimiter.join(kept).split(delimiter)
        rows.kept = np.array(cells, dtype=object).reshape(len(kept), width)
        rows.lines = (np.flatnonzero(plain) + 2).tolist()
    return rows


def _csv_faults(row: list[str], header: list[str], suspect: bool, bad: set[int], start: int, end: int
                ) -> list[str]:
    """Why a non-blank row on lines ``start``..``end`` is quarantined (empty: it is kept): ``bad_encoding``
    (a line that did not decode, or a lone surrogate), ``too_many_fields`` or ``too_few_fields``,
    ``header_row``, ``nul_byte``, ``field_too_long``, in that order."""
    reasons = []
    if (bad and any(ln in bad for ln in range(start, end + 1))) or (suspect and any(map(has_surrogate, row))):
        reasons.append("bad_encoding")
    if len(row) > len(header):
        reasons.append("too_many_fields")
    elif len(row) < len(header):
        reasons.append("too_few_fields")
    elif row == header:
        reasons.append("header_row")
    if suspect and any("\x00" in c for c in row):
        reasons.append("nul_byte")
    if max(map(len, row)) > MAX_CELL_CHARS:
        reasons.append("field_too_long")
    return reasons


def _csv_line_writer(delimiter: str) -> Callable[[list[str]], str]:
    """A function writing one row as a line of ``delimiter``-separated CSV, without a line ending."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="")

    def raw_of(row: list[str]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        return out.getvalue()

    return raw_of


def _physical_lines(text: str) -> Callable[[int, int], str]:
    """A function giving lines ``first``..``last`` (1-based) of ``text`` as the csv reader counts them,
    without the final line ending. ``text`` is split into lines on first use only (a malformed row)."""
    physical: list[str] = []

    def lines_of(first: int, last: int) -> str:
        if not physical:
            physical.extend(io.StringIO(text, newline="").readlines())
        return "".join(physical[first - 1:last]).rstrip("\r\n")

    return lines_of
