"""Per-source ingest and normalisation, and the assembly of all sources into one record frame.

Each source is read on its own, and one that cannot be read becomes a :class:`SourceFailure` (one value-free line)
so that every failed source is reported at once. A failed source then **fails the run** (:func:`check_failures`:
one line per failed source, nothing published, nothing stored) unless the run allows a partial result
(``--allow-partial``) or the source is not required (``required: false`` in its config); a partial run names the
missing partners and their rows in the first line of its report (:func:`partial_summary`). A source that was
read but holds no record (a header-only file, or an empty one its config allows with ``allow_empty``) is not a
failure: it is counted (``rows_in`` 0) and named (:func:`empty_sources`). For every source ``rows_in ==
rows_accepted + rows_quarantined (+ rows_withheld)``; :func:`assemble` checks it and the flow fails if it does not
hold.

The study features (:class:`pace_linkage.features.Feature`) come in as a parameter: they may narrow what
is read of a source, withhold rows (kept nowhere, only counted), and keep counts of their own per source
(``SourceBatch.extras``). :func:`pace_linkage.pipeline.read_sources` reads every source with the default
features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import InputError, PaceError
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import Extract, read_source
from pace_linkage.ingest.validate import PARTS_FORMAT, check_records, map_columns, raw_rows
from pace_linkage.normalise import normalise_records
from pace_linkage.normalise.dates import DayMonthOrder, day_month_order
from pace_linkage.schema import FLAGS, LINE, RECORD_ID, SOURCE

QUARANTINE_RAW_COLUMNS = [SOURCE, "file", LINE, "reasons", "raw"]


@dataclass
class SourceBatch:
    """One source after ingest (and, once :func:`normalise_source` ran, after normalisation)."""

    source: str
    file: str
    rows_in: int
    records: pd.DataFrame  # raw canonical text after ingest; normalised after normalise_source
    quarantine: pd.DataFrame  # source, file, line, reasons, raw
    extract: Extract | None = None  # kept until normalisation, to quarantine late rows with their cells
    reasons: pd.DataFrame | None = None  # normaliser reason counts (source, field, reason, count)
    day_month: dict[str, DayMonthOrder] = field(default_factory=dict)  # date field -> fit of its day/month order
    rows_withheld: int = 0
    blank_lines: int = 0
    notes: list[str] = field(default_factory=list)  # the reader's value-free remarks (e.g. no records)
    normalised: bool = False
    # what the features kept about this source (feature name -> counts), e.g. holdings: accepted rows with a
    # value per data item; aggregates: counts of the rows withheld for want of consent (the rows themselves are
    # never kept)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        return len(self.records)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def counts(self) -> dict:
        """The source's row counts and quarantine reasons, and its notes when it has any (an empty or
        header-only file says so here, so a source that delivered no rows is named, not just a zero)."""
        out = {
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "rows_withheld": self.rows_withheld,
            "blank_lines_skipped": self.blank_lines,
            "reasons": reason_counts(self.quarantine),
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class SourceFailure:
    source: str
    file: str
    error: str  # one value-free line
    rows: int | None = None  # the file's rows, when it could be read before it failed (None: unknown)


def reason_counts(q: pd.DataFrame) -> dict[str, int]:
    if q.empty:
        return {}
    codes = q["reasons"].str.split(";").explode()
    return {k: int(v) for k, v in sorted(codes.value_counts().items())}


def _tag(q: pd.DataFrame, src: str, file: str) -> pd.DataFrame:
    q = q.copy()
    q.insert(0, "file", file)
    q.insert(0, SOURCE, src)
    return q[QUARANTINE_RAW_COLUMNS]


def ingest_source(src: SourceConfig, cfg: PaceConfig, extracts_dir: Path, *,
                  features: Sequence[Feature]) -> SourceBatch | SourceFailure:
    """Read one source and map its columns; a PaceError becomes a SourceFailure (the source fails alone).

    The ``features`` narrow what is read (:meth:`~pace_linkage.features.Feature.source_view`: fields outside a
    sharing agreement are never read), say which rows may enter (:meth:`~pace_linkage.features.Feature.admit`)
    and count the rows kept out before they are dropped, before any check
    (:meth:`~pace_linkage.features.Feature.count_withheld`)."""
    view = src
    for f in features:
        view = f.source_view(view)
    extras: dict[str, Any] = {}
    try:
        ext = read_source(view, Path(extracts_dir))
    except PaceError as exc:
        return SourceFailure(src.name, src.file, str(exc))
    try:
        keep = np.ones(len(ext.frame), dtype=bool)
        for f in features:
            mask = f.admit(ext, view)
            if mask is not None:
                keep &= mask
        withheld = int((~keep).sum())
        if withheld:  # kept out of the centre entirely (before any check), only counted
            for f in features:
                counted = f.count_withheld(ext, src, cfg, ~keep)
                if counted is not None:
                    extras[f.name] = counted
            ext.frame = ext.frame.loc[keep]
        records, q_map = map_columns(ext, view, cfg)
    except PaceError as exc:
        return SourceFailure(src.name, src.file, str(exc), rows=ext.rows_in)
    quarantine = pd.concat([_tag(ext.quarantine, src.name, ext.file), _tag(q_map, src.name, ext.file)], ignore_index=True)
    return SourceBatch(src.name, ext.file, ext.rows_in, records, quarantine, ext, rows_withheld=withheld,
                       blank_lines=ext.blank_lines, notes=list(ext.notes), extras=extras)


def normalise_source(batch: SourceBatch, src: SourceConfig, cfg: PaceConfig, today: dt.date | None = None, *,
                     features: Sequence[Feature]) -> SourceBatch:
    """Normalise one ingested source; rows left with no identifying field are quarantined. Each of
    ``features`` then counts what it needs while the raw extract is still in memory
    (:meth:`~pace_linkage.features.Feature.after_normalise`); the extract is released."""
    formats = {f: spec.date_format for f, spec in cfg.fields.items() if spec.date_format}
    formats.update(src.formats)
    formats.update(dict.fromkeys(src.date_parts_fields(), PARTS_FORMAT))  # parts are joined year-month-day
    day_month = {f: order for f, spec in cfg.fields.items() if spec.kind in ("dob", "date") and f in batch.records
                 and (order := day_month_order(batch.records[f], formats.get(f))) is not None}
    records, reasons = normalise_records(batch.records, cfg.fields, formats, today=today or cfg.reference_date)
    keep = check_records(records, cfg)
    quarantine = batch.quarantine
    if not keep.all():
        dropped = records.loc[~keep, LINE]
        q = pd.DataFrame({LINE: dropped.to_numpy(), "reasons": "no_identifying_fields"})
        q["raw"] = raw_rows(batch.extract, dropped, src.delimiter).to_numpy() if batch.extract is not None else ""
        quarantine = pd.concat([quarantine, _tag(q, batch.source, batch.file)], ignore_index=True)
    accepted = records.loc[keep].reset_index(drop=True)
    extras = dict(batch.extras)
    if batch.extract is not None:
        for f in features:
            kept = f.after_normalise(batch, accepted, src)
            if kept is not None:
                extras[f.name] = kept
    return replace(batch, records=accepted, quarantine=quarantine, extract=None, reasons=reasons,
                   normalised=True, extras=extras, day_month=day_month)


def source_notes(batches: list[SourceBatch]) -> list[str]:
    """One value-free warning line per note of a source that was read, e.g. a file that delivered no rows."""
    return [f"source {b.source} ({b.file}): {n}" for b in batches for n in b.notes]


def check_failures(cfg: PaceConfig, failures: list[SourceFailure], allow_partial: bool = False) -> None:
    """The failure policy (see the module docstring): an :class:`InputError` with one line per failed source
    and a last line saying nothing was published, unless every failed source may be missing (``allow_partial``,
    or ``required: false``); a run where no source could be read fails anyway."""
    if not failures:
        return
    lines = [f"source {f.source}: {f.error.splitlines()[0] if f.error else 'failed'}" for f in failures]
    required = {s.name: s.required for s in cfg.sources.items}
    if len(failures) >= len(required):
        raise InputError(*lines, "no source could be read: nothing to link, nothing published or stored")
    if allow_partial or not any(required.get(f.source, True) for f in failures):
        return
    raise InputError(*lines, f"{len(failures)} of {len(required)} sources failed: nothing published or stored "
                             "(--allow-partial, or required: false on the source, runs without them)")


def partial_summary(failures: list[SourceFailure], cfg: PaceConfig) -> dict | None:
    """What a partial run is missing, for metrics.json and the report's first line: the partners, their rows
    where the file could be counted, and the partners whose rows are unknown. None for a complete run."""
    if not failures:
        return None
    known = [f for f in failures if f.rows is not None]
    return {"sources_missing": sorted(f.source for f in failures), "sources_configured": len(cfg.sources.items),
            "rows_missing": sum(int(f.rows) for f in known),
            "rows_unknown": sorted(f.source for f in failures if f.rows is None)}


def empty_sources(batches: list[SourceBatch]) -> list[str]:
    """The sources that were read but hold no record (counted as ``rows_in`` 0; not a failure)."""
    return sorted(b.source for b in batches if b.rows_in == 0)


def assemble(batches: list[SourceBatch]) -> pd.DataFrame:
    """All accepted records in one frame, sorted by (source, record_id): positions 0..N-1 are then
    independent of file names and row order."""
    for b in batches:
        if b.rows_in != b.rows_accepted + b.rows_quarantined + b.rows_withheld:
            raise AssertionError(f"row accounting broken for source {b.source}")
    frames = [b.records for b in batches if len(b.records)]
    if not frames:
        return pd.DataFrame(columns=[SOURCE, RECORD_ID, LINE, FLAGS])
    records = pd.concat(frames, ignore_index=True)
    order = np.lexsort((records[RECORD_ID].to_numpy(dtype=str), records[SOURCE].to_numpy(dtype=str)))
    return records.iloc[order].reset_index(drop=True)


def assemble_shared(batches: list[SourceBatch]) -> tuple[pd.DataFrame, list[SourceBatch]]:
    """:func:`assemble`, and the batches with their records replaced by the same rows of the assembled frame
    (each source's rows are one block of it, sorted by record id; the batch keeps its own columns), sharing its
    memory: the run then holds each record once instead of twice (the batches' counts and coverage are
    unchanged)."""
    records = assemble(batches)
    sizes = {b.source: len(b.records) for b in batches if len(b.records)}
    blocks, start = {}, 0
    for name in sorted(sizes):  # the order of assemble's sort by source
        blocks[name], start = (start, start + sizes[name]), start + sizes[name]
    src = records[SOURCE]
    if any(src.iat[a] != name or src.iat[b - 1] != name for name, (a, b) in blocks.items()):
        raise AssertionError("assembled records are not in blocks of one source")
    shared = [replace(b, records=rows_view(records, *blocks[b.source], b.records.columns)) if b.source in blocks
              else b for b in batches]
    return records, shared


def rows_view(records: pd.DataFrame, start: int, stop: int, columns: Sequence[str]) -> pd.DataFrame:
    """Rows ``start:stop`` of ``columns`` of ``records``, as a frame sharing their memory (no copy)."""
    part = records.iloc[start:stop]
    return pd.DataFrame({c: part[c].array for c in columns}, index=pd.RangeIndex(stop - start), copy=False)


def quarantine_summary(batches: list[SourceBatch]) -> pd.DataFrame:
    """quarantine.csv: source, file, line, reasons (no field values)."""
    frames = [b.quarantine[[SOURCE, "file", LINE, "reasons"]] for b in batches if len(b.quarantine)]
    if not frames:
        return pd.DataFrame(columns=[SOURCE, "file", LINE, "reasons"])
    q = pd.concat(frames, ignore_index=True)
    return q.sort_values([SOURCE, LINE], kind="stable").reset_index(drop=True)


def count_totals(batches: list[SourceBatch], failures: list[SourceFailure]) -> dict:
    by_source = {b.source: b.counts() for b in batches}
    totals = {k: sum(v[k] for v in by_source.values()) for k in ("rows_in", "rows_accepted", "rows_quarantined", "rows_withheld")}
    return {**totals, "by_source": by_source, "sources_failed": len(failures)}


def coverage(batches: list[SourceBatch], cfg: PaceConfig) -> dict:
    """Per source and mapped field: accepted rows, rows with a valid value, rows where a value was present
    (valid, or present but nulled by its normaliser) -- the recording-method barrier in numbers --, the values
    nulled by reason (``nulled``: code -> count, when any) and, for a date field, how its values fit its
    day/month order (``day_month``: :class:`~pace_linkage.normalise.dates.DayMonthOrder`'s counts)."""
    mapped = {s.name: set(s.columns) for s in cfg.sources.items}
    out: dict[str, dict] = {}
    for b in batches:
        src_cov = {}
        n = len(b.records)
        by_reason: dict[str, dict[str, int]] = {}
        if b.reasons is not None and len(b.reasons):
            for (f, code), c in b.reasons.groupby(["field", "reason"], sort=True)["count"].sum().items():
                by_reason.setdefault(str(f), {})[str(code)] = int(c)
        for f in cfg.fields:
            if f not in mapped.get(b.source, ()) or f not in b.records.columns:
                continue
            valid = int(b.records[f].notna().sum())
            nulled = by_reason.get(f, {})
            # present = valid values + values that were present but nulled by the normaliser
            entry: dict = {"rows": n, "valid": valid, "present": valid + sum(nulled.values())}
            if nulled:
                entry["nulled"] = nulled
            if f in b.day_month:
                order = b.day_month[f]
                entry["day_month"] = {"order": order.order, "fit_order": order.fit_order,
                                      "fit_other": order.fit_other, "fit_both": order.fit_both}
            src_cov[f] = entry
        out[b.source] = src_cov
    return out
