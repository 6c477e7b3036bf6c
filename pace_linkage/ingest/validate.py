"""Validate: map a source's columns onto canonical fields and account for every row.

Two checks, either side of normalisation:

* :func:`map_columns` (structure): every mapped column must exist in the file, otherwise the whole
  source fails with one :class:`InputError` naming the config file, key, expected column and the header
  names found. A record id is compared without blanks or invisible characters (zero-width spaces and
  joiners, a byte-order mark) at either end (:func:`record_ids`). Rows without a record id are quarantined
  (``missing_record_id``). Rows repeating another
  row's record id are quarantined: exact repeats beyond the first as ``duplicate_row``; conflicting rows
  that share an id all as ``duplicate_record_id`` (which one is right is the partner's call, and keeping
  "the first" would make the result depend on row order).
* :func:`check_records` (content, after normalisation): a row left with none of the configured
  ``identifying_fields`` is quarantined (``no_identifying_fields``). An invalid value in a field the row
  can do without is *not* a reason to quarantine: normalisation nulls it and records a flag.

Quarantined rows keep their original cells (``raw``) so nothing is lost; the summary written to
``quarantine.csv`` carries only source, file, line and reason codes.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig, mapping_columns
from pace_linkage.config.sources import ColumnMapping
from pace_linkage.errors import InputError
from pace_linkage.ingest.extract import Extract, header_names
from pace_linkage.schema import LINE, RECORD_ID, SOURCE

# Closed set of row-level reason codes (normalisation flags live in pace_linkage.normalise).
ROW_REASONS = {
    "too_many_fields": "more fields than the header (in JSON lines: more keys than the column limit)",
    "too_few_fields": "fewer fields than the header",
    "bad_encoding": "bytes not valid in the declared encoding, or text that is not valid Unicode (a lone "
                    "surrogate such as the JSON escape \\ud800) in a cell or key",
    "malformed_csv": "the CSV parser could not read the row",
    "malformed_json": "not a JSON object",
    "too_deep": "JSON arrays or objects nested deeper than the reader's limit",
    "duplicate_key": "a JSON object names a key twice, or a sheet row holds a cell twice (which value is meant "
                     "is unknown)",
    "header_row": "a repeat of the header line (files concatenated), not a record",
    "formula_without_value": "an xlsx formula cell in a mapped column with no calculated value in the file",
    "nul_byte": "a cell holds a NUL byte",
    "field_too_long": "a cell is implausibly long",
    "missing_record_id": "no record id",
    "duplicate_record_id": "record id used by a different row",
    "duplicate_row": "exact repeat of an earlier row",
    "no_identifying_fields": "none of the identifying fields is usable",
}


# blanks and invisible characters at either end of a record id: a zero-width space, joiner or non-joiner, a word
# joiner, or a byte-order mark / zero-width no-break space (U+FEFF)
_ID_EDGES = re.compile("^[\\s\u200b-\u200d\u2060\ufeff]+|[\\s\u200b-\u200d\u2060\ufeff]+$")


def record_ids(ids: pd.Series) -> pd.Series:
    """Record ids as compared: text without blanks or invisible characters (:data:`_ID_EDGES`) at either end,
    so that ``A1``, ``" A1 "`` and ``A1`` followed by a zero-width space are one id (and repeats of it are
    found). Inside an id nothing changes."""
    ids = ids.astype(str).str.strip()
    if "".join(ids).isascii():
        return ids
    odd = ~ids.map(str.isascii)
    return ids.mask(odd, ids[odd].str.replace(_ID_EDGES, "", regex=True))


def _serialise(frame: pd.DataFrame, header: list[str], delimiter: str) -> pd.Series:
    """Original rows re-serialised as delimited text (only called on quarantined rows)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    w.writerows(frame[header].itertuples(index=False, name=None))
    lines = out.getvalue().split("\n")[:-1] if len(frame) else []
    return pd.Series(lines, index=frame.index, dtype=object)


def map_columns(ext: Extract, src: SourceConfig, cfg: PaceConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical raw-text frame (source, record_id, line, one column per mapped field) and the rows
    quarantined here (line, reasons, raw)."""
    wanted = {"record_id": src.record_id, **{f"columns.{field}{suffix}": col for field, mapping in src.columns.items()
                                             for suffix, col in mapping_columns(mapping)}}
    missing = [(key, col) for key, col in wanted.items() if col not in ext.header]
    if missing:
        have = header_names(ext.header)  # no names if line 1 looks like a record (a file without a header)
        where = src.config_file or "config"
        parts = [f"{where}: {key}: column '{col}' not found in {ext.file}" for key, col in missing]
        raise InputError("; ".join(parts) + f" (have: {have})")

    f = ext.frame.copy(deep=False)  # the same cells, by position (the lines are the extract's index)
    f.index = pd.RangeIndex(len(f))
    lines = ext.frame.index.to_numpy()
    out = pd.DataFrame({SOURCE: src.name, RECORD_ID: record_ids(f[src.record_id]), LINE: lines})
    for field, mapping in src.columns.items():
        out[field] = mapped_column(f, mapping)

    reasons = pd.Series("", index=out.index, dtype=object)
    no_id = out[RECORD_ID] == ""
    reasons[no_id] = "missing_record_id"

    has_id = out.index[~no_id]
    ids = out.loc[has_id, RECORD_ID]
    dup_id = ids.duplicated(keep=False)
    if dup_id.any():
        # exact repeats of a whole row: keep the first occurrence only (order-independent result,
        # since the kept and dropped rows are identical)
        content_cols = [c for c in ext.header]
        exact_rep = f.loc[has_id, content_cols].duplicated(keep="first")
        reasons[exact_rep[exact_rep].index] = "duplicate_row"
        # ids still repeated among the remaining rows disagree with each other: quarantine them all
        remaining = ids[~exact_rep]
        conflict = remaining.duplicated(keep=False)
        reasons[conflict[conflict].index] = "duplicate_record_id"

    bad = reasons != ""
    q = pd.DataFrame({LINE: out.loc[bad, LINE], "reasons": reasons[bad]})
    if bad.any():
        q["raw"] = _serialise(f.loc[bad], ext.raw_header or ext.header, src.delimiter)
    else:
        q["raw"] = pd.Series(dtype=object)
    if not bad.any():  # every row kept: the frame is already numbered 0..n-1, and its own (built above)
        return out, q.reset_index(drop=True)
    return out.loc[~bad].reset_index(drop=True), q.reset_index(drop=True)


def mapped_column(frame: pd.DataFrame, mapping: ColumnMapping) -> pd.Series:
    """A field's raw text from a source frame: its one column; several columns' values joined with a space
    (blank cells left out; null when all are blank); or date parts as ``year-month-day`` (a month name as its
    number; null when every part is blank; a part left blank stays blank, so the date does not read)."""
    if isinstance(mapping, str):
        return frame[mapping].astype(object)
    if isinstance(mapping, list):
        return _joined([_cells(frame[c]) for c in mapping], " ", keep_blank=False)
    year, month, day = (_cells(frame[c], numeric=True) for c in mapping.parts.values())
    return _joined([year, _month_numbers(month), day], "-", keep_blank=True)


PARTS_FORMAT = "%Y-%m-%d"  # the format of a date joined from its parts (the source's formats cannot set it)
_WHOLE_FLOAT = re.compile(r"^(\d+)\.0*$")


def _cells(col: pd.Series, numeric: bool = False) -> pd.Series:
    """Cells as trimmed text, blank for null; with ``numeric``, a whole number written as a float (``3.0``, as a
    spreadsheet may hold it) as the number."""
    text = col.astype(object).where(col.notna(), "").astype(str).str.strip()
    return text.str.replace(_WHOLE_FLOAT, r"\1", regex=True) if numeric else text


_MONTHS = {m: str(i) for i, m in enumerate(
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}


def _month_numbers(month: pd.Series) -> pd.Series:
    """A month part written as a name (``Mar``, ``march``, ``Sept.``) as its number; any other value as it is."""
    named = month.str.match(r"^[A-Za-z]{3,}\.?$")
    if not named.any():
        return month
    return month.mask(named, month[named].str[:3].str.upper().map(_MONTHS).fillna(month[named]))


def _joined(cells: list[pd.Series], sep: str, keep_blank: bool) -> pd.Series:
    """Row-wise join of text columns (vectorised); null where every cell is blank. ``keep_blank``: blanks keep
    their place (date parts); otherwise they are left out (names, address lines)."""
    blank = np.logical_and.reduce([(c == "").to_numpy() for c in cells])
    out = cells[0]
    for c in cells[1:]:
        out = out + sep + c
    if not keep_blank:  # the separators around blank cells
        out = out.str.replace(r"\s+", " ", regex=True).str.strip()
    return out.astype(object).mask(blank, None)


def check_records(records: pd.DataFrame, cfg: PaceConfig) -> np.ndarray:
    """Boolean mask of normalised records that keep at least one identifying field."""
    fields = [f for f in cfg.identifying_fields if f in records.columns]
    if not fields:
        return np.zeros(len(records), dtype=bool)
    return records[fields].notna().any(axis=1).to_numpy()


def raw_rows(ext: Extract, lines: pd.Series, delimiter: str) -> pd.Series:
    """The original cells of the rows at ``lines`` (for quarantining after normalisation)."""
    sub = ext.frame.loc[lines.to_numpy()]
    return _serialise(sub, ext.raw_header or ext.header, delimiter).set_axis(lines.index)
