"""Pre-flight: the mistakes in a run's inputs that can be known before it starts, found in a second or less.

A wrong ``--extracts`` folder, a partner's file that is not there, or a column name misspelt in a source's config
would otherwise surface only after Prefect has started and every source been read, as a puzzling error of a
later stage. :func:`folder_problem` and :func:`source_problems` find them first, reading no more of a file than
its header (one line of a csv file, the first row of a workbook, the keys of a JSON-lines file up to the record
that holds every mapped key), and return one value-free line per problem, in the words the readers use:

* the extracts folder is missing, or is not a folder;
* a source's file is missing, ambiguous, or not inside the folder (:func:`pace_linkage.ingest.extract.resolve_file`);
* a mapped column (``record_id``, ``columns.<field>`` -- each of a field's columns when it reads several:
  ``columns.<field>[i]``, ``columns.<field>.parts.year`` --, ``sharing.consent_column``) is not in the file's header:
  one line each, naming the config file, the key, the column expected and the header names found
  (:func:`pace_linkage.ingest.extract.header_names`: none if line 1 looks like a record).

Anything else wrong with a file (its encoding, a malformed header) is left to the reader, whose message is
exact: the pre-flight only says what it is sure of, so a source it passes may still fail when read.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
from collections.abc import Sequence
from pathlib import Path

from pace_linkage.config import PaceConfig, SourceConfig, mapping_columns
from pace_linkage.errors import InputError
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import header_names, looks_like_value, resolve_file

HEADER_BYTES = 1 << 20  # a header line longer than this is not checked here (the reader judges it)
_BOM = "\ufeff"


def check_inputs(cfg: PaceConfig, extracts_dir: Path, features: Sequence[Feature] = (),
                 allow_partial: bool = False) -> tuple[list[str], list[str]]:
    """``(stops, warnings)``: every problem :func:`folder_problem` and :func:`source_problems` find for the sources
    of ``cfg``, each source seen as ``features`` let the centre read it, one line each. They stop the run, as a
    failed source does when read (:func:`pace_linkage.ingest.sources.check_failures`), unless every source with a
    problem may be missing (``allow_partial``, or ``required: false``) and some source has none: then they are
    warnings, and the run goes on without those sources."""
    problem = folder_problem(extracts_dir)
    if problem:
        return [problem], []
    lines: list[str] = []
    failed: list[SourceConfig] = []
    for src in cfg.sources.items:
        view = src
        for f in features:
            view = f.source_view(view)
        found = source_problems(view, Path(extracts_dir))
        if found:
            lines += found
            failed.append(src)
    may_miss = allow_partial or not any(s.required for s in failed)
    if not failed or (may_miss and len(failed) < len(cfg.sources.items)):
        return [], lines
    return lines, []


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
    wanted = {"record_id": src.record_id, **{f"columns.{field}{suffix}": col for field, mapping in src.columns.items()
                                             for suffix, col in mapping_columns(mapping)}}
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
    """Line 1 of a delimited file in its encoding and delimiter; None if it does not decode cleanly or parse."""
    with path.open("rb") as fh:
        data = fh.read(HEADER_BYTES)
        at_end = not fh.read(1)
    if data.startswith(codecs.BOM_UTF8):
        if src.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
            return None  # a UTF-8 file declared otherwise: the reader says so
        data = data[len(codecs.BOM_UTF8):]
    try:  # later lines may hold bytes that do not decode (the reader judges them): only line 1 must
        text = codecs.getincrementaldecoder(src.encoding)(errors="replace").decode(data, final=at_end)
    except LookupError:
        return None
    if "\n" not in text and not at_end:
        return None  # the header line does not end within HEADER_BYTES
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), delimiter=src.delimiter, strict=True), None)
    except csv.Error:
        return None
    if row is None or any("\ufffd" in h for h in row):
        return None
    return [h.replace(_BOM, "").strip() for h in row]


def _xlsx_header(src: SourceConfig, path: Path) -> list[str] | None:
    """Row 1 of the source's sheet as the reader names its columns (cells the file holds, up to the last one
    with a value); None if the workbook or its sheet cannot be read, or row 1 is empty."""
    from pace_linkage.ingest.sheet import cell_text
    from pace_linkage.ingest.workbook import quiet

    with quiet():
        first = _first_row(src, path)
    if first is None:
        return None
    idx, cells = first
    named = {col: cell_text(v).replace(_BOM, "").strip() for col, v in cells}
    named = {col: name for col, name in named.items() if name}
    if idx != 1 or not named:
        return None
    return [named.get(col, "") for col in range(1, max(named) + 1)]


def _first_row(src: SourceConfig, path: Path) -> tuple[int, list] | None:
    """(row number, cells) of the first row the source's sheet holds; None if the workbook or its sheet cannot
    be read."""
    from pace_linkage.ingest.workbook import load_workbook

    try:
        wb = load_workbook(path)
    except Exception:  # noqa: BLE001 - not a workbook: the reader names the problem
        return None
    try:
        if src.sheet is None:
            ws = wb.worksheets[0]
        else:
            ws = wb.worksheets[src.sheet] if isinstance(src.sheet, int) else wb[src.sheet]
        return next(ws.present_rows(), (0, []))
    except Exception:  # noqa: BLE001 - a missing sheet or a broken one: the reader names the problem
        return None
    finally:
        wb.close()


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
