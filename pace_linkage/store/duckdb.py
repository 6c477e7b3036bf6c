"""The DuckDB back end: one database file, created 0600 (its folder, if new, 0700)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pace_linkage.errors import InputError
from pace_linkage.store.base import DIR_MODE, FILE_MODE, Store, private_umask, quote_ident

OPEN_WAIT_SECONDS = 15.0  # a DuckDB file is opened by one process at a time: wait this long for another's turn


def _held_by_another_process(exc: BaseException) -> bool:
    """DuckDB's "could not set lock on file" (the text is classified here, never shown: it names a PID)."""
    return "lock" in str(exc).lower()


def _connect(path: Path):
    """``duckdb.connect``, waiting (up to :data:`OPEN_WAIT_SECONDS`) while another process has the file open:
    writers of one store take turns rather than fail."""
    import duckdb

    deadline = time.monotonic() + OPEN_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if not _held_by_another_process(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


class DuckDBStore(Store):
    """A single DuckDB file, 0600. Frames are loaded by DuckDB's pandas scan (``register``)."""

    dialect = "duckdb"

    def __init__(self, path: Path, *, private_columns: Sequence[str] = ("nino",), create: bool = True):
        super().__init__(private_columns=private_columns)
        import duckdb

        self._db_errors = (duckdb.Error,)
        self.path = Path(path)
        self.location = f"duckdb:{self.path}"
        if self.path.exists() and self.path.is_dir():
            raise InputError(f"store {self.location}: is a folder, not a database file")
        if not create and not self.path.is_file():
            raise InputError(f"store {self.location}: no such store (nothing was created)")
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=DIR_MODE)
        self._umask = private_umask()
        self._umask.__enter__()
        try:
            self.con = _connect(self.path)
        except duckdb.Error as exc:
            self._umask.__exit__(None, None, None)
            busy = _held_by_another_process(exc)
            raise InputError(f"store {self.location}: " + (
                "in use by another process (another run writing it?) for more than "
                f"{OPEN_WAIT_SECONDS:g} s; run again when it has finished" if busy
                else f"cannot open ({type(exc).__name__})")) from None
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

    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.con.execute(sql.replace("%s", "?"), list(params or [])).fetchall()

    def _is_conflict(self, exc: BaseException) -> bool:
        import duckdb

        return isinstance(exc, duckdb.TransactionException)

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
            cols = ", ".join(quote_ident(c) for c in df.columns)
            self.con.execute(f"INSERT INTO {self._t(name)} (run_id, {cols}) SELECT ?, {cols} FROM {quote_ident(view)}", [run_id])
        finally:
            self.con.unregister(view)

