"""Extract: read one partner file exactly as its config says, every cell as text.

Rules (each one a known pitfall of reading partner files with pandas defaults):
- Every cell stays text: no type inference, so ``"007"`` keeps its zeros and the surname ``NULL`` or ``NA``
  is not turned into a missing value.
- The file is decoded strictly in its declared encoding. A UTF-8 byte-order mark is removed whatever the
  declared encoding (so it never reaches a column name). A byte that does not decode is an
  :class:`InputError` naming the file, the encoding and the byte offset, or, with
  ``on_bad_encoding: quarantine``, quarantines only the lines that do not decode. A file in a single-byte
  encoding that shows the marks of another one (UTF-8 mojibake such as ``Ã©``/``â€™``, or C1 control bytes
  from cp1252 read as latin-1) is refused the same way, or those lines quarantined, rather than silently
  garbled (see :func:`_misread_pattern`).
- Ragged rows (more or fewer fields than the header) are quarantined, never padded or truncated.
- Quoted newlines are kept inside their field; a record's ``line`` is the physical line it starts on.
- Quoting is strict: a stray quote after a quoted field, or a quoted field still open at the end of the
  file, quarantines the row as ``malformed_csv`` with its physical lines kept (never a silent repair that
  merges the following rows into one field).
- NUL bytes and cells longer than :data:`MAX_CELL_CHARS` quarantine their row.
- Blank lines are not records: they are skipped and counted. A file with nothing but a BOM or blank lines
  is an empty file (:class:`InputError`).
- Error messages name file, line, column and byte, never a value: header names are quoted only when none
  of them looks like a field value (a file without a header row would otherwise quote its first record).

The result is an :class:`Extract` whose ``rows_in == len(frame) + len(quarantine)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import glob
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.schema import LINE

MAX_CELL_CHARS = 10_000  # a cell longer than this is not a plausible field value
_BOM = "\ufeff"

csv.field_size_limit(64 * 1024 * 1024)  # oversized cells are quarantined by us, not crashed on by csv


@dataclass
class Extract:
    """What was read from one source file. ``quarantine`` has columns line, reasons, raw (the original
    row re-serialised in the file's own delimiter, for the partner to correct)."""

    source: str
    file: str
    header: list[str]
    frame: pd.DataFrame  # LINE + one text column per header name
    quarantine: pd.DataFrame
    rows_in: int
    blank_lines: int = 0
    notes: list[str] = field(default_factory=list)
    # the columns a quarantined row is re-serialised with (None: every column). Set by a sharing agreement
    # with allowed_fields, so a partner's unshared columns never reach the quarantine files either.
    raw_header: list[str] | None = None


def resolve_file(src: SourceConfig, extracts_dir: Path) -> Path:
    """The one file a source's ``file`` pattern names inside ``extracts_dir``."""
    matches = sorted(glob.glob(str(Path(extracts_dir) / src.file)))
    if not matches:
        raise InputError(f"{Path(extracts_dir) / src.file}: source '{src.name}': no such file")
    if len(matches) > 1:
        names = ", ".join(Path(m).name for m in matches[:5])
        raise InputError(f"{Path(extracts_dir) / src.file}: source '{src.name}': pattern matches {len(matches)} files ({names})")
    return Path(matches[0])


def read_source(src: SourceConfig, extracts_dir: Path) -> Extract:
    path = resolve_file(src, extracts_dir)
    if src.format == "csv":
        return _read_csv(src, path)
    if src.format == "xlsx":
        return _read_xlsx(src, path)
    return _read_jsonl(src, path)


def _quarantine_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[LINE, "reasons", "raw"]).astype({LINE: "int64"})


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


def _check_header(header: list[str], path: Path) -> list[str]:
    header = [h.replace(_BOM, "").strip() for h in header]
    if not any(header):
        raise InputError(f"{path}: line 1: header row is empty")
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if not h:
            raise InputError(f"{path}: line 1, column {i}: header name is empty")
        if h in seen:
            if looks_like_value(h):
                raise InputError(f"{path}: line 1, column {i}: header name repeats column {seen[h]} "
                                 "(the name looks like data, not shown: is the header row missing?)")
            raise InputError(f"{path}: line 1, column {i}: header name '{h}' appears twice")
        seen[h] = i
    return header


# ------------------------------------------------------------------------------------------------- csv
def _single_byte(enc: str) -> bool:
    """Whether ``enc`` maps every byte to at most one character on its own (latin-1, cp1252, iso-8859-*)."""
    try:
        return len(bytes(range(256)).decode(enc, errors="replace")) == 256 and b"az09,".decode(enc) == "az09,"
    except (LookupError, UnicodeError, ValueError):
        return False


@functools.cache
def _misread_pattern(enc: str) -> re.Pattern | None:
    """Characters that betray a file decoded in the wrong single-byte encoding ``enc``, or None.

    Two signs, both almost never seen in real text of that encoding:

    * a C1 control character (U+0080-U+009F): a latin-1 reading of cp1252 punctuation (``’`` is 0x92) or
      of UTF-8 continuation bytes;
    * the ``enc`` reading of a UTF-8 multi-byte sequence (mojibake): a lead byte (0xC2-0xF4) followed by
      its continuation bytes (0x80-0xBF), e.g. ``Ã©`` for ``é``, ``Å›`` for ``ś``, ``â€™`` for ``’``.
      After a lead other than ``Â``/``Ã``, the first continuation must be a symbol (``€ ’ › ¼`` ...), not
      a letter or a no-break space: ``ÍŠ`` and ``É`` + no-break space are plausible upper-case text in
      cp1252, ``Ã©`` and ``Ã`` + no-break space (``à``) are not.

    Multi-byte encodings (UTF-8, UTF-16, Shift-JIS ...) get no pattern: they fail to decode instead.
    """
    if not _single_byte(enc):
        return None

    def chars(lo: int, hi: int) -> str:
        out = []
        for b in range(lo, hi + 1):
            try:
                c = bytes([b]).decode(enc)
            except UnicodeDecodeError:
                continue
            if len(c) == 1:
                out.append(c)
        return "".join(out)

    def cls(cs: str) -> str:
        return f"[{re.escape(cs)}]" if cs else "(?!)"  # (?!) never matches

    cont = chars(0x80, 0xBF)
    symbols = "".join(c for c in cont if not c.isalpha() and c != "\u00a0")
    alts = [
        "[\u0080-\u009f]",
        cls(chars(0xC2, 0xC3)) + cls(cont),
        cls(chars(0xC4, 0xDF)) + cls(symbols),
        cls(chars(0xE0, 0xEF)) + cls(symbols) + cls(cont),
        cls(chars(0xF0, 0xF4)) + cls(symbols) + cls(cont) + "{2}",
    ]
    first = "[\u0080-\u009f" + re.escape(chars(0xC2, 0xF4)) + "]"  # a cheap look-ahead: twice as fast
    return re.compile(f"(?={first})(?:{'|'.join(alts)})")


def _decode(src: SourceConfig, path: Path, data: bytes) -> tuple[str, list[int]]:
    """Decode strictly; returns text and the 1-based lines that could not be decoded (quarantine mode).

    A file in a single-byte encoding is also checked for signs that it is really in another one (see
    :func:`_misread_pattern`): a one-line :class:`InputError` naming file, line, byte and encoding, or,
    with ``on_bad_encoding: quarantine``, those lines quarantined as ``bad_encoding``.
    """
    enc = src.encoding.lower().replace("_", "-")
    skip = 0  # bytes removed from the start (BOM), so offsets are in the file as it is on disk
    if data.startswith(b"\xef\xbb\xbf"):
        data, skip = data[3:], 3
        if enc in ("utf-8", "utf8"):
            enc = "utf-8"
        elif enc not in ("utf-8-sig",):
            raise InputError(f"{path}: byte 0: file starts with a UTF-8 byte-order mark but is declared {src.encoding}")
    quarantine = src.on_bad_encoding == "quarantine"
    bad: list[int] = []
    try:
        text = data.decode(enc)
    except LookupError:
        raise InputError(f"{path}: encoding '{src.encoding}' is not a known codec (source '{src.name}')") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if not quarantine:
            raise InputError(
                f"{path}: line {line}, byte {exc.start + skip}: not valid {src.encoding} (declare the file's real encoding)"
            ) from None
        parts = []
        for i, raw in enumerate(data.split(b"\n"), start=1):
            try:
                parts.append(raw.decode(enc))
            except UnicodeDecodeError:
                bad.append(i)
                parts.append(raw.decode(enc, errors="replace"))
        text = "\n".join(parts)
    pattern = _misread_pattern(enc)
    if pattern is not None and not text.isascii():
        line, pos = 1, 0
        for m in pattern.finditer(text):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            if not quarantine:
                where = f"{path}: line {line}, byte {m.start() + skip}"
                if len(m.group()) == 1:
                    raise InputError(f"{where}: a control byte, not text, in {src.encoding}; "
                                     "declare the file's real encoding (cp1252 or utf-8?)")
                raise InputError(f"{where}: UTF-8 text read as {src.encoding} (mojibake); declare encoding utf-8")
            bad.append(line)
    return text, sorted(set(bad))


def _read_text(src: SourceConfig, path: Path) -> tuple[str, list[int]]:
    """The file's text, decoded as :func:`_decode` says, and the 1-based lines that could not be decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    return _decode(src, path, data)


@dataclass
class _Rows:
    """The records of a file, sorted: the rows kept (each with the line it starts on), the rows quarantined
    as (line, reasons, raw), and the number of blank lines skipped."""

    kept: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)
    blank: int = 0


def _text_extract(src: SourceConfig, path: Path, header: list[str], rows: _Rows) -> Extract:
    """The :class:`Extract` of rows of text cells in header order (a csv file or a workbook sheet)."""
    frame = (pd.DataFrame(rows.kept, columns=header, dtype=object) if rows.kept
             else pd.DataFrame(columns=header, dtype=object))
    frame.insert(0, LINE, pd.Series(rows.lines, dtype="int64"))
    q = _quarantine_frame(rows.quarantined)
    return Extract(src.name, path.name, header, frame, q, len(frame) + len(q), rows.blank)


def _read_csv(src: SourceConfig, path: Path) -> Extract:
    """A delimited file: strictly decoded, header checked, then every record kept, quarantined or skipped as
    blank (:func:`_csv_records`)."""
    text, bad_lines = _read_text(src, path)
    if not text.strip():
        raise InputError(f"{path}: file is empty (expected a header line)")
    # strict: a quote in the wrong place or a quoted field left open at the end of the file is an error
    # (quarantined as malformed_csv with its physical lines), never a silent repair that swallows rows
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=src.delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error:
        raise InputError(f"{path}: line 1: header cannot be parsed as {src.delimiter!r}-delimited CSV") from None
    header = _check_header(header, path)
    rows = _csv_records(reader, text, len(header), set(bad_lines), src.delimiter)
    return _text_extract(src, path, header, rows)


def _csv_records(reader, text: str, width: int, bad: set[int], delimiter: str) -> _Rows:
    """Sort the records after the header (``width`` fields each) into kept, quarantined and blank.

    A row is quarantined, with every reason that applies (:func:`_csv_faults`), if it spans a line in ``bad``
    (not decodable), has more or fewer fields than the header, holds a NUL byte or a cell longer than
    :data:`MAX_CELL_CHARS`; its raw text is the row written back with ``delimiter``. A row the csv reader
    cannot parse is quarantined as ``malformed_csv`` with the physical lines it spans, and reading carries
    on from the next row. A blank line (an empty row, or one empty field) is skipped and counted.
    """
    rows = _Rows()
    kept, lines, quarantined = rows.kept, rows.lines, rows.quarantined
    raw_of = _csv_line_writer(delimiter)
    lines_of = _physical_lines(text)
    prev_end = reader.line_num
    # Whole-file facts decide which per-row checks can be skipped (same result, less work per row):
    # no NUL anywhere means no row holds one; no bad line means no row spans one.
    has_nul = "\x00" in text
    while True:
        try:
            for row in reader:
                start, prev_end = prev_end + 1, reader.line_num
                n = len(row)
                if (n == width and not bad and not has_nul and max(map(len, row)) <= MAX_CELL_CHARS
                        and (n > 1 or row[0].strip())):
                    kept.append(row)  # the common case: one check per row, all C-level
                    lines.append(start)
                    continue
                if not row or (n == 1 and not row[0].strip()):
                    rows.blank += 1
                    continue
                reasons = _csv_faults(row, width, has_nul, bad, start, prev_end)
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


def _csv_faults(row: list[str], width: int, has_nul: bool, bad: set[int], start: int, end: int) -> list[str]:
    """Why a non-blank row on lines ``start``..``end`` is quarantined (empty: it is kept): ``bad_encoding``,
    ``too_many_fields`` or ``too_few_fields``, ``nul_byte``, ``field_too_long``, in that order."""
    reasons = []
    if bad and any(ln in bad for ln in range(start, end + 1)):
        reasons.append("bad_encoding")
    if len(row) > width:
        reasons.append("too_many_fields")
    elif len(row) < width:
        reasons.append("too_few_fields")
    if has_nul and any("\x00" in c for c in row):
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


# ------------------------------------------------------------------------------------------------ xlsx
def _cell_text(v: object) -> str:
    """Excel cell -> text. Dates become ISO; whole numbers lose the spurious '.0'."""
    if v is None:
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


def _load_workbook(path: Path):
    """:func:`pace_linkage.ingest.workbook.load_workbook`, imported on first use (only xlsx sources need
    openpyxl)."""
    from pace_linkage.ingest.workbook import load_workbook

    return load_workbook(path)


def _read_xlsx(src: SourceConfig, path: Path) -> Extract:
    from openpyxl.utils.exceptions import InvalidFileException  # local: only xlsx sources need openpyxl

    try:
        wb = _load_workbook(path)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
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
    rows = ws.iter_rows(values_only=True)
    try:
        header_cells = next(rows)
    except StopIteration:
        wb.close()
        raise InputError(f"{path}: workbook sheet is empty (expected a header row)") from None
    header_list = [_cell_text(c) for c in header_cells]
    while header_list and not header_list[-1].strip():
        header_list.pop()
    header = _check_header(header_list, path)
    width = len(header)
    out = _Rows()
    for n, cells in enumerate(rows, start=2):
        texts = [_cell_text(c) for c in cells]
        if not any(t.strip() for t in texts):
            out.blank += 1
            continue
        extra = texts[width:]
        reasons = []
        if any(t.strip() for t in extra):
            reasons.append("too_many_fields")
        row = texts[:width] + [""] * max(0, width - len(texts))
        if any("\x00" in c for c in row):
            reasons.append("nul_byte")
        if any(len(c) > MAX_CELL_CHARS for c in row):
            reasons.append("field_too_long")
        if reasons:
            out.quarantined.append((n, ";".join(reasons), json.dumps(texts, ensure_ascii=False)))
        else:
            out.kept.append(row)
            out.lines.append(n)
    wb.close()
    return _text_extract(src, path, header, out)


# ----------------------------------------------------------------------------------------------- jsonl
def _json_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _read_jsonl(src: SourceConfig, path: Path) -> Extract:
    text, bad_lines = _read_text(src, path)
    if not text.strip() and not src.allow_empty:
        raise InputError(f"{path}: file is empty (expected JSON lines; set allow_empty if the partner sends "
                         f"an empty file for a month with no records)")
    if not text.strip():  # JSON lines has no header: with allow_empty, an empty file is zero records
        header = list(dict.fromkeys([src.record_id, *src.columns.values(),
                                     *([src.sharing.consent_column] if src.sharing and src.sharing.consent_column else [])]))
        frame = pd.DataFrame(columns=header, dtype=object)
        frame.insert(0, LINE, pd.Series([], dtype="int64"))
        return Extract(src.name, path.name, header, frame, _quarantine_frame([]), 0, 0, ["empty delivery: 0 records"])
    bad = set(bad_lines)
    records: list[dict] = []
    lines: list[int] = []
    quarantined: list[tuple[int, str, str]] = []
    blank = 0
    keys: dict[str, None] = {}
    physical = text.split("\n")
    if physical[-1] == "":
        physical.pop()  # the newline ending the last line does not start a blank line
    for n, line in enumerate(physical, start=1):
        if not line.strip():
            blank += 1
            continue
        if n in bad:
            quarantined.append((n, "bad_encoding", line))
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            quarantined.append((n, "malformed_json", line))
            continue
        if not isinstance(obj, dict):
            quarantined.append((n, "malformed_json", line))
            continue
        row = {str(k): _json_text(v) for k, v in obj.items()}
        reasons = []
        if any("\x00" in c for c in row.values()):
            reasons.append("nul_byte")
        if any(len(c) > MAX_CELL_CHARS for c in row.values()):
            reasons.append("field_too_long")
        if reasons:
            quarantined.append((n, ";".join(reasons), line))
            continue
        for k in row:
            keys.setdefault(k, None)
        records.append(row)
        lines.append(n)
    header = list(keys)
    frame = pd.DataFrame.from_records(records, columns=header) if records else pd.DataFrame(columns=header, dtype=object)
    frame = frame.astype(object).where(frame.notna(), "")
    frame.insert(0, LINE, pd.Series(lines, dtype="int64"))
    q = _quarantine_frame(quarantined)
    return Extract(src.name, path.name, header, frame, q, len(frame) + len(q), blank)
