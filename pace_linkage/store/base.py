"""What both store back ends share: the tables, their SQL types, store locations (URLs), and
:class:`Store`, the logic of writing and reading a run over a connection a subclass supplies
(:class:`pace_linkage.store.duckdb.DuckDBStore`, :class:`pace_linkage.store.postgres.PostgresStore`). The rules
are in :mod:`pace_linkage.store.database`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pace_linkage.errors import ConfigError, PaceError
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
    "id_history": "run_id, seq", "removed_records": "run_id, source, record_id", "labels": "seq",
    "released": "1, 2, 3, 4, 5, 6",  # run_id, to_source, the id column (its name varies), from_source, field, value
}
RUNS = "runs"
# Append-only: the labels an analyst gave pairs in the workbench (pair keys, label, a number counting on across
# the store; ``run_id`` = the run the label was given on). No field values. Incremental runs read it (persist).
LABELS = "labels"
LABEL_COLUMNS = ("source_l", "record_id_l", "source_r", "record_id_r", "label")
# One row: how many incremental runs have replaced the state, and the last of them. A run reads it with the state
# and writes only if it is unchanged (Store.write_run's ``expect_state``), so incremental runs are serialisable.
STATE_HEAD = "state_head"
PARTNER_RUNS = "partner_runs"
PG_SCHEMA = "pace"
PARTNER_VIEW = "partner_records"
ROLE_PREFIX = "pace_"
FILE_MODE = 0o600
DIR_MODE = 0o700

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
    error class and SQLSTATE, never its message: PostgreSQL quotes the offending row in COPY errors.
    ``maybe_committed``: the error came from the COMMIT itself, so the run may be in the store after all."""

    exit_code = 6
    maybe_committed = False


class StoreConflict(StoreError):
    """Another incremental run changed the state after this run read it: nothing was written; run again."""

    exit_code = 7


@dataclass(frozen=True)
class StateVersion:
    """The incremental state a run read: the number of incremental runs applied and the last one's id."""

    serial: int = 0
    run_id: str | None = None


def db_error(location: str, what: str, exc: BaseException) -> StoreError:
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



def quote_ident(name: str) -> str:
    """A quoted SQL identifier (both dialects)."""
    return '"' + str(name).replace('"', '""') + '"'


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
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
                  log: Mapping[str, pd.DataFrame] | None = None,
                  expect_state: StateVersion | None = None) -> dict[str, int]:
        """Write (or replace) run ``run_id``: every table in ``tables`` (names from :data:`TABLES`) and a
        ``runs`` row built from ``meta`` and the row counts, in one transaction. Returns the row counts.

        An incremental run also passes ``state`` (tables of :data:`STATE_TABLES`, each replaced whole) and
        ``log`` (tables of :data:`LOG_TABLES`, this run id's rows replaced): all or nothing, with the rest. With
        ``expect_state`` (the :meth:`state_version` the run read its state at), the write happens only if no
        other incremental run has changed the state since: otherwise :class:`StoreConflict` and nothing is
        written. Writers of one store take turns (PostgreSQL: a transaction-level advisory lock)."""
        run_id = str(run_id)
        frames, extra = self._checked_frames(run_id, tables, state, log)
        counts = {name: int(len(df)) for name, df in frames.items()}
        row = self._runs_row(run_id, frames, meta)

        def body() -> None:
            if state is not None:
                self._stage = f"checking table {STATE_HEAD}"
                self._check_state(expect_state)
            self._write_all(run_id, frames, extra, row, meta)
            if state is not None:
                self._advance_state(run_id)

        self._transaction(f"run {run_id}", body)
        return counts

    def _transaction(self, what: str, body: Callable[[], Any]) -> Any:
        """``body()`` in one transaction, writers taking turns: committed, or rolled back on any error (a
        database error becomes one :class:`StoreError` line naming ``what`` and the stage, never the database's
        message; a serialisation failure a :class:`StoreConflict`)."""
        self._stage = "opening the transaction"
        self._begin()
        try:
            self._lock_writers()
            out = body()
            self._stage = "commit"
            self._commit()
        except PaceError:
            self._rollback()
            raise
        except self._db_errors as exc:
            self._rollback()
            err = (StoreConflict(f"store {self.location}: another run wrote the store at the same time; nothing "
                                 "was written: run again") if self._is_conflict(exc)
                   else db_error(self.location, f"{what}: {self._stage}", exc))
            err.maybe_committed = self._stage == "commit"  # a failed COMMIT may still have committed
        except BaseException:
            self._rollback()
            raise
        else:
            return out
        raise err  # outside the except block: the database's message (it may quote a value) is not chained

    def append_labels(self, run_id: str, labels: pd.DataFrame) -> list[int]:
        """Append ``labels`` (the columns of :data:`LABEL_COLUMNS`, as text) given on run ``run_id`` to the
        append-only :data:`LABELS` table, in one transaction, numbered (``seq``) on from the table's last number in
        their order. The table is made from the first frame. Returns the numbers given."""
        run_id = str(run_id)
        if not run_id:
            raise ConfigError("store: run id is empty")
        missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
        if missing:
            raise ConfigError(f"store: table {LABELS}: missing column(s) {', '.join(missing)}")
        frame = labels[list(LABEL_COLUMNS)].astype(str).reset_index(drop=True)

        def body() -> list[int]:
            self._stage = f"reading table {LABELS}"
            last = self._fetch(f"SELECT max(seq) FROM {self._t(LABELS)}") if self._column_types(LABELS) else []
            start = int(last[0][0]) + 1 if last and last[0][0] is not None else 1
            numbered = frame.assign(seq=np.arange(start, start + len(frame), dtype=np.int64))
            self._stage = f"writing table {LABELS}"
            self._ensure_table(LABELS, numbered)
            if len(numbered):
                self._write_table(LABELS, numbered, run_id)
            return numbered["seq"].tolist()

        return self._transaction(f"labels of run {run_id}", body)

    def _checked_frames(self, run_id: str, tables: Mapping[str, pd.DataFrame],
                        state: Mapping[str, pd.DataFrame] | None, log: Mapping[str, pd.DataFrame] | None
                        ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """The run tables and the state and log tables to write, in order; ConfigError on a misuse."""
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
        return frames, extra

    def _write_all(self, run_id: str, frames: Mapping[str, pd.DataFrame], extra: Mapping[str, pd.DataFrame],
                   row: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        """Inside the write transaction: the run's rows (replacing the run id's), the state and log tables,
        the ``runs`` row and partner access."""
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
        self._execute(f"INSERT INTO {self._t(RUNS)} ({', '.join(map(quote_ident, cols))}) VALUES "
                      f"({', '.join(['%s'] * len(cols))})", [row[c] for c in cols])
        self._stage = "granting partner access"
        self._after_write(frames, meta)

    # the incremental state's version --------------------------------------------------------------
    def state_version(self) -> StateVersion:
        """The state's version now (read it before the state: see :meth:`write_run`'s ``expect_state``)."""
        if not self._column_types(STATE_HEAD):
            return StateVersion()
        rows = self._query(f"SELECT serial, run_id FROM {self._t(STATE_HEAD)}")
        return StateVersion() if rows.empty else StateVersion(int(rows["serial"].iloc[0]), str(rows["run_id"].iloc[0]))

    def _head_in_transaction(self) -> StateVersion:
        if not self._column_types(STATE_HEAD):
            return StateVersion()
        rows = self._fetch(f"SELECT serial, run_id FROM {self._t(STATE_HEAD)}{self._for_update}")
        return StateVersion(int(rows[0][0]), str(rows[0][1])) if rows else StateVersion()

    def _check_state(self, expected: StateVersion | None) -> None:
        current = self._head_in_transaction()
        if expected is not None and current != expected:
            raise StoreConflict(f"store {self.location}: the store changed since this run read its state (run "
                                f"{current.run_id} was applied); nothing was written: run again")

    def _advance_state(self, run_id: str) -> None:
        self._stage = f"writing table {STATE_HEAD}"
        serial = self._head_in_transaction().serial
        types = _SQL_TYPES[self.dialect]
        self._execute(f"CREATE TABLE IF NOT EXISTS {self._t(STATE_HEAD)} (serial {types['bigint']} NOT NULL, "
                      f"run_id {types['text']} NOT NULL)")
        self._execute(f"DELETE FROM {self._t(STATE_HEAD)}")
        self._execute(f"INSERT INTO {self._t(STATE_HEAD)} (serial, run_id) VALUES (%s, %s)", [serial + 1, run_id])

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

    def last_run_id(self) -> str | None:
        """The id of the run written last (ties: the greatest id); None when no run is stored."""
        if not self._column_types(RUNS):
            return None
        last = self._query(f"SELECT run_id FROM {self._t(RUNS)} ORDER BY written_at DESC, run_id DESC LIMIT 1")
        return None if last.empty else str(last["run_id"].iloc[0])

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        """A stored run's partners (``sources``, a list) and metadata (``meta``, a dict); None if there is no
        such run."""
        if not self._column_types(RUNS):
            return None
        runs = self._query(f"SELECT sources, meta FROM {self._t(RUNS)} WHERE run_id = %s", [str(run_id)])
        if runs.empty:
            return None
        return {"sources": [x for x in str(runs["sources"].iloc[0] or "").split(",") if x],
                "meta": json.loads(runs["meta"].iloc[0] or "{}")}

    def read(self, name: str, run_id: str | None = None) -> pd.DataFrame:
        """One table (optionally one run's rows), in a stable order."""
        if name not in (*TABLES, RUNS, *STATE_TABLES, *LOG_TABLES, LABELS):
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
        return quote_ident(name)

    def _column_types(self, name: str) -> dict[str, str]:
        """Existing columns of a table -> SQL type (upper case); empty if the table does not exist."""
        raise NotImplementedError

    def _existing_run_tables(self) -> list[str]:
        return [t for t in TABLES if self._column_types(t)]

    def _ensure_runs_table(self) -> None:
        types = _SQL_TYPES[self.dialect]
        cols = ", ".join(f"{quote_ident(c)} {types[lt]}" for c, lt in _RUNS_COLUMNS)
        stamp = "TIMESTAMPTZ DEFAULT now()" if self.dialect == "postgresql" else "TIMESTAMP WITH TIME ZONE DEFAULT now()"
        self._execute(f"CREATE TABLE IF NOT EXISTS {self._t(RUNS)} ({cols}, written_at {stamp}, PRIMARY KEY (run_id))")

    def _ensure_table(self, name: str, df: pd.DataFrame) -> None:
        """Create the table from the frame, or add the frame's new columns; refuse a changed type."""
        types = _SQL_TYPES[self.dialect]
        wanted = {str(c): types[logical_type(df[c])] for c in df.columns}
        existing = self._column_types(name)
        if not existing:
            cols = ", ".join([f"run_id {types['text']} NOT NULL"] + [f"{quote_ident(c)} {t}" for c, t in wanted.items()])
            key = _KEYED.get(name)
            pk = f", PRIMARY KEY (run_id, {', '.join(map(quote_ident, key))})" if key and self.dialect == "postgresql" else ""
            self._execute(f"CREATE TABLE {self._t(name)} ({cols}{pk})")
            if self.dialect == "postgresql" and name == "pairs":
                self._execute(f"CREATE INDEX IF NOT EXISTS pairs_run_id ON {self._t(name)} (run_id)")
            return
        for col, sql_type in wanted.items():
            have = existing.get(col)
            if have is None:
                self._execute(f"ALTER TABLE {self._t(name)} ADD COLUMN {quote_ident(col)} {sql_type}")
            elif not _same_type(have, sql_type):
                raise ConfigError(f"store {self.location}: table {name} column {col} is {have} in the store "
                                  f"but {sql_type} in this run")

    # dialect hooks ---------------------------------------------------------------------------------
    def _begin(self) -> None: ...
    def _commit(self) -> None: ...
    def _rollback(self) -> None: ...
    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...
    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]: ...
    def _lock_writers(self) -> None: ...
    def _is_conflict(self, exc: BaseException) -> bool: return False
    _for_update = ""
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

