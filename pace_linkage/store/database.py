"""The central store: a run's canonical records, pairs, clusters and metadata in one database.

Two back ends behind one interface (:func:`open_store`):

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

Rules:

* :meth:`Store.write_run` writes all tables of a run in **one transaction**. It first deletes the run id's
  rows, so writing the same run id again *replaces* the run (no duplicates); an error anywhere rolls the
  whole write back, so the store keeps the previous results intact.
* Columns follow the frames: a table is created from the first frame written to it, and columns a later
  run brings (a new field, a new comparison) are added. A column the run lacks is NULL for that run. A
  column whose type changed is refused (a ``ConfigError`` naming table and column).
* Types come from the frames: text, integers, floats, booleans, and dates (``dob``/``date`` fields are
  stored as SQL ``DATE``). On PostgreSQL an empty text value is stored as NULL (``COPY`` in CSV form).
* Messages name tables, columns and the store, never a value; a PostgreSQL URL is shown without password.

Partner access (PostgreSQL only):

* Each partner (source) gets a role ``pace_<source>`` (created ``NOLOGIN`` if missing: the DBA grants
  login). It has no privilege on ``pairs`` (pairs cross partners) and none on ``runs`` beyond reading it.
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

import contextlib
import datetime as _dt
import io
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from pace_linkage.errors import ConfigError, InputError, PaceError
from pace_linkage.schema import RECORD_ID, SOURCE

TABLES = ("records", "clusters", "pairs", "released")  # run tables, written in this order
# Incremental linkage (pace_linkage.incremental.batch): the system's current state, replaced whole by each
# incremental run (``run_id`` = the run that wrote it), and append-only logs keyed by run id.
STATE_TABLES = ("state_records", "state_assignments", "state_ids", "state_clerical", "state_model")
LOG_TABLES = ("id_history", "removed_records")
_ORDER = {
    "state_records": "source, record_id", "state_assignments": "source, record_id",
    "state_ids": "2",  # run_id, then the id column (its name varies)
    "state_clerical": "source_l, record_id_l, source_r, record_id_r", "state_model": "run_id",
    "id_history": "run_id, seq", "removed_records": "run_id, source, record_id",
    "released": "1, 2, 3, 4, 5, 6",  # run_id, to_source, the id column (its name varies), from_source, field, value
}
RUNS = "runs"
PG_SCHEMA = "pace"
PARTNER_VIEW = "partner_records"
ROLE_PREFIX = "pace_"
FILE_MODE = 0o600
DIR_MODE = 0o700
_COPY_CHUNK_ROWS = 200_000

# logical type -> SQL type per dialect
_SQL_TYPES = {
    "duckdb": {"text": "VARCHAR", "date": "DATE", "smallint": "SMALLINT", "integer": "INTEGER", "bigint": "BIGINT",
               "double": "DOUBLE", "boolean": "BOOLEAN"},
    "postgresql": {"text": "text", "date": "date", "smallint": "smallint", "integer": "integer", "bigint": "bigint",
                   "double": "double precision", "boolean": "boolean"},
}
_RUNS_COLUMNS = [("run_id", "text"), ("config_hash", "text"), ("version", "text"), ("threshold", "double"),
                 ("records", "bigint"), ("pairs", "bigint"), ("clusters", "bigint"), ("sources", "text"),
                 ("meta", "text")]
_KEYED = {"records": (SOURCE, RECORD_ID), "clusters": (SOURCE, RECORD_ID)}  # primary key after run_id (PostgreSQL)


class StoreError(PaceError):
    """Writing to the store failed (the write was rolled back). Names the store, table and the database's
    error class and SQLSTATE, never its message: PostgreSQL quotes the offending row in COPY errors."""

    exit_code = 6


def _db_error(location: str, what: str, exc: BaseException) -> StoreError:
    state = getattr(exc, "sqlstate", None)
    return StoreError(f"store {location}: {what} failed ({type(exc).__name__}"
                      + (f", SQLSTATE {state}" if state else "") + "); the store keeps its previous contents")


# --------------------------------------------------------------------------------------------------
# Frames -> tables
# --------------------------------------------------------------------------------------------------
def logical_type(s: pd.Series) -> str:
    """The store type of a column: booleans, integers by width, floats, dates (Arrow date32, or an object
    column whose first value is a ``datetime.date``), everything else text."""
    dt = s.dtype
    if isinstance(dt, pd.ArrowDtype):
        import pyarrow as pa

        if pa.types.is_date(dt.pyarrow_dtype):
            return "date"
        dt = dt.numpy_dtype
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_integer_dtype(dt):
        size = np.dtype(dt.numpy_dtype if hasattr(dt, "numpy_dtype") else dt).itemsize
        return "smallint" if size <= 2 else "integer" if size == 4 else "bigint"
    if pd.api.types.is_float_dtype(dt):
        return "double"
    if pd.api.types.is_object_dtype(dt):
        first = s.first_valid_index()
        v = s.loc[first] if first is not None else None
        if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
            return "date"
    return "text"


def _as_date(s: pd.Series) -> pd.Series:
    """ISO date text -> Arrow date32 (unparseable or missing -> null)."""
    import pyarrow as pa

    parsed = pd.to_datetime(s.astype("string"), format="%Y-%m-%d", errors="coerce")
    return pd.Series(pa.array(parsed.dt.date.where(parsed.notna(), None), type=pa.date32()),
                     index=s.index, dtype=pd.ArrowDtype(pa.date32()))


def run_tables(run) -> dict[str, pd.DataFrame]:
    """The store's frames of a finished run (a :class:`pace_linkage.evaluate.metrics.RunResults`).

    ``records`` holds key columns, the line, the clean canonical fields (dates as dates) and flags, but not
    the derived blocking columns (``_sound``, ``_area``...), which are recomputable; ``clusters`` and
    ``pairs`` are what ``clusters.csv`` and ``pairs.parquet`` hold; ``released`` what the sharing agreements
    let each partner receive back (:func:`pace_linkage.study.sharing.released_fields`).
    """
    from pace_linkage.evaluate.metrics import pairs_frame
    from pace_linkage.study.sharing import released_fields

    cfg = run.cfg
    rec = run.records
    cols = [c for c in (SOURCE, RECORD_ID, "line") if c in rec.columns]
    cols += [f for f in cfg.fields if f in rec.columns and f not in cols]
    cols += [c for c in ("flags",) if c in rec.columns]
    records = rec[cols].copy()
    for f, spec in cfg.fields.items():
        if spec.kind in ("dob", "date") and f in records.columns:
            records[f] = _as_date(records[f])
    clusters = run.clusters.clusters.sort_values([SOURCE, RECORD_ID], kind="stable").reset_index(drop=True)
    released = released_fields(rec, clusters, cfg, cfg.id_column)
    return {"records": records.reset_index(drop=True), "clusters": clusters, "pairs": pairs_frame(run),
            "released": released}


def run_meta(run) -> dict[str, Any]:
    """Run metadata for the ``runs`` table (aggregates only)."""
    import pace_linkage

    return {"config_hash": run.cfg.hash(), "version": pace_linkage.__version__, "threshold": float(run.threshold),
            "sources": sorted(b.source for b in run.batches), "id_column": run.cfg.id_column,
            "timings_seconds": dict(run.timings)}


def private_columns(cfg) -> list[str]:
    """Columns partners may not read by default: every field of kind ``nino``."""
    return [f for f, spec in cfg.fields.items() if spec.kind == "nino"]


def store_run(url: str | os.PathLike, run, run_id: str, *, state: Mapping[str, pd.DataFrame] | None = None,
              log: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Write a finished run into the store at ``url`` (with an incremental run's ``state`` and ``log``
    tables, in the same transaction); returns row counts and the seconds taken."""
    t0 = time.perf_counter()
    with open_store(url, private_columns=private_columns(run.cfg)) as st:
        counts = st.write_run(run_id, run_tables(run), run_meta(run), state=state, log=log)
    return {**counts, "seconds": round(time.perf_counter() - t0, 3), "store": describe(url)}


def partner_outbound(url: str | os.PathLike, partner: str, run_id: str | None = None) -> tuple[str, pd.DataFrame]:
    """``(run id, view)``: what ``partner`` may see of a stored run (default: the run written last), as
    :func:`pace_linkage.study.sharing.outbound_view` gives it: its own records with their pace id, and what other
    partners' agreements release to it. Names the partner and run only in errors, never a value."""
    from pace_linkage.study.sharing import outbound_view

    with open_store(url) as st:
        if not st.has_table(RUNS):
            raise ConfigError(f"store {st.location}: no run stored yet")
        if run_id is None:
            last = st._query(f"SELECT run_id FROM {st._t(RUNS)} ORDER BY written_at DESC, run_id DESC LIMIT 1")
            if last.empty:
                raise ConfigError(f"store {st.location}: no run stored yet")
            run_id = str(last["run_id"].iloc[0])
        runs = st._query(f"SELECT sources, meta FROM {st._t(RUNS)} WHERE run_id = %s", [str(run_id)])
        if runs.empty:
            raise ConfigError(f"store {st.location}: no run '{run_id}'")
        sources = [x for x in str(runs["sources"].iloc[0] or "").split(",") if x]
        if partner not in sources:
            raise ConfigError(f"store {st.location}: run '{run_id}' has no partner '{partner}' "
                              f"(partners: {', '.join(sources) or 'none'})")
        id_column = str(json.loads(runs["meta"].iloc[0] or "{}").get("id_column", "pace_id"))
        clusters = st.read("clusters", run_id).drop(columns=["run_id"])
        released = (st.read("released", run_id).drop(columns=["run_id"]) if st.has_table("released")
                    else pd.DataFrame(columns=["to_source", id_column, "from_source", "field", "value"]))
    return str(run_id), outbound_view(clusters, released, partner, id_column)


# --------------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------------
def parse_url(url: str | os.PathLike) -> tuple[str, str]:
    """``("duckdb", path)`` or ``("postgresql", conninfo)``. Anything else with a scheme is refused."""
    text = str(url).strip()
    if not text:
        raise ConfigError("--store: empty store location")
    low = text.lower()
    if low.startswith(("postgresql://", "postgres://")):
        try:
            password = urlsplit(text).password
        except ValueError:
            raise ConfigError("--store: not a valid postgresql:// URL") from None
        if password or re.search(r"[?&]password=", text, re.IGNORECASE):
            raise ConfigError("--store: a password in the URL is refused (it would be recorded with the run's "
                              "parameters); use PGPASSWORD or ~/.pgpass")
        return "postgresql", text
    if low.startswith("duckdb://"):
        path = text[len("duckdb://"):]
        if not path:
            raise ConfigError("--store: duckdb:// needs a file path (duckdb:///abs/path.duckdb)")
        return "duckdb", path
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if m:
        raise ConfigError(f"--store: unsupported scheme '{m.group(1)}' (use a path, duckdb:///path or postgresql://)")
    return "duckdb", text


def describe(url: str | os.PathLike) -> str:
    """The store location for messages: a PostgreSQL URL without its password or query."""
    kind, target = parse_url(url)
    if kind == "duckdb":
        return f"duckdb:{target}"
    parts = urlsplit(target)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def open_store(url: str | os.PathLike, *, private_columns: Sequence[str] = ("nino",)) -> Store:
    """Open (creating if needed) the store at ``url``; see the module docstring for the forms."""
    kind, target = parse_url(url)
    if kind == "postgresql":
        return PostgresStore(target, private_columns=private_columns)
    return DuckDBStore(Path(target), private_columns=private_columns)


def _q(name: str) -> str:
    """A quoted SQL identifier (both dialects)."""
    return '"' + str(name).replace('"', '""') + '"'


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """Files created meanwhile (the database file, its WAL) are 0600: umask 077 while the store is open.
    The umask is process-wide; the project's policy is 0600/0700 for everything it writes anyway."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------
class Store:
    """Common logic; subclasses supply the connection and the bulk load."""

    dialect = ""
    _db_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, *, private_columns: Sequence[str] = ("nino",)):
        self.private_columns = [str(c) for c in private_columns]
        self.location = ""
        self._stage = ""

    # context manager ------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # public API -----------------------------------------------------------------------------------
    def write_run(self, run_id: str, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, Any], *,
                  state: Mapping[str, pd.DataFrame] | None = None,
                  log: Mapping[str, pd.DataFrame] | None = None) -> dict[str, int]:
        """Write (or replace) run ``run_id``: every table in ``tables`` (names from :data:`TABLES`) and a
        ``runs`` row built from ``meta`` and the row counts, in one transaction. Returns the row counts.

        An incremental run also passes ``state`` (tables of :data:`STATE_TABLES`, each replaced whole) and
        ``log`` (tables of :data:`LOG_TABLES`, this run id's rows replaced): all or nothing, with the rest."""
        run_id = str(run_id)
        if not run_id:
            raise ConfigError("store: run id is empty")
        unknown = sorted(set(tables) - set(TABLES))
        unknown += sorted(set(state or {}) - set(STATE_TABLES)) + sorted(set(log or {}) - set(LOG_TABLES))
        if unknown:
            raise ConfigError(f"store: unknown table(s) {', '.join(unknown)} "
                              f"(tables: {', '.join(TABLES + STATE_TABLES + LOG_TABLES)})")
        frames = {name: tables[name] for name in TABLES if name in tables}
        extra = {**{n: (state or {})[n] for n in STATE_TABLES if n in (state or {})},
                 **{n: (log or {})[n] for n in LOG_TABLES if n in (log or {})}}
        for name, df in {**frames, **extra}.items():
            if "run_id" in df.columns:
                raise ConfigError(f"store: table {name}: the frame must not carry a run_id column")
        counts = {name: int(len(df)) for name, df in frames.items()}
        row = self._runs_row(run_id, frames, meta)
        self._stage = "opening the transaction"
        self._begin()
        try:
            self._stage = "preparing tables"
            self._ensure_runs_table()
            for name, df in frames.items():
                self._ensure_table(name, df)
            for name in self._existing_run_tables():
                self._execute(f"DELETE FROM {self._t(name)} WHERE run_id = %s", [run_id])
            self._execute(f"DELETE FROM {self._t(RUNS)} WHERE run_id = %s", [run_id])
            for name, df in frames.items():
                self._stage = f"writing table {name}"
                self._write_table(name, df, run_id)
            for name, df in extra.items():
                self._stage = f"writing table {name}"
                self._ensure_table(name, df)
                self._execute(f"DELETE FROM {self._t(name)}" + (" WHERE run_id = %s" if name in LOG_TABLES else ""),
                              [run_id] if name in LOG_TABLES else None)
                if len(df):
                    self._write_table(name, df, run_id)
            self._stage = f"writing table {RUNS}"
            cols = [c for c, _ in _RUNS_COLUMNS]
            self._execute(f"INSERT INTO {self._t(RUNS)} ({', '.join(map(_q, cols))}) VALUES "
                          f"({', '.join(['%s'] * len(cols))})", [row[c] for c in cols])
            self._stage = "granting partner access"
            self._after_write(frames, meta)
            self._stage = "commit"
            self._commit()
        except PaceError:
            self._rollback()
            raise
        except self._db_errors as exc:
            self._rollback()
            err = _db_error(self.location, f"run {run_id}: {self._stage}", exc)
        except BaseException:
            self._rollback()
            raise
        else:
            return counts
        raise err  # outside the except block: the database's message (it may quote a value) is not chained

    def read_state(self) -> dict[str, pd.DataFrame]:
        """The incremental state tables that exist (empty dict for a store no incremental run wrote)."""
        return {name: self.read(name).drop(columns=["run_id"]) if name != "state_model" else self.read(name)
                for name in STATE_TABLES if self._column_types(name)}

    def has_table(self, name: str) -> bool:
        return bool(self._column_types(name))

    def has_run(self, run_id: str) -> bool:
        if not self._column_types(RUNS):
            return False
        return bool(len(self._query(f"SELECT run_id FROM {self._t(RUNS)} WHERE run_id = %s", [str(run_id)])))

    def runs(self) -> pd.DataFrame:
        """The ``runs`` table, ordered by run id."""
        return self._query(f"SELECT * FROM {self._t(RUNS)} ORDER BY run_id")

    def read(self, name: str, run_id: str | None = None) -> pd.DataFrame:
        """One table (optionally one run's rows), in a stable order."""
        if name not in (*TABLES, RUNS, *STATE_TABLES, *LOG_TABLES):
            raise ConfigError(f"store: unknown table {name}")
        order = _ORDER.get(name) or ("run_id" if name == RUNS else "run_id, " + (
            "source, record_id" if name in _KEYED else "source_l, record_id_l, source_r, record_id_r"))
        where, params = ("WHERE run_id = %s", [run_id]) if run_id is not None else ("", [])
        return self._query(f"SELECT * FROM {self._t(name)} {where} ORDER BY {order}", params)

    # helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _runs_row(run_id: str, frames: Mapping[str, pd.DataFrame], meta: Mapping[str, Any]) -> dict[str, Any]:
        cl = frames.get("clusters")
        id_col = str(meta.get("id_column", "pace_id"))
        n_clusters = int(cl[id_col].nunique()) if cl is not None and id_col in cl.columns else None
        sources = meta.get("sources")
        if sources is None and "records" in frames:
            sources = sorted(frames["records"][SOURCE].dropna().astype(str).unique().tolist())
        return {
            "run_id": run_id, "config_hash": meta.get("config_hash"), "version": meta.get("version"),
            "threshold": float(meta["threshold"]) if meta.get("threshold") is not None else None,
            "records": len(frames["records"]) if "records" in frames else None,
            "pairs": len(frames["pairs"]) if "pairs" in frames else None,
            "clusters": n_clusters, "sources": ",".join(sources or []),
            "meta": json.dumps(dict(meta), sort_keys=True, default=str),
        }

    def _t(self, name: str) -> str:
        return _q(name)

    def _column_types(self, name: str) -> dict[str, str]:
        """Existing columns of a table -> SQL type (upper case); empty if the table does not exist."""
        raise NotImplementedError

    def _existing_run_tables(self) -> list[str]:
        return [t for t in TABLES if self._column_types(t)]

    def _ensure_runs_table(self) -> None:
        types = _SQL_TYPES[self.dialect]
        cols = ", ".join(f"{_q(c)} {types[lt]}" for c, lt in _RUNS_COLUMNS)
        stamp = "TIMESTAMPTZ DEFAULT now()" if self.dialect == "postgresql" else "TIMESTAMP WITH TIME ZONE DEFAULT now()"
        self._execute(f"CREATE TABLE IF NOT EXISTS {self._t(RUNS)} ({cols}, written_at {stamp}, PRIMARY KEY (run_id))")

    def _ensure_table(self, name: str, df: pd.DataFrame) -> None:
        """Create the table from the frame, or add the frame's new columns; refuse a changed type."""
        types = _SQL_TYPES[self.dialect]
        wanted = {str(c): types[logical_type(df[c])] for c in df.columns}
        existing = self._column_types(name)
        if not existing:
            cols = ", ".join([f"run_id {types['text']} NOT NULL"] + [f"{_q(c)} {t}" for c, t in wanted.items()])
            key = _KEYED.get(name)
            pk = f", PRIMARY KEY (run_id, {', '.join(map(_q, key))})" if key and self.dialect == "postgresql" else ""
            self._execute(f"CREATE TABLE {self._t(name)} ({cols}{pk})")
            if self.dialect == "postgresql" and name == "pairs":
                self._execute(f"CREATE INDEX IF NOT EXISTS pairs_run_id ON {self._t(name)} (run_id)")
            return
        for col, sql_type in wanted.items():
            have = existing.get(col)
            if have is None:
                self._execute(f"ALTER TABLE {self._t(name)} ADD COLUMN {_q(col)} {sql_type}")
            elif not _same_type(have, sql_type):
                raise ConfigError(f"store {self.location}: table {name} column {col} is {have} in the store "
                                  f"but {sql_type} in this run")

    # dialect hooks ---------------------------------------------------------------------------------
    def _begin(self) -> None: ...
    def _commit(self) -> None: ...
    def _rollback(self) -> None: ...
    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...
    def _query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame: ...
    def _write_table(self, name: str, df: pd.DataFrame, run_id: str) -> None: ...

    def _after_write(self, frames: Mapping[str, pd.DataFrame], meta: Mapping[str, Any]) -> None:
        """Inside the write transaction, after the rows: PostgreSQL sets partner access here."""


_TYPE_ALIASES = {"VARCHAR": "TEXT", "CHARACTER VARYING": "TEXT", "DOUBLE PRECISION": "DOUBLE", "INT2": "SMALLINT",
                 "INT4": "INTEGER", "INT8": "BIGINT", "FLOAT8": "DOUBLE", "BOOL": "BOOLEAN"}


def _same_type(a: str, b: str) -> bool:
    def norm(t: str) -> str:
        t = t.upper().strip()
        return _TYPE_ALIASES.get(t, t)
    return norm(a) == norm(b)


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------
class DuckDBStore(Store):
    """A single DuckDB file, 0600. Frames are loaded by DuckDB's pandas scan (``register``)."""

    dialect = "duckdb"

    def __init__(self, path: Path, *, private_columns: Sequence[str] = ("nino",)):
        super().__init__(private_columns=private_columns)
        import duckdb

        self._db_errors = (duckdb.Error,)
        self.path = Path(path)
        self.location = f"duckdb:{self.path}"
        if self.path.exists() and self.path.is_dir():
            raise InputError(f"store {self.location}: is a folder, not a database file")
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=DIR_MODE)
        self._umask = _private_umask()
        self._umask.__enter__()
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            self._umask.__exit__(None, None, None)
            raise InputError(f"store {self.location}: cannot open ({type(exc).__name__})") from None
        self._tighten()

    def _tighten(self) -> None:
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            if p.exists():
                os.chmod(p, FILE_MODE)

    def close(self) -> None:
        if getattr(self, "con", None) is not None:
            try:
                self.con.close()
            finally:
                self.con = None
                self._tighten()
                self._umask.__exit__(None, None, None)

    def _begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def _commit(self) -> None:
        self.con.execute("COMMIT")

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.con.execute("ROLLBACK")

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql.replace("%s", "?"), list(params or []))

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql.replace("%s", "?"), list(params or [])).df()

    def _column_types(self, name: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", [name]).fetchall()
        return {c: t for c, t in rows}

    def _write_table(self, name: str, df: pd.DataFrame, run_id: str) -> None:
        view = f"_pace_load_{name}"
        self.con.register(view, df)
        try:
            cols = ", ".join(_q(c) for c in df.columns)
            self.con.execute(f"INSERT INTO {self._t(name)} (run_id, {cols}) SELECT ?, {cols} FROM {_q(view)}", [run_id])
        finally:
            self.con.unregister(view)


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------
class PostgresStore(Store):
    """Schema ``pace`` on a PostgreSQL server; rows loaded with ``COPY ... FROM STDIN (FORMAT csv)``."""

    dialect = "postgresql"

    def __init__(self, conninfo: str, *, private_columns: Sequence[str] = ("nino",)):
        super().__init__(private_columns=private_columns)
        import psycopg

        self._db_errors = (psycopg.Error,)
        self.location = describe(conninfo)
        try:
            self.con = psycopg.connect(conninfo, autocommit=False)
        except psycopg.Error as exc:
            raise InputError(f"store {self.location}: cannot connect ({type(exc).__name__})") from None
        try:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(PG_SCHEMA)}")
            self.con.execute(f"REVOKE ALL ON SCHEMA {_q(PG_SCHEMA)} FROM PUBLIC")
            self.con.commit()
        except psycopg.Error as exc:
            self.close()
            err = _db_error(self.location, f"creating schema {PG_SCHEMA}", exc)
        else:
            return
        raise err

    def close(self) -> None:
        if getattr(self, "con", None) is not None:
            try:
                self.con.close()
            finally:
                self.con = None

    def _t(self, name: str) -> str:
        return f"{_q(PG_SCHEMA)}.{_q(name)}"

    def _begin(self) -> None:
        pass  # psycopg opens a transaction on the first statement (autocommit off)

    def _commit(self) -> None:
        self.con.commit()

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.con.rollback()

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql, params)

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        cur = self.con.execute(sql, params)
        cols = [d.name for d in cur.description]
        out = pd.DataFrame(cur.fetchall(), columns=cols)
        self.con.commit()
        return out

    def _column_types(self, name: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position", [PG_SCHEMA, name]).fetchall()
        return {c: t for c, t in rows}

    def _write_table(self, name: str, df: pd.DataFrame, run_id: str) -> None:
        cols = ", ".join(["run_id", *(_q(c) for c in df.columns)])
        with self.con.cursor().copy(f"COPY {self._t(name)} ({cols}) FROM STDIN (FORMAT csv)") as cp:
            for chunk in _csv_chunks(df, run_id):
                cp.write(chunk)

    # partner access --------------------------------------------------------------------------------
    def _after_write(self, frames: Mapping[str, pd.DataFrame], meta: Mapping[str, Any]) -> None:
        sources = set(meta.get("sources") or [])
        if "records" in frames:
            sources |= set(frames["records"][SOURCE].dropna().astype(str).unique())
        id_col = str(meta.get("id_column", "pace_id"))
        self.grant_partners(sorted(sources), id_col)

    def grant_partners(self, sources: Iterable[str], id_column: str = "pace_id") -> None:
        """Roles, row-level security, column privileges and the partner view (see the module docstring).
        Idempotent; runs inside the caller's transaction."""
        rec_cols = list(self._column_types("records"))
        cl_cols = list(self._column_types("clusters"))
        if not rec_cols or not cl_cols:
            return
        private = set(self.private_columns)
        rec_visible = [c for c in rec_cols if c not in private]
        cl_visible = [c for c in cl_cols if c not in private]
        released = bool(self._column_types("released"))
        owner = {"records": SOURCE, "clusters": SOURCE, **({"released": "to_source"} if released else {})}
        for table, column in owner.items():
            t = self._t(table)
            self._execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
            self._execute(f"DROP POLICY IF EXISTS partner_own_rows ON {t}")
            self._execute(f"CREATE POLICY partner_own_rows ON {t} FOR SELECT "
                          f"USING (current_user = '{ROLE_PREFIX}' || {_q(column)})")
        ids = [c for c in cl_cols if c == id_column or c.startswith(id_column + "_")] or [
            c for c in cl_cols if c not in ("run_id", SOURCE, RECORD_ID)]
        rec_view_cols = [c for c in rec_visible if c not in ("run_id", SOURCE, RECORD_ID)]
        view_cols = (["r.run_id", "r.source", "r.record_id"] + [f"c.{_q(c)}" for c in ids]
                     + [f"r.{_q(c)}" for c in rec_view_cols if c not in ids])
        view = self._t(PARTNER_VIEW)
        self._execute(f"DROP VIEW IF EXISTS {view}")
        self._execute(f"CREATE VIEW {view} WITH (security_invoker = true) AS SELECT {', '.join(view_cols)} "
                      f"FROM {self._t('records')} r JOIN {self._t('clusters')} c "
                      f"ON c.run_id = r.run_id AND c.source = r.source AND c.record_id = r.record_id")
        existing = {r[0] for r in self.con.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                                   [ROLE_PREFIX + "%"]).fetchall()}
        for src in sources:
            if not re.fullmatch(r"[a-z0-9_]+", src):
                raise ConfigError("store: a source name is not lower-case letters, digits and underscores")
            role = _q(ROLE_PREFIX + src)
            if ROLE_PREFIX + src not in existing:
                self._execute(f"CREATE ROLE {role} NOLOGIN")
            self._execute(f"GRANT USAGE ON SCHEMA {_q(PG_SCHEMA)} TO {role}")
            self._execute(f"REVOKE ALL ON {self._t('records')}, {self._t('clusters')}, {self._t('pairs')} FROM {role}"
                          if self._column_types("pairs") else
                          f"REVOKE ALL ON {self._t('records')}, {self._t('clusters')} FROM {role}")
            self._execute(f"GRANT SELECT ({', '.join(map(_q, rec_visible))}) ON {self._t('records')} TO {role}")
            self._execute(f"GRANT SELECT ({', '.join(map(_q, cl_visible))}) ON {self._t('clusters')} TO {role}")
            self._execute(f"GRANT SELECT ON {view} TO {role}")
            if released:
                self._execute(f"GRANT SELECT ON {self._t('released')} TO {role}")
            self._execute(f"GRANT SELECT ON {self._t(RUNS)} TO {role}")


def _csv_chunks(df: pd.DataFrame, run_id: str) -> Iterator[bytes]:
    """CSV rows (no header) with ``run_id`` first, in chunks; missing values as unquoted empty (NULL)."""
    for start in range(0, max(len(df), 1), _COPY_CHUNK_ROWS):
        part = df.iloc[start:start + _COPY_CHUNK_ROWS]
        if part.empty:
            return
        part = part.copy()
        part.insert(0, "run_id", run_id)
        buf = io.StringIO()
        part.to_csv(buf, index=False, header=False, lineterminator="\n")
        yield buf.getvalue().encode("utf-8")


__all__ = [
    "TABLES", "STATE_TABLES", "LOG_TABLES", "RUNS", "PARTNER_VIEW", "Store", "StoreError", "DuckDBStore", "PostgresStore", "open_store", "parse_url", "describe",
    "run_tables", "run_meta", "private_columns", "store_run", "logical_type", "partner_outbound",
]
