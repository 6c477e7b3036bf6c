"""The central store: a run's canonical records, pairs, clusters and metadata in one database.

Two back ends behind one interface (:func:`open_store`; the common logic in :mod:`.base`, each back end in its
own module, :mod:`.duckdb` and :mod:`.postgres`):

* **DuckDB** (the default): ``duckdb:///abs/path/pace.duckdb``, ``duckdb://relative.duckdb`` or a plain
  path. One file, created ``0600`` (its folder, if new, ``0700``). The file holds personal data, NINO
  included: it is the partnership's central copy, for the data controller's analysts only.
* **PostgreSQL**: ``postgresql://user@host:port/db`` (or ``postgres://``). The same tables in schema
  ``pace``, written with ``COPY``, plus per-partner access (see *Partner access* below). A URL holding a
  password is refused: the URL is a flow parameter, recorded by Prefect; libpq reads ``PGPASSWORD`` or
  ``~/.pgpass`` instead.

Tables (every one keyed by ``run_id``)::

    runs      run_id, written_at, config_hash, version, threshold, records, pairs, clusters, sources, meta
    records   run_id, source, record_id, line, <each canonical field, clean>, flags
    clusters  run_id, source, record_id, pace_id, pace_id_<named threshold> ...
    pairs     run_id, source_l, record_id_l, source_r, record_id_r, blocking_rule, gamma_*, match_weight,
              match_probability
    labels    run_id (the run the label was given on), source_l, record_id_l, source_r, record_id_r, label, seq

Rules:

* :meth:`Store.write_run` writes all tables of a run in **one transaction**. It first deletes the run id's
  rows, so writing the same run id again *replaces* the run (no duplicates); an error anywhere rolls the
  whole write back, so the store keeps the previous results intact. Writers take turns (on PostgreSQL a
  transaction-level advisory lock; a DuckDB file is opened by one process at a time).
* Incremental runs are **serialisable**: ``state_head`` holds the number of incremental runs applied and the
  last one's id. A run reads it before the state (:meth:`Store.state_version`) and its write, in the same
  transaction as the check (``SELECT ... FOR UPDATE`` on PostgreSQL), goes ahead only if it is unchanged;
  otherwise :class:`StoreConflict` ("the store changed since this run read its state (run X was applied):
  run again") and nothing is written. Two runs interleaved at any point end as if applied one after the other,
  or one of them is refused.
* A run's metadata records the attempt that wrote it (``meta.attempt``): the output folder's staged run names
  the same attempt, so a run stopped between the store's commit and publishing is published by the next run
  (:func:`stored_attempt`, :mod:`pace_linkage.store.publish`).
* ``labels`` is append-only (:meth:`Store.append_labels`: the workbench's labels, each in one transaction,
  numbered on by ``seq``); writing a run never touches it. It holds keys and labels, no field value, and no
  partner role is granted it.
* Columns follow the frames: a table is created from the first frame written to it, and columns a later
  run brings (a new field, a new comparison) are added. A column the run lacks is NULL for that run. A
  column whose type changed is refused (a ``ConfigError`` naming table and column).
* Types come from the frames: text, integers, floats, booleans, and dates (``dob``/``date`` fields are
  stored as SQL ``DATE``). On PostgreSQL an empty text value is stored as NULL (``COPY`` in CSV form).
* Messages name tables, columns and the store, never a value; a PostgreSQL URL is shown without password.

Partner access (PostgreSQL only):

* Each partner (source) gets a role ``pace_<source>`` (created ``NOLOGIN`` if missing: the DBA grants
  login). It has no privilege on ``pairs`` (pairs cross partners), the incremental state, the logs or the
  labels.
* ``runs`` has **row-level security** too: a partner role sees only the runs it took part in (its source is in
  the run's ``sources``), and of them only ``run_id``, ``written_at``, ``config_hash``, ``version`` and
  ``threshold`` (column privileges): not the other partners, the run's totals nor its metadata. The view
  ``pace.partner_runs`` (``security_invoker``) gives each run it took part in with its **own** record count.
* ``records`` and ``clusters`` have **row-level security**: a partner role sees only rows whose
  ``source`` is its own (``current_user = 'pace_' || source``).
* Partner roles get ``SELECT`` on the **non-private columns only** (column privileges), so selecting a
  private column fails with *permission denied*. Private columns default to every field of kind
  ``nino``: no NINO goes out unless a later sharing agreement lists it (``private_columns``).
* The view ``pace.partner_records`` (``security_invoker``, so the RLS above applies to the reader) joins a
  partner's own records to their ``pace_id`` s, without the private columns.
* ``released`` (what other partners' agreements release to a partner, :mod:`pace_linkage.study.sharing`) has
  row-level security on its recipient: a partner role reads only the rows addressed to it
  (``current_user = 'pace_' || to_source``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pace_linkage.schema import RECORD_ID, SOURCE, VERSION
from pace_linkage.store.base import (
    LABEL_COLUMNS,
    LABELS,
    LOG_TABLES,
    PARTNER_VIEW,
    RUNS,
    STATE_HEAD,
    STATE_TABLES,
    TABLES,
    StateVersion,
    Store,
    StoreConflict,
    StoreError,
    logical_type,
)
from pace_linkage.store.duckdb import DuckDBStore
from pace_linkage.store.postgres import PostgresStore
from pace_linkage.store.urls import describe, parse_url


def open_store(url: str | os.PathLike, *, private_columns: Sequence[str] = ("nino",), create: bool = True) -> Store:
    """Open the store at ``url`` (see the module docstring for the forms), creating it if needed; with
    ``create=False`` (to read) a store that does not exist is one :class:`InputError` line and nothing is made."""
    kind, target = parse_url(url)
    if kind == "postgresql":
        return PostgresStore(target, private_columns=private_columns, create=create)
    return DuckDBStore(Path(target), private_columns=private_columns, create=create)


def _as_date(s: pd.Series) -> pd.Series:
    """ISO date text -> Arrow date32 (unparseable or missing -> null)."""
    import pyarrow as pa

    parsed = pd.to_datetime(s.astype("string"), format="%Y-%m-%d", errors="coerce")
    return pd.Series(pa.array(parsed.dt.date.where(parsed.notna(), None), type=pa.date32()),
                     index=s.index, dtype=pd.ArrowDtype(pa.date32()))


def sorted_clusters(run) -> pd.DataFrame:
    """The run's clusters sorted by source and record id (as ``clusters.csv`` holds them). The clusters come in
    the records' order, which is already this one: checked in Arrow, and then not sorted again (a stable sort
    of rows already in order leaves them as they are)."""
    clusters = run.clusters.clusters
    if not in_text_order(clusters, SOURCE, RECORD_ID):
        clusters = clusters.sort_values([SOURCE, RECORD_ID], kind="stable")
    return clusters.reset_index(drop=True)


def in_text_order(frame: pd.DataFrame, first: str, second: str) -> bool:
    """Whether ``frame``'s rows are ordered by the text columns ``first`` then ``second`` (ties allowed), as
    Python compares strings (so as a sort orders them). False when either column holds a missing value or
    anything but text: then only a sort can say."""
    if len(frame) < 2:
        return True
    a, b = (frame[name].to_numpy() for name in (first, second))
    if not all(v.dtype == object and pd.api.types.infer_dtype(v, skipna=False) == "string" for v in (a, b)):
        return False
    a0, a1, b0, b1 = a[:-1], a[1:], b[:-1], b[1:]
    return bool(((a0 < a1) | ((a0 == a1) & (b0 <= b1))).all())


def run_tables(run, *, pairs: pd.DataFrame, released: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The store's frames of a finished run (a :class:`pace_linkage.evaluate.metrics.RunResults`).

    ``records`` holds key columns, the line, the clean canonical fields (dates as dates) and flags, but not
    the derived blocking columns (``_sound``, ``_area``...), which are recomputable; ``clusters`` is what
    ``clusters.csv`` holds. ``pairs`` (what ``pairs.parquet`` holds) and ``released`` (what the sharing
    agreements let each partner receive back) are given as they are written.
    """
    cfg = run.cfg
    rec = run.records
    cols = [c for c in (SOURCE, RECORD_ID, "line") if c in rec.columns]
    cols += [f for f in cfg.fields if f in rec.columns and f not in cols]
    cols += [c for c in ("flags",) if c in rec.columns]
    records = rec[cols].copy()
    for f, spec in cfg.fields.items():
        if spec.kind in ("dob", "date") and f in records.columns:
            records[f] = _as_date(records[f])
    return {"records": records.reset_index(drop=True), "clusters": sorted_clusters(run), "pairs": pairs,
            "released": released}


def run_meta(run) -> dict[str, Any]:
    """Run metadata for the ``runs`` table (aggregates only; a partial run's missing partners included)."""
    missing = {"sources_missing": sorted(f.source for f in run.failures)} if getattr(run, "failures", None) else {}
    return {"config_hash": run.cfg.hash(), "version": VERSION, "threshold": float(run.threshold),
            "sources": sorted(b.source for b in run.batches), "id_column": run.cfg.id_column,
            "timings_seconds": dict(run.timings), **missing}


def private_columns(cfg) -> list[str]:
    """Columns partners may not read by default: every field of kind ``nino``."""
    return [f for f, spec in cfg.fields.items() if spec.kind == "nino"]


def store_run(url: str | os.PathLike, run, run_id: str, *, pairs: pd.DataFrame, released: pd.DataFrame,
              state: Mapping[str, pd.DataFrame] | None = None,
              log: Mapping[str, pd.DataFrame] | None = None, attempt: str | None = None,
              expect_state: StateVersion | None = None, extra_meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a finished run into the store at ``url`` (:func:`run_tables`, with an incremental run's ``state``
    and ``log`` tables, in the same transaction, if the state is still at ``expect_state``); ``attempt`` and
    ``extra_meta`` go into the run's metadata. Returns row counts and the seconds taken."""
    t0 = time.perf_counter()
    meta = {**run_meta(run), **(extra_meta or {}), **({"attempt": attempt} if attempt else {})}
    with open_store(url, private_columns=private_columns(run.cfg)) as st:
        tables = run_tables(run, pairs=pairs, released=released)
        counts = st.write_run(run_id, tables, meta, state=state, log=log, expect_state=expect_state)
    return {**counts, "seconds": round(time.perf_counter() - t0, 3), "store": describe(url)}


def stored_attempt(url: str | os.PathLike, run_id: str) -> str | None:
    """The attempt token the store at ``url`` records for run ``run_id`` (None: no such run, or no store file
    yet). A store that cannot be opened raises its one-line error."""
    kind, target = parse_url(url)
    if kind == "duckdb" and not Path(target).exists():
        return None
    with open_store(url) as st:
        info = st.run_info(run_id)
    return None if info is None else info["meta"].get("attempt")


__all__ = [
    "TABLES", "STATE_TABLES", "STATE_HEAD", "LOG_TABLES", "LABELS", "LABEL_COLUMNS", "RUNS", "PARTNER_VIEW", "Store", "StoreError",
    "StoreConflict", "StateVersion", "DuckDBStore", "PostgresStore", "open_store", "parse_url", "describe",
    "run_tables", "run_meta", "private_columns", "sorted_clusters", "in_text_order", "store_run", "stored_attempt", "logical_type",
]
