"""Aggregate-only sharing: partners send counts of their clients, never records.

The partnership's alternative to centralised linkage: each partner counts its own clients by a few
dimensions (configured in ``aggregates.dimensions``, see :class:`pace_linkage.config.AggregatesSettings`)
and sends only the counts; the centre publishes them after small-number suppression. This module also
serves partners whose agreement says ``without_consent: aggregates``: their rows without consent stay out
of linkage, but are counted at ingest (:func:`extract_counts`, through the :class:`WithheldAggregates`
feature's hook on withheld rows).

Counting, at the partner (:func:`partner_counts` / :func:`extract_counts`), from the raw extract through
the partner's ``items`` (data item -> its own columns). A *client* here is one row of the partner's
extract (a contact): a person seen by three partners, or twice by one, is counted each time. Per dimension
``kind``:

* ``month``: ``YYYY-MM`` of the item's date. The format tried first is the source's ``formats[<item>]``,
  else the one format the source gives its own date-of-birth / date fields (a partner's system writes its
  dates one way), then the general date rules of :mod:`pace_linkage.normalise.dates` (kind ``date``: a
  placeholder or a date before 1900 is no date). None or unparseable: ``unknown``.
* ``multi``: cells holding several values, split on ``;`` ``,`` ``|``; each value trimmed and spacing
  collapsed; values equal but for case are one category (shown in its most used spelling, ties to the first
  in code-point order). A client counts once per distinct value (``CV help; cv help`` once); a client with
  none counts under ``none recorded``.
* ``category``: one value per cell, cleaned and case-merged as for ``multi``; blank: ``none recorded``.
* ``council_area``: the postcode normalised (:mod:`pace_linkage.normalise.postcode`) and placed by
  :func:`pace_linkage.evaluate.groups.council_area`; none or invalid: ``unknown``.

An item with several columns takes, per row, the first column holding a value (``multi``: the values of
all of them). Blank means empty or a "nothing recorded" token (:data:`pace_linkage.study.holdings.BLANK_TOKENS`).
A partner that does not list the item, or whose file lacks all of its columns, gets no table row for the
dimension (reported as not held). Every counted row lands in exactly one category of each other kind.

Publishing (:func:`aggregate_tables`): per dimension a partner x category table with row and column
totals. Partners' spellings of one free-text category are merged (most used spelling by clients). Free-text
categories (``multi``/``category``) with fewer than the threshold's clients across all
partners are merged into ``other (rare)`` first, so that no rare label (which could be free text about a
person) is published. Then :func:`pace_linkage.redact.suppression_pattern`: cells (totals included) in
1..k-1 are ``*`` and further cells are suppressed until no hidden cell can be worked out from the
published figures. A partner's total is the same figure in every single-valued table (month, outcome,
council area: each row counts once in each), so a total hidden in one is hidden in all of them.

``sharing`` (:func:`run_aggregates`): only rows with recorded consent are counted, unless the agreement
says ``without_consent: aggregates`` (all rows). ``allowed_fields`` does not apply: it governs which
record-level fields enter the centre, and nothing record-level leaves the partner here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import AggregateDimension, AggregatesSettings, PaceConfig, SourceConfig
from pace_linkage.errors import PaceError
from pace_linkage.evaluate.groups import OUTSIDE, council_area
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import Extract, read_source
from pace_linkage.normalise.dates import date_columns
from pace_linkage.normalise.postcode import postcode_series
from pace_linkage.redact import SUPPRESSED, suppression_pattern
from pace_linkage.schema import SOURCE
from pace_linkage.study.aggregates_report import AGGREGATES, AGGREGATES_WITHHELD
from pace_linkage.study.holdings import BLANK_TOKENS, items_of, non_blank
from pace_linkage.study.sharing import consent_mask

UNKNOWN = "unknown"
NONE_RECORDED = "none recorded"
OTHER = "other (rare)"
COUNT_COLUMNS = [SOURCE, "dimension", "category", "clients"]
_SPLIT = re.compile(r"[;,|]")
_LAST = (OTHER, OUTSIDE, NONE_RECORDED, UNKNOWN)  # shown after the ordinary categories, in this order
_FREE_TEXT = ("multi", "category")
_LABELS = {"month": "Clients by month of first service or contact", "service": "Clients by service received",
           "outcome": "Clients by outcome", "council_area": "Clients by council area (approximate, from postcode)"}


# --------------------------------------------------------------------------------------------------
# Counting at the partner
# --------------------------------------------------------------------------------------------------
def partner_counts(src: SourceConfig, cfg: PaceConfig, extracts_dir: Path, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Read the partner's extract and count its clients per dimension (see the module docstring).

    ``rows``: a boolean mask over the extract's parsed rows (``Extract.frame``) choosing the rows to count;
    None counts every row that parsed. Returns a long frame [source, dimension, category, clients] (int64),
    dimensions in config order, categories in display order. Raises what :func:`read_source` raises."""
    return extract_counts(read_source(src, Path(extracts_dir)), src, cfg, rows)


def extract_counts(ext: Extract, src: SourceConfig, cfg: PaceConfig, rows: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`partner_counts` on an extract already in memory."""
    frame = ext.frame
    if rows is not None:
        rows = np.asarray(rows, dtype=bool)
        if rows.shape != (len(frame),):
            raise ValueError(f"extract_counts: rows must hold one flag per row of the extract of '{src.name}'")
        frame = frame.loc[rows]
    settings = cfg.aggregates if cfg.aggregates is not None else AggregatesSettings()
    items, header = items_of(src), set(ext.header)
    today = cfg.reference_date or dt.date.today()
    parts = []
    for pos, (dim, spec) in enumerate(settings.dimensions.items()):
        cols = [c for c in items.get(spec.item, []) if c in header]
        if not cols:
            continue  # not held
        if spec.kind == "multi":
            counts = _multi_counts(frame[cols])
        else:
            value = _first_value(frame, cols)
            if spec.kind == "month":
                cats = _months(value, _date_format(src, cfg, spec.item), today, strict=spec.item in src.formats)
            elif spec.kind == "council_area":
                cats = council_area(postcode_series(value)[0])
            else:
                cats = _merge_case(_clean(value)).fillna(NONE_RECORDED)
            counts = cats.value_counts(sort=False)
        if len(counts):
            parts.append(pd.DataFrame({SOURCE: src.name, "dimension": dim, "category": counts.index.astype(str),
                                       "clients": counts.to_numpy(dtype=np.int64), "_pos": pos}))
    if not parts:
        return _empty_counts()
    out = pd.concat(parts, ignore_index=True)
    out = out.iloc[_order(out["_pos"].to_numpy(), out["category"])].reset_index(drop=True)
    return out[COUNT_COLUMNS]


def _empty_counts() -> pd.DataFrame:
    return pd.DataFrame({SOURCE: pd.Series(dtype=object), "dimension": pd.Series(dtype=object),
                         "category": pd.Series(dtype=object), "clients": pd.Series(dtype=np.int64)})


def _rank(categories: pd.Series) -> np.ndarray:
    """Display rank of a category: ordinary ones first (then the :data:`_LAST` ones in their order)."""
    last = {c: i + 1 for i, c in enumerate(_LAST)}
    return categories.map(last).fillna(0).to_numpy(dtype=np.int64)


def _order(group: np.ndarray, categories: pd.Series) -> np.ndarray:
    """Stable sort positions by (group, rank, case-folded category, category)."""
    cats = categories.astype(str)
    return np.lexsort((cats.to_numpy(dtype=str), cats.str.casefold().to_numpy(dtype=str), _rank(cats), group))


def _first_value(frame: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """Per row, the first of ``cols`` holding a value (None when none does)."""
    out = pd.Series(None, index=frame.index, dtype=object)
    for c in cols:
        fill = out.isna().to_numpy() & non_blank(frame[c])
        out[fill] = frame[c].to_numpy(dtype=object)[fill]
    return out


def _clean(values: pd.Series) -> pd.Series:
    """Trimmed, spacing collapsed; blank tokens -> None. Each distinct value cleaned once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip().str.replace(r"\s+", " ", regex=True)
    text = text.where(~text.str.casefold().isin(BLANK_TOKENS), None)
    table = np.append(text.to_numpy(dtype=object), None)  # code -1 (null) -> last slot
    return pd.Series(table[codes], index=values.index, dtype=object)


def _merge_case(labels: pd.Series, weights: pd.Series | None = None) -> pd.Series:
    """Each label replaced by the spelling shown for its case-folded form: the most frequent spelling of
    that form (``weights``: clients per label; default one per row), ties to the first in code-point order.
    ``CV help``, ``cv help`` and ``CV Help`` are one category, shown as whichever is most used."""
    w = pd.Series(1, index=labels.index, dtype=np.int64) if weights is None else weights.astype(np.int64)
    tally = pd.DataFrame({"label": labels.to_numpy(dtype=object), "w": w.to_numpy()}).dropna()
    tally = tally.groupby("label", sort=True)["w"].sum().reset_index()
    tally["key"] = tally["label"].str.casefold()
    tally = tally.sort_values(["key", "w", "label"], ascending=[True, False, True], kind="stable")
    shown = tally.drop_duplicates("key").set_index("key")["label"]
    return labels.str.casefold().map(shown).astype(object)


def _multi_counts(frame: pd.DataFrame) -> pd.Series:
    """Clients per value of a multi-valued item (once per client and value; no value -> none recorded)."""
    tokens = pd.concat([frame[c].astype(object).where(non_blank(frame[c]), None) for c in frame.columns])
    tokens = tokens.dropna().astype(str).str.split(_SPLIT).explode()
    values = _clean(tokens).dropna()
    values = _merge_case(values)
    pairs = pd.DataFrame({"row": values.index, "value": values.to_numpy()}).drop_duplicates()
    counts = pairs["value"].value_counts(sort=False)
    none = int(len(frame) - pairs["row"].nunique())
    if none:
        counts = pd.concat([counts, pd.Series([none], index=[NONE_RECORDED])])
    return counts


def _date_format(src: SourceConfig, cfg: PaceConfig, item: str) -> str | None:
    """The item's own format, else the single format the source uses for its mapped dob/date fields."""
    if item in src.formats:
        return src.formats[item]
    fmts = {src.formats.get(f) or cfg.fields[f].date_format for f in src.columns
            if f in cfg.fields and cfg.fields[f].kind in ("dob", "date")}
    fmts.discard(None)
    return fmts.pop() if len(fmts) == 1 else None


def _months(value: pd.Series, fmt: str | None, today: dt.date, strict: bool = True) -> pd.Series:
    """``YYYY-MM`` of each date, ``unknown`` when none or unparseable. A format the item configures is strict;
    one guessed from the source's other dates (``strict`` false) leaves the values it does not read to the
    auto-detection."""
    _, year, month, _, reason = date_columns(value.astype(object), "date", fmt, today=today)
    missed = (reason == "date_wrong_format").to_numpy(dtype=bool)
    if fmt and not strict and missed.any():
        _, year_d, month_d, _, _ = date_columns(value[missed].astype(object), "date", None, today=today)
        year, month = year.copy(), month.copy()
        year[missed], month[missed] = year_d.to_numpy(), month_d.to_numpy()
    ok = (year.notna() & month.notna()).to_numpy()
    key = np.where(ok, year.fillna(0).to_numpy(dtype=np.int64) * 100 + month.fillna(0).to_numpy(dtype=np.int64), -1)
    codes, uniques = pd.factorize(key)
    labels = np.array([f"{k // 100:04d}-{k % 100:02d}" if k >= 0 else UNKNOWN for k in uniques], dtype=object)
    return pd.Series(labels[codes], index=value.index, dtype=object)


# --------------------------------------------------------------------------------------------------
# Publishing: suppressed tables
# --------------------------------------------------------------------------------------------------
def _dimension_specs(dimensions: Mapping[str, AggregateDimension] | None) -> dict[str, AggregateDimension]:
    return dict(dimensions) if dimensions is not None else dict(AggregatesSettings().dimensions)


def _pivot(sub: pd.DataFrame, kind: str, threshold: int) -> pd.DataFrame:
    """Partner x category counts (partners sorted; categories in display order); rare free-text
    categories merged into :data:`OTHER`."""
    sub = sub[[SOURCE, "category", "clients"]]
    if kind in _FREE_TEXT:  # partners' spellings of one category shown one way; rare labels merged
        sub = sub.assign(category=_merge_case(sub["category"].astype(str), sub["clients"]))
        if threshold > 1:
            totals = sub.groupby("category", sort=False)["clients"].transform("sum")
            sub = sub.assign(category=sub["category"].where(totals >= threshold, OTHER))
    table = sub.pivot_table(index=SOURCE, columns="category", values="clients", aggfunc="sum", fill_value=0)
    cats = pd.Series(table.columns.astype(str))
    table = table.iloc[:, _order(np.zeros(len(cats), dtype=np.int64), cats)]
    return table.sort_index(kind="stable").astype(np.int64)


def _with_margins(table: pd.DataFrame) -> np.ndarray:
    inner = table.to_numpy(dtype=np.int64)
    full = np.zeros((inner.shape[0] + 1, inner.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = inner
    full[:-1, -1], full[-1, :-1], full[-1, -1] = inner.sum(axis=1), inner.sum(axis=0), inner.sum()
    return full


def _suppress_all(tables: dict[str, pd.DataFrame], kinds: Mapping[str, str], threshold: int) -> dict[str, np.ndarray]:
    """Suppression pattern per table, with partner totals (and grand totals over the same partners) kept
    hidden in every single-valued table once hidden in one (they publish the same figure)."""
    full = {d: _with_margins(t) for d, t in tables.items()}
    shared = [d for d in tables if kinds[d] != "multi"]
    hidden: set[tuple] = set()
    while True:
        patterns = {}
        for d, t in tables.items():
            force = np.zeros(full[d].shape, dtype=bool)
            if d in shared:
                for i, p in enumerate(t.index):
                    force[i, -1] = ("partner", p) in hidden
                force[-1, -1] = ("all", tuple(t.index)) in hidden
            patterns[d] = suppression_pattern(full[d], threshold, force)
        found = set()
        for d in shared:
            S, t = patterns[d], tables[d]
            found |= {("partner", p) for i, p in enumerate(t.index) if S[i, -1]}
            if S[-1, -1]:
                found.add(("all", tuple(t.index)))
        if found <= hidden:
            return patterns
        hidden |= found


def _shown(values: np.ndarray, S: np.ndarray) -> list:
    return [SUPPRESSED if s else int(v) for v, s in zip(values.tolist(), S.tolist(), strict=True)]


def aggregate_tables(counts: pd.DataFrame, threshold: int,
                     dimensions: Mapping[str, AggregateDimension] | None = None) -> dict:
    """The published form of partners' counts (:func:`partner_counts` frames, concatenated).

    Per dimension (config order, then any other in order of appearance) a partner x category table with
    row and column totals after primary and secondary suppression (module docstring), JSON-able: counts
    are ints or ``"*"``. Returns ``{"threshold", "unit", "partners", "tables": [...],
    "what_can_be_learned": [...], "what_cannot_be_learned": [...]}``; each table has ``dimension``,
    ``label``, ``kind``, ``item``, ``partners``, ``categories``, ``cells`` (partners x categories),
    ``row_totals``, ``column_totals``, ``total``, ``not_held`` (partners with counts in other tables but
    not this one), ``suppressed`` ({primary, secondary} cell counts) and ``note``.
    ``dimensions``: the configured dimensions (kinds and labels); default: the default dimensions.
    """
    specs = _dimension_specs(dimensions)
    counts = counts[COUNT_COLUMNS] if len(counts) else _empty_counts()
    present = list(dict.fromkeys(counts["dimension"].astype(str)))
    dims = [d for d in specs if d in present] + [d for d in present if d not in specs]
    kinds = {d: specs[d].kind if d in specs else "category" for d in dims}
    partners = sorted(set(counts[SOURCE].astype(str)))
    tables = {d: _pivot(counts[counts["dimension"] == d], kinds[d], threshold) for d in dims}
    patterns = _suppress_all(tables, kinds, threshold)
    out_tables = []
    for d in dims:
        t, S = tables[d], patterns[d]
        full = _with_margins(t)
        primary = int(((full > 0) & (full < threshold)).sum()) if threshold > 1 else 0
        spec = specs.get(d)
        note = ("A client who received several services is counted under each, so a partner's total counts "
                "client-services, not clients." if kinds[d] == "multi" else
                "Each client is counted once: a partner's total is its number of clients (contacts).")
        out_tables.append({
            "dimension": d, "label": (spec.label if spec and spec.label else _LABELS.get(d, d.replace("_", " ").capitalize())),
            "kind": kinds[d], "item": spec.item if spec else None,
            "partners": [str(p) for p in t.index], "categories": [str(c) for c in t.columns],
            "cells": [_shown(full[i, :-1], S[i, :-1]) for i in range(len(t.index))],
            "row_totals": _shown(full[:-1, -1], S[:-1, -1]), "column_totals": _shown(full[-1, :-1], S[-1, :-1]),
            "total": _shown(full[-1:, -1], S[-1:, -1])[0],
            "not_held": [p for p in partners if p not in set(t.index)],
            "suppressed": {"primary": primary, "secondary": int(S.sum()) - primary},
            "note": note,
        })
    can, cannot = learning_statements(dims, kinds, threshold)
    return {"threshold": int(threshold),
            "unit": "clients = rows of each partner's own records (contacts): a person seen by three partners, "
                    "or twice by one, is counted each time",
            "partners": partners, "tables": out_tables, "what_can_be_learned": can, "what_cannot_be_learned": cannot}


def learning_statements(dims: Sequence[str], kinds: Mapping[str, str], threshold: int) -> tuple[list[str], list[str]]:
    """Plain sentences: what the partnership can and cannot learn from the published counts."""
    by_kind = {kinds[d]: d for d in reversed(list(dims))}
    can = ["How many clients (contacts) each partner supported, and the partnership's total of contacts."]
    if "month" in by_kind:
        can.append("How each partner's caseload changes from month to month (month of first service or contact).")
    if "multi" in by_kind:
        can.append("Which services each partner delivers and to how many of its clients.")
    if "category" in by_kind:
        can.append("The mix of outcomes each partner records for its own clients.")
    if "council_area" in by_kind:
        can.append("Where each partner's clients live, by council area (approximate, from postcode).")
    small = (f"Any figure under {threshold}, and the further cells hidden so that totals cannot give those away "
             "(shown as *)." if threshold > 1 else "Nothing is hidden for small numbers (no threshold is set).")
    cannot = [
        "How many different people the partnership supported: counts are contacts, so a person seen by three "
        "partners is counted three times, and a repeat client of one partner more than once.",
        "Repeat clients: how many people came back to the same partner, or went on to another.",
        "Partner overlap: how many people two or more partners support, or which partners share clients.",
        "Client journeys: the order of services a person received across partners, or the outcome that followed "
        "another partner's service (an outcome cannot be credited across partners).",
        "Cross-tabulations that were not counted at the partner (e.g. outcome by service, or by month).",
        "Linkage quality (precision, recall): nothing is linked, so there is nothing to measure.",
        small,
    ]
    return can, cannot


# --------------------------------------------------------------------------------------------------
# The aggregate-only scenario
# --------------------------------------------------------------------------------------------------
def _consent_rule(src: SourceConfig) -> str:
    sh = src.sharing
    if not sh or not sh.consent_column:
        return "all rows (no consent column configured)"
    if sh.without_consent == "aggregates":
        return "all rows (without_consent: aggregates)"
    return "rows with recorded consent only"


def run_aggregates(cfg: PaceConfig, extracts_dir: Path, today: dt.date | None = None) -> dict:
    """The aggregate-only scenario: every source counts its clients (:func:`partner_counts`) and the centre
    publishes :func:`aggregate_tables` with ``aggregates.small_count_threshold``.

    A source that cannot be read (or whose agreement has expired on ``today``, default the run's day) is
    listed in ``sources_failed`` with its one-line, value-free error; the others go on. Consent: rows whose
    ``sharing.consent_column`` does not hold an allowed value are not counted, unless the agreement says
    ``without_consent: aggregates``. Adds ``mode``, ``labels`` ({source: label}), ``consent`` ({source:
    rule}) and ``sources_failed`` to the :func:`aggregate_tables` result."""
    today = today or dt.date.today()
    frames, failed, consent = [], [], {}
    for src in cfg.sources.items:
        try:
            sh = src.sharing
            if sh and sh.expires and sh.expires < today:
                raise PaceError(f"{src.config_file or 'config'}: sharing.expires: the agreement with '{src.name}' "
                                f"expired on {sh.expires.isoformat()}")
            ext = read_source(src, Path(extracts_dir))
            rows = None
            if sh and sh.consent_column and sh.without_consent == "exclude":
                rows = consent_mask(ext.frame, ext.header, src, ext.file)
            frames.append(extract_counts(ext, src, cfg, rows))
            consent[src.name] = _consent_rule(src)
        except PaceError as exc:
            failed.append({"source": src.name, "file": src.file, "error": str(exc).splitlines()[0]})
    counts = pd.concat(frames, ignore_index=True) if frames else _empty_counts()
    settings = cfg.aggregates if cfg.aggregates is not None else AggregatesSettings()
    out = aggregate_tables(counts, settings.small_count_threshold, settings.dimensions)
    out = {"mode": "aggregates", **out}
    out["labels"] = {s.name: s.label or s.name for s in cfg.sources.items}
    out["consent"] = consent
    out["sources_failed"] = failed
    return out


# --------------------------------------------------------------------------------------------------
# Clients without consent, counted at ingest
# --------------------------------------------------------------------------------------------------
def withheld_aggregates(cfg: PaceConfig, per_source: Sequence[pd.DataFrame | None]) -> dict | None:
    """``aggregates_withheld``: the suppressed count tables of rows withheld for want of consent (the counts each
    source made at ingest, :func:`extract_counts`), from the sources whose agreement says ``without_consent:
    aggregates``; None when no source does. ``sources`` lists those partners (a partner with nothing withheld
    has no table row)."""
    names = sorted(s.name for s in cfg.sources.items if s.sharing and s.sharing.without_consent == "aggregates")
    if not names:
        return None
    frames = [c for c in per_source if c is not None and len(c)]
    counts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {SOURCE: [], "dimension": [], "category": [], "clients": pd.Series(dtype=np.int64)})
    agg = cfg.aggregates
    out = aggregate_tables(counts, agg.small_count_threshold, agg.dimensions)
    out["sources"] = names
    out["labels"] = {s.name: s.label or s.name for s in cfg.sources.items if s.name in names}
    return out


class WithheldAggregates(Feature):
    """Rows withheld for want of consent from a partner whose agreement says ``without_consent: aggregates`` are
    counted before they are dropped (:func:`extract_counts`), published as ``aggregates_withheld``
    (:func:`withheld_aggregates`) and shown in the report; the aggregate-only scenario's section too."""

    name = "aggregates"
    sections = (AGGREGATES_WITHHELD, AGGREGATES)

    def count_withheld(self, extract: Extract, src: SourceConfig, cfg: PaceConfig,
                       withheld: np.ndarray) -> pd.DataFrame | None:
        if not src.sharing or src.sharing.without_consent != "aggregates":
            return None
        return extract_counts(extract, src, cfg, rows=withheld)

    def metrics(self, run, truth) -> dict:
        out = withheld_aggregates(run.cfg, [b.extras.get(self.name) for b in run.batches])
        return {} if out is None else {"aggregates_withheld": out}


AGGREGATES_FEATURE = WithheldAggregates()

__all__ = ["AGGREGATES_FEATURE", "COUNT_COLUMNS", "NONE_RECORDED", "OTHER", "UNKNOWN", "WithheldAggregates",
           "aggregate_tables", "extract_counts", "learning_statements", "partner_counts", "run_aggregates",
           "withheld_aggregates"]
