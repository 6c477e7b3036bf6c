"""Outputs: every file the pipeline publishes is written here, atomically and deterministically.

A run writes into a private staging folder inside OUT (mode 0700), locked for the run's lifetime. Only when every
output is complete (and, with ``--store``, the store has committed the run) does :meth:`RunWriter.publish` move
each file into OUT with ``os.replace`` (atomic on one filesystem) and then write ``manifest.json`` *last*, holding
the SHA-256 of every output; the previous run's files that this run does not write are removed, so OUT holds one
run. A run that fails before publishing removes its staging folder and leaves the previous run's files untouched;
a run killed on the way is finished or removed by the next run (:mod:`pace_linkage.store.publish`). A reader that
finds a file missing from the manifest, or with a different hash, must reject the run (:func:`verify_manifest`).

Files are created 0600 and folders 0700: outputs are about people. CSVs are written with a fixed
line terminator, sorted rows, and spreadsheet formula prefixes neutralised; JSON with sorted keys.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from pace_linkage.errors import ConfigError, InputError
from pace_linkage.redact import safe_csv_frame
from pace_linkage.schema import RUN_ID_RULE, is_run_id
from pace_linkage.store import parquet_parts
from pace_linkage.store import publish as staged
from pace_linkage.store.csvtext import LINE_END, text_csv_bytes
from pace_linkage.store.files import (  # re-exported: the writers' primitives
    DIR_MODE,
    FILE_MODE,
    MANIFEST,
    json_bytes,
    make_private_dir,
    now_utc,
    sha256_file,
    write_atomic,
    write_atomic_with,
)
from pace_linkage.store.publish import PublishError


def write_private_csv(path: Path, df: pd.DataFrame, overwrite: bool, what: str) -> Path:
    """A single CSV file holding personal data (a review sheet, a partner's outbound view): formula-
    neutralised, written atomically, created 0600 (new parent folders 0700); an existing file is kept
    unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists; refusing to overwrite {what} (use --force)")
    if not path.parent.exists():
        make_private_dir(path.parent)
    write_atomic(path, csv_bytes(df))
    return path


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as formula-neutralised CSV in UTF-8: built in Arrow when every column is text
    (:func:`pace_linkage.store.csvtext.text_csv_bytes`, the same bytes), else by pandas."""
    fast = text_csv_bytes(df)
    if fast is not None:
        return fast
    return safe_csv_frame(df).to_csv(index=False, lineterminator=LINE_END).encode("utf-8")


PARQUET_ROW_GROUP = 1024 * 1024  # rows per Parquet row group (pyarrow's default, named so a stream keeps it)
PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": False}


def _arrow_table(df: pd.DataFrame):
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)
    return table.replace_schema_metadata(None)  # no pandas metadata: stable bytes across versions


def parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(_arrow_table(df), sink, row_group_size=PARQUET_ROW_GROUP, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def parquet_stream_bytes(frames: Iterable[pd.DataFrame]) -> bytes:
    """The Parquet file of ``frames`` (one schema) written one after another: the same bytes as
    :func:`parquet_bytes` of their concatenation when each frame but the last holds ``PARQUET_ROW_GROUP`` rows,
    without the whole frame ever existing."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    write_parquet_stream(sink, frames)
    return sink.getvalue().to_pybytes()


def write_parquet_stream(sink, frames: Iterable[pd.DataFrame]) -> None:
    """:func:`parquet_stream_bytes` written into ``sink`` (an open binary file or an Arrow stream) as it is
    encoded: a row group at a time, so neither the frame nor the file is ever held whole."""
    import pyarrow.parquet as pq

    writer = None
    for df in frames:
        table = _arrow_table(df)
        writer = writer or pq.ParquetWriter(sink, table.schema, **PARQUET_OPTIONS)
        writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
        del table
    if writer is None:
        raise ValueError("parquet_stream_bytes: no frame")
    writer.close()


PARQUET_WORKERS = 2  # row groups encoded at once (the machines it runs on have two cores or more)


def write_parquet_parts(sink, makers: Sequence[Callable[[], pd.DataFrame]], workers: int = PARQUET_WORKERS
                        ) -> None:
    """The file :func:`write_parquet_stream` writes of the frames ``makers`` make (each a row group, in order),
    its row groups built and encoded ``workers`` at a time in threads and joined in order
    (:mod:`pace_linkage.store.parquet_parts`): the same bytes, on as many cores, holding at most ``workers``
    row groups."""
    if len(makers) < 2 or workers < 2:
        write_parquet_stream(sink, (make() for make in makers))
        return
    parts = (functools.partial(_part_bytes, make) for make in makers)
    parquet_parts.join(sink.write, parquet_parts.encoded_side_by_side(parts, workers))


def _part_bytes(make: Callable[[], pd.DataFrame]) -> bytes:
    """The Parquet file of the one frame ``make`` makes (as :func:`write_parquet_stream` encodes it)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    write_parquet_stream(sink, [make()])
    return sink.getvalue().to_pybytes()


class RunWriter:
    """Stage outputs for one run, then publish them all with the manifest written last.

    ``RunWriter(out, run_id)`` claims ``OUT/.staging-<run id>`` (locked while the writer lives); ``write_*`` stage
    files; :meth:`seal` records the staged run as complete (and the store it goes to); :meth:`publish` moves it
    into OUT; :meth:`close` releases the lock and removes an unpublished staging folder unless told to keep it.
    The protocol and what a kill at any point leaves: :mod:`pace_linkage.store.publish`.
    """

    def __init__(self, out_dir: Path, run_id: str | None = None):
        if run_id is not None and not is_run_id(run_id):  # it names a folder in OUT: never a path
            raise ConfigError(f"run id: must be {RUN_ID_RULE}")
        self.out_dir = make_private_dir(Path(out_dir))
        self.run_id = run_id or uuid.uuid4().hex
        self.attempt = uuid.uuid4().hex  # tells this attempt at the run id from any other, in the store too
        self.started = now_utc()
        self.staging, self._lock = staged.claim(self.out_dir, self.run_id)
        self.files: list[str] = []
        self.intent: dict | None = None
        self.published = False
        self._ahead: dict[str, Future] = {}  # files staged in a thread while the run goes on
        self._stop = threading.Event()

    def path(self, name: str) -> Path:
        p = self.staging / name
        make_private_dir(p.parent)
        return p

    def write_bytes(self, name: str, data: bytes) -> Path:
        p = self.path(name)
        write_atomic(p, data)
        if name not in self.files:
            self.files.append(name)
        return p

    def write_csv(self, name: str, df: pd.DataFrame) -> Path:
        return self.write_bytes(name, csv_bytes(df))

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_bytes(name, json_bytes(obj))

    def write_parquet(self, name: str, df: pd.DataFrame) -> Path:
        return self.write_bytes(name, parquet_bytes(df))

    def write_parquet_stream(self, name: str, frames: Iterable[pd.DataFrame]) -> Path:
        """Stage the Parquet file of ``frames`` (:func:`write_parquet_stream`), written into place as it is
        encoded: the same bytes as ``write_bytes(name, parquet_stream_bytes(frames))``."""
        p = self.path(name)
        write_atomic_with(p, lambda fh: write_parquet_stream(fh, frames))
        if name not in self.files:
            self.files.append(name)
        return p

    def write_parquet_parts(self, name: str, makers: Sequence[Callable[[], pd.DataFrame]]) -> Path:
        """Stage the Parquet file of the frames ``makers`` make (:func:`write_parquet_parts`), written into
        place as its row groups are encoded: the same bytes as :meth:`write_parquet_stream` of those frames, which
        writes it instead if the join cannot read a part's footer (an Arrow version writing what it does not know)."""
        p = self.path(name)
        try:
            write_atomic_with(p, lambda fh: write_parquet_parts(fh, makers))
        except parquet_parts.ThriftError:  # a footer this Arrow writes that the join does not read: one writer
            write_atomic_with(p, lambda fh: write_parquet_stream(fh, (make() for make in makers)))
        if name not in self.files:
            self.files.append(name)
        return p

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def write_ahead(self, name: str, write: Callable[[threading.Event], Any]) -> None:
        """Start staging ``name`` in a thread of its own while the caller goes on: ``write(stop)`` stages it
        through this writer's ``write_*`` methods and should give up (raise) once ``stop`` is set. The file is
        the writer's only once :meth:`collect` has waited for it; :meth:`close` stops and waits for it first."""
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"stage-{name}")
        self._ahead[name] = pool.submit(write, self._stop)
        pool.shutdown(wait=False)

    def collect(self, name: str) -> bool:
        """Wait for ``name`` started by :meth:`write_ahead` (its error raised here); False if none was started."""
        future = self._ahead.pop(name, None)
        if future is None:
            return False
        future.result()
        return True

    def _stop_ahead(self) -> None:
        self._stop.set()
        for future in self._ahead.values():
            with contextlib.suppress(BaseException):
                future.result()  # it gives up at its next step; what it wrote is removed with the folder
        self._ahead.clear()

    def seal(self, extra: dict[str, Any] | None = None, store: str | None = None) -> dict:
        """Record the staged run as complete: its files' SHA-256, the manifest's ``extra`` entries and the
        ``store`` it is written to (None: none). Returns the intent (see :mod:`pace_linkage.store.publish`)."""
        for name in list(self._ahead):
            self.collect(name)
        self.intent = {"run_id": self.run_id, "attempt": self.attempt, "started": self.started,
                       "files": {name: sha256_file(self.staging / name) for name in sorted(self.files)},
                       "extra": dict(extra or {}), "store": store}
        staged.seal(self.staging, self.intent)
        return self.intent

    def publish(self, extra: dict[str, Any] | None = None) -> Path:
        """Move every staged file into OUT, the previous run's leftovers out, then write the manifest last
        (sealing first if :meth:`seal` was not called; ``extra`` adds manifest entries). A failure on the way
        puts the previous run back (:class:`PublishError`). Afterwards a dead run's staging folder is removed.
        Returns the manifest's path."""
        if self.intent is None:
            self.seal(extra)
            extra = None
        try:
            path = staged.publish_staged(self.out_dir, self.staging, self.intent, extra)
        except OSError as exc:
            err = PublishError(f"{self.out_dir}: publishing run {self.run_id} failed ({type(exc).__name__}); "
                               "the folder still holds the previous run")
        else:
            self.published = True
            self.close()
            with contextlib.suppress(OSError):
                staged.tidy(self.out_dir)
            return path
        raise err

    def close(self, keep: bool = False) -> None:
        """Release the staging folder's lock; remove the folder unless the run was published or ``keep``."""
        self._stop_ahead()
        if not self.published and not keep:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def discard(self) -> None:
        """The run failed: remove its staging folder."""
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)


def verify_manifest(out_dir: Path) -> dict:
    """Check that every file the manifest lists exists with its hash; raise InputError otherwise."""
    out_dir = Path(out_dir)
    mpath = out_dir / MANIFEST
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        raise InputError(f"{mpath}: missing or unreadable manifest; the run is incomplete") from None
    for name, digest in manifest.get("files", {}).items():
        p = out_dir / name
        if not p.exists():
            raise InputError(f"{mpath}: lists {name}, which is missing")
        if sha256_file(p) != digest:
            raise InputError(f"{mpath}: {name} does not match its SHA-256; the run is incomplete or altered")
    return manifest


__all__ = ["DIR_MODE", "FILE_MODE", "MANIFEST", "PublishError", "RunWriter", "csv_bytes", "json_bytes",
           "make_private_dir", "parquet_bytes", "parquet_stream_bytes", "sha256_file", "verify_manifest", "write_atomic",
           "write_atomic_with", "write_parquet_parts", "write_parquet_stream", "write_private_csv"]
