"""Pre-flight: the mistakes in a run's inputs that can be known before it starts, found in a second or less.

A wrong ``--extracts`` folder, a partner's file that is not there, or a column name misspelt in a source's config
would otherwise surface only after Prefect has started and every source been read, as a puzzling error of a
later stage. :func:`folder_problem` and :func:`source_problems` find them first, reading no more of a file than
its header (one line of a csv file, the first row of a workbook, the keys of a JSON-lines file up to the record
that holds every mapped key), and return one value-free line per problem, in the words the readers use:

* the extracts folder is missing, or is not a folder;
* a source's file is missing, ambiguous, or not inside the folder (:func:`pace_linkage.ingest.extract.resolve_file`);
* a mapped column (``record_id``, ``columns.<field>``, ``sharing.consent_column``) is not in the file's header:
  one line each, naming the config file, the key, the column expected and the header names found
  (:func:`pace_linkage.ingest.extract.header_names`: none if line 1 looks like a record).

Anything else wrong with a file (its encoding, a malformed header) is left to the reader, whose message is
exact: the pre-flight only says what it is sure of, so a source it passes may still fail when read.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import header_names, looks_like_value, resolve_file

HEADER_BYTES = 1 << 20  # a header line longer than this is not checked here (the reader judges it)
_BOM = "\ufeff"


def check_inputs(cfg: PaceConfig, extracts_dir: Path, features: Sequence[Feature] = (),
                 sources: Iterable[str] | None = None) -> list[str]:
    """Every problem :func:`folder_problem` and :func:`source_problems` find for the sources of ``cfg`` (or only
    those named in ``sources``), each source seen as ``features`` let the centre read it; one line each."""
    problem = folder_problem(extracts_dir)
    if problem:
        return [problem]
    names = None if sources is None else set(sources)
    out: list[str] = []
    for src in cfg.sources.items:
        if names is not None and src.name not in names:
            continue
        view = src
        for f in features:
            view = f.source_view(view)
        out += source_problems(view, Path(extracts_dir))
    return out


def folder_problem(extracts_dir: Path) -> str | None:
    """One line if ``extracts_dir`` is missing or not a folder."""
    root = Path(extracts_dir)
    if not root.exists():
        return f"{root}: extracts folder not found (--extracts names the folder holding the partner extracts)"
    if not root.is_dir():
        return f"{root}: not a folder (--extracts names the folder holding the partner extracts)"
    return None


def mapped_columns(src: SourceConfig) -> dict[str, str]:
    """The columns a source's file must hold: config key -> column name."""
    wanted = {"record_id": src.record_id, **{f"columns.{field}": col for field, col in src.columns.items()}}
    if src.sharing and src.sharing.consent_column:
        wanted["sharing.consent_column"] = src.sharing.consent_column
    return wanted


def source_problems(src: SourceConfig, extracts_dir: Path) -> list[str]:
    """What stops ``src`` (as the centre reads it: pass the view its features give) before its file is read: its
    file cannot be found inside ``extracts_dir``, or mapped columns are missing from its header."""
    try:
        path = resolve_file(src, Path(extracts_dir))
    except InputError as exc:
        return list(exc.lines)
    wanted = mapped_columns(src)
    try:
        header = file_header(src, path, set(wanted.values()))
    except OSError as exc:
        return [f"{path}: source '{src.name}': cannot read ({exc.strerror or type(exc).__name__})"]
    if header is None:
        return []
    where = src.config_file or "config"
    have = set(header)
    return [f"{where}: {key}: column '{col}' not found in {path.name}{_closest(col, header)} "
            f"(have: {header_names(header)})" for key, col in wanted.items() if col not in have]


def _closest(column: str, header: list[str]) -> str:
    """`` -- did you mean 'X'?`` for the header name closest to a misspelt ``column`` (case and spacing aside),
    or nothing; never when line 1 looks like a record (its cells would be values)."""
    if any(looks_like_value(h) for h in header):
        return ""
    folded = {" ".join(h.casefold().replace("_", " ").split()): h for h in header}
    key = " ".join(column.casefold().replace("_", " ").split())
    if key in folded:
        return f" -- did you mean '{folded[key]}'?"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    return f" -- did you mean '{folded[close[0]]}'?" if close else ""


def file_header(src: SourceConfig, path: Path, wanted: set[str]) -> list[str] | None:
    """The column names the reader will find in ``path``, as far as they decide whether ``wanted`` are there;
    None if the header cannot be judged without reading the file as the reader does (the reader then says
    what is wrong)."""
    if src.format == "csv":
        return _csv_header(src, path)
    if src.format == "xlsx":
        return _xlsx_header(src, path)
    return _jsonl_keys(src, path, wanted)


def _csv_header(src: SourceConfig, path: Path) -> list[str] | None:
    """Line 1 of a delimited file, decoded strictly in its encoding; None if it cannot be decoded or parsed."""
    with path.open("rb") as fh:
        data = fh.read(HEADER_BYTES)
        at_end = not fh.read(1)
    if data.startswith(codecs.BOM_UTF8) and src.encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = codecs.getincrementaldecoder(src.encoding)(errors="strict").decode(data, final=at_end)
    except (UnicodeError, LookupError):
        return None
    end = text.find("\n")
    if end < 0 and not at_end:
        return None  # the header line does not end within HEADER_BYTES
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), delimiter=src.delimiter, strict=True), None)
    except csv.Error:
        return None
    return None if row is None else [h.replace(_BOM, "").strip() for h in row]


def _xlsx_header(src: SourceConfig, path: Path) -> list[str] | None:
    """Row 1 of the source's sheet, up to its last non-empty cell; None if the workbook cannot be read."""
    try:
        from pace_linkage.ingest.workbook import load_workbook

        wb = load_workbook(path)
    except Exception:  # noqa: BLE001 - not a workbook: the reader names the problem
        return None
    try:
        if src.sheet is None:
            ws = wb.worksheets[0]
        else:
            ws = wb.worksheets[src.sheet] if isinstance(src.sheet, int) else wb[src.sheet]
        first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    except Exception:  # noqa: BLE001 - a missing sheet or a broken one: the reader names the problem
        return None
    finally:
        wb.close()
    names = [_cell_name(c) for c in first]
    while names and not names[-1]:
        names.pop()
    return names


def _cell_name(v: object) -> str:
    """A header cell as the reader turns it into text (dates as ISO, whole numbers without '.0')."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        v = v.date() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).replace(_BOM, "").strip()


def _jsonl_keys(src: SourceConfig, path: Path, wanted: set[str]) -> list[str] | None:
    """The keys of the records of a JSON-lines file, read record by record until every one of ``wanted`` was
    seen (usually in the first record), else to the end; None if it holds no record (an empty delivery is
    the reader's to judge). Lines that are not JSON objects are skipped, as the reader quarantines them."""
    keys: dict[str, None] = {}
    records = 0
    with path.open("r", encoding=src.encoding, errors="replace", newline="\n") as fh:
        for line in fh:
            line = line.lstrip(_BOM)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                records += 1
                keys.update(dict.fromkeys(str(k) for k in obj))
                if wanted <= keys.keys():
                    break
    return list(keys) if records else None
