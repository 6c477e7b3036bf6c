"""The PostgreSQL back end: schema ``pace``, rows loaded with ``COPY``, and per-partner access (roles,
row-level security, column privileges, the partner view)."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from pace_linkage.errors import ConfigError, InputError
from pace_linkage.schema import RECORD_ID, SOURCE
from pace_linkage.store.base import (
    PARTNER_RUNS,
    PARTNER_VIEW,
    PG_SCHEMA,
    ROLE_PREFIX,
    RUNS,
    Store,
    db_error,
    quote_ident,
)
from pace_linkage.store.urls import describe

COPY_CHUNK_ROWS = 200_000
PARTNER_RUN_COLUMNS = ("run_id", "written_at", "config_hash", "version", "threshold")
WRITE_LOCK_KEY = 0x70616365  # the advisory lock every writer of a pace store takes ("pace")


class PostgresStore(Store):
    """Schema ``pace`` on a PostgreSQL server; rows loaded with ``COPY ... FROM STDIN (FORMAT csv)``."""

    dialect = "postgresql"

    def __init__(self, conninfo: str, *, private_columns: Sequence[str] = ("nino",), create: bool = True):
        super().__init__(private_columns=private_columns)
        import psycopg

        self._db_errors = (psycopg.Error,)
        self.location = describe(conninfo)
        try:
            self.con = psycopg.connect(conninfo, autocommit=False)
        except psycopg.Error as exc:
            raise InputError(f"store {self.location}: cannot connect ({type(exc).__name__})") from None
        if not create:  # reading: the schema is not made (a store no run wrote has no tables)
            return
        try:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(PG_SCHEMA)}")
            self.con.execute(f"REVOKE ALL ON SCHEMA {quote_ident(PG_SCHEMA)} FROM PUBLIC")
            self.con.commit()
        except psycopg.Error as exc:
            self.close()
            err = db_error(self.location, f"creating schema {PG_SCHEMA}", exc)
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
        return f"{quote_ident(PG_SCHEMA)}.{quote_ident(name)}"

    def _begin(self) -> None:
        pass  # psycopg opens a transaction on the first statement (autocommit off)

    def _commit(self) -> None:
        self.con.commit()

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.con.rollback()

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()

    _for_update = " FOR UPDATE"

    def _lock_writers(self) -> None:
        """One writer at a time per database, until the transaction ends (no privilege needed)."""
        self.con.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])

    def _is_conflict(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected))

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
        cols = ", ".join(["run_id", *(quote_ident(c) for c in df.columns)])
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
                          f"USING (current_user = '{ROLE_PREFIX}' || {quote_ident(column)})")
        ids = [c for c in cl_cols if c == id_column or c.startswith(id_column + "_")] or [
            c for c in cl_cols if c not in ("run_id", SOURCE, RECORD_ID)]
        rec_view_cols = [c for c in rec_visible if c not in ("run_id", SOURCE, RECORD_ID)]
        view_cols = (["r.run_id", "r.source", "r.record_id"] + [f"c.{quote_ident(c)}" for c in ids]
                     + [f"r.{quote_ident(c)}" for c in rec_view_cols if c not in ids])
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
            role = quote_ident(ROLE_PREFIX + src)
            if ROLE_PREFIX + src not in existing:
                self._execute(f"CREATE ROLE {role} NOLOGIN")
            self._execute(f"GRANT USAGE ON SCHEMA {quote_ident(PG_SCHEMA)} TO {role}")
            self._execute(f"REVOKE ALL ON {self._t('records')}, {self._t('clusters')}, {self._t('pairs')} FROM {role}"
                          if self._column_types("pairs") else
                          f"REVOKE ALL ON {self._t('records')}, {self._t('clusters')} FROM {role}")
            self._execute(f"GRANT SELECT ({', '.join(map(quote_ident, rec_visible))}) ON {self._t('records')} TO {role}")
            self._execute(f"GRANT SELECT ({', '.join(map(quote_ident, cl_visible))}) ON {self._t('clusters')} TO {role}")
            self._execute(f"GRANT SELECT ON {view} TO {role}")
            if released:
                self._execute(f"GRANT SELECT ON {self._t('released')} TO {role}")
        stored = {r[0] for r in self._fetch(f"SELECT DISTINCT unnest(string_to_array(sources, ',')) FROM "
                                            f"{self._t(RUNS)}") if r[0]}  # every partner of every stored run
        self._share_runs(sorted(ROLE_PREFIX + s for s in stored | set(sources)
                                if re.fullmatch(r"[a-z0-9_]+", s) and (s in sources or ROLE_PREFIX + s in existing)))

    def _share_runs(self, roles: Sequence[str]) -> None:
        """What a partner role reads of ``runs``: only the runs it took part in (row-level security on the
        ``sources`` list), and of them only the id, time, version, threshold and config hash (column
        privileges): never the other partners, the totals or the metadata. ``partner_runs`` (security_invoker)
        adds the role's own record count per run, counted through the records' row-level security."""
        runs = self._t(RUNS)
        self._execute(f"ALTER TABLE {runs} ENABLE ROW LEVEL SECURITY")
        self._execute(f"DROP POLICY IF EXISTS partner_own_runs ON {runs}")
        self._execute(f"CREATE POLICY partner_own_runs ON {runs} FOR SELECT USING (EXISTS (SELECT 1 FROM "
                      f"unnest(string_to_array(sources, ',')) AS s(name) WHERE current_user = '{ROLE_PREFIX}' "
                      "|| s.name))")
        view = self._t(PARTNER_RUNS)
        self._execute(f"DROP VIEW IF EXISTS {view}")
        self._execute(f"CREATE VIEW {view} WITH (security_invoker = true) AS SELECT u.run_id, u.written_at, "
                      f"u.version, u.threshold, count(r.record_id) AS records FROM {runs} u JOIN "
                      f"{self._t('records')} r ON r.run_id = u.run_id "
                      "GROUP BY u.run_id, u.written_at, u.version, u.threshold")
        shown = ", ".join(quote_ident(c) for c in PARTNER_RUN_COLUMNS)
        for name in roles:
            role = quote_ident(name)
            self._execute(f"REVOKE ALL ON {runs} FROM {role}")
            self._execute(f"GRANT SELECT ({shown}) ON {runs} TO {role}")
            self._execute(f"GRANT SELECT ON {view} TO {role}")


def _csv_chunks(df: pd.DataFrame, run_id: str) -> Iterator[bytes]:
    """CSV rows (no header) with ``run_id`` first, in chunks; missing values as unquoted empty (NULL)."""
    for start in range(0, max(len(df), 1), COPY_CHUNK_ROWS):
        part = df.iloc[start:start + COPY_CHUNK_ROWS]
        if part.empty:
            return
        part = part.copy()
        part.insert(0, "run_id", run_id)
        buf = io.StringIO()
        part.to_csv(buf, index=False, header=False, lineterminator="\n")
        yield buf.getvalue().encode("utf-8")
