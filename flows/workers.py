"""Partner sources read side by side, in worker processes, while the flow's tasks stay one per source.

Reading and normalising a source is pure Python over its own rows, so one process does one source at a time and
the other cores sit idle. When the extracts are large enough for it to pay, :func:`side_by_side` starts a pool of
processes and hands it every source at once, largest file first: a worker ingests and normalises its source
(:func:`read_source`) and sends back only the normalised rows, because the raw extract is large to send and only
normalising needs it. The flow then calls its tasks (``ingest-<source>``, ``normalise-<source>``) in their usual
order; the ingest task takes its source from the pool (:func:`ingested`) and the normalise task the rows the
worker normalised (:func:`normalised`). So with the pool the ingest stage's time includes normalising, and the
normalise stage only collects. Task runs and errors are what they were: a retried ingest task, or a source not
handed over, is computed inline.

Rules:

* **When**: ``PACE_LINKAGE_PROCESSES`` (a whole number; 0 or 1 = never) or, unset, one process per core up to the
  number of sources, only when the sources' files add up to at least :data:`MIN_BYTES` (below that, starting the
  processes costs more than it saves). The pool's processes start with ``spawn``: nothing of the flow's threads
  or open files is inherited.
* **Same results**: a worker runs the same library function on the same arguments, and results come back in the
  flow's order, so outputs are byte-identical with or without the pool. Values travel over pipes between the
  command's own processes, never through a file.
* **Early**: the ``run`` command starts the pool as soon as its config and inputs are checked
  (:func:`reading_early`), before Prefect and the flow's modules load, so that reading overlaps that start-up
  on the other core; from :data:`EARLY_MIN_BYTES` of extracts it starts one process even where the flow would
  read in its own. The flow takes that pool only if it reads the same extracts with the same config and features
  (:func:`side_by_side`); otherwise, or if the flow never starts, the pool is terminated unused.
* **Stopping**: a worker dies with the command (``PR_SET_PDEATHSIG``); a signal or an error in the flow
  terminates the pool at once rather than waiting for the sources still being read.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from flows.api import die_with_parent
from pace_linkage.errors import ConfigError
from pace_linkage.ingest.extract import resolve_file
from pace_linkage.ingest.sources import SourceBatch, SourceFailure, ingest_source, normalise_source

PROCESSES_ENV = "PACE_LINKAGE_PROCESSES"
MIN_BYTES = 16 * 2**20  # extracts below 16 MiB are read in the command's own process
EARLY_MIN_BYTES = 2**20  # from 1 MiB, the run command reads in one process beside its own start-up

_pending: dict[str, Any] = {}  # source -> the pool's AsyncResult of read_source
_normalised: dict[str, Any] = {}  # source -> its normalised batch (or exception), taken by its normalise task
_early: dict[str, Any] = {}  # the pool the command started before its flow, and what it reads


def planned_processes(sources: Sequence, extracts_dir: Path) -> int:
    """How many processes read the sources: the environment's choice, or one per core (up to the number of
    sources) when their files add up to :data:`MIN_BYTES` or more. 1 means the command's own process."""
    text = os.environ.get(PROCESSES_ENV, "").strip()
    if text:
        if not text.isdigit():
            raise ConfigError(f"{PROCESSES_ENV}: must be a whole number of processes (0 or 1: none), not a word")
        return max(1, min(int(text), len(sources)))
    if len(sources) < 2 or (os.cpu_count() or 1) < 2 or sum(source_size(s, extracts_dir) for s in sources) < MIN_BYTES:
        return 1
    return min(os.cpu_count() or 1, len(sources))


def source_size(src, extracts_dir: Path) -> int:
    """Bytes of the source's file (0 when it cannot be found: its own task reports that)."""
    try:
        return resolve_file(src, extracts_dir).stat().st_size
    except Exception:  # noqa: BLE001
        return 0


XLSX_COST = 10  # reading a byte of a workbook (zipped XML, parsed cell by cell) costs ~10 bytes of text


def reading_cost(src, extracts_dir: Path) -> int:
    """How long a source takes to read, in bytes of text: its file's size, weighted by :data:`XLSX_COST` for a
    workbook (a 1.6 MB workbook takes as long as 16 MB of csv or JSON lines)."""
    return source_size(src, extracts_dir) * (XLSX_COST if src.format == "xlsx" else 1)


def reading_key(cfg, extracts_dir: Path, features: Sequence) -> tuple:
    """What a pool's reading depends on: the config (its hash), the extracts folder and the features."""
    return cfg.hash(), str(Path(extracts_dir).resolve()), id(features)


@contextlib.contextmanager
def reading_early(cfg, extracts_dir: Path, features: Sequence, wanted: bool = True) -> Iterator[None]:
    """Start reading every source of ``cfg`` now (if ``wanted``), in a pool the flow takes (:func:`side_by_side`):
    one process per core as :func:`planned_processes` says, or one from :data:`EARLY_MIN_BYTES` when the
    environment does not choose. On the way out a pool the flow did not take is terminated."""
    n = planned_processes(cfg.sources.items, extracts_dir) if wanted else 0
    if 0 < n < 2:  # one process beside the command's own, unless the environment chose a single one
        chosen = os.environ.get(PROCESSES_ENV, "").strip()
        n = int(not chosen and (os.cpu_count() or 1) >= 2
                and sum(source_size(s, extracts_dir) for s in cfg.sources.items) >= EARLY_MIN_BYTES)
    if n >= 1:
        pool = Pool(n)
        _early.update(pool=pool, key=reading_key(cfg, extracts_dir, features))
        pool.read(cfg, extracts_dir, features)
    try:
        yield
    finally:
        left = _early.pop("pool", None)
        _early.clear()
        if left is not None:
            left.terminate()


@contextlib.contextmanager
def side_by_side(sources: Sequence, extracts_dir: Path, key: tuple | None = None) -> Iterator[Pool | None]:
    """A :class:`Pool` for the sources: the one the command started early if it read the same ``key``
    (:func:`reading_key`), else a new one when :func:`planned_processes` says it pays, else None; terminated on
    the way out (at once on an error or a signal)."""
    pool = _early.pop("pool", None)
    if pool is not None and _early.pop("key", None) != key:
        pool.terminate()  # it read other extracts, config or features: its sources are not this flow's
        pool = None
    _early.clear()
    if pool is None:
        n = planned_processes(sources, extracts_dir)
        if n < 2:
            yield None
            return
        pool = Pool(n)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()


class Pool:
    """Worker processes, and the sources they are reading for the flow's tasks."""

    def __init__(self, processes: int) -> None:
        self._pool = multiprocessing.get_context("spawn").Pool(processes, initializer=die_with_parent)
        self.reading = False

    def read(self, cfg, extracts_dir: Path, features: Sequence) -> None:
        """Hand every source of ``cfg`` to the workers, the longest to read first (:func:`reading_cost`) so that
        it does not start last (once: a pool started early is already reading)."""
        if self.reading:
            return
        self.reading = True
        for src in sorted(cfg.sources.items, key=lambda s: -reading_cost(s, extracts_dir)):
            _pending[src.name] = self._pool.apply_async(read_source, (src, cfg, extracts_dir, features))

    def terminate(self) -> None:
        _pending.clear()
        _normalised.clear()
        self._pool.terminate()
        self._pool.join()

    def close(self) -> None:
        _pending.clear()
        _normalised.clear()
        self._pool.close()
        self._pool.join()


def read_source(src, cfg, extracts_dir: Path, features: Sequence) -> tuple:
    """In a worker: the source ingested (without its rows, which the flow does not need once they are
    normalised here) and normalised, or the exception that stopped normalising."""
    raw = ingest_source(src, cfg, extracts_dir, features=features)
    if isinstance(raw, SourceFailure):
        return raw, None
    try:
        done: SourceBatch | BaseException = normalise_source(raw, src, cfg, features=features)
    except Exception as exc:  # noqa: BLE001 -- re-raised by the normalise task, whose guard makes it value-free
        done = exc
    return replace(raw, records=raw.records.iloc[:0], extract=None), done


def ingested(src, cfg, extracts_dir: Path, features: Sequence) -> SourceBatch | SourceFailure:
    """The ingest task's result: what a worker read, or the source ingested now (no pool, or a retry)."""
    pending = _pending.pop(src.name, None)
    if pending is None:
        return ingest_source(src, cfg, extracts_dir, features=features)
    raw, done = pending.get()
    if done is not None:
        _normalised[src.name] = done
    return raw


def normalised(batch: SourceBatch, src, cfg, features: Sequence) -> SourceBatch:
    """The normalise task's result: what a worker normalised (its exception re-raised here), or the batch
    normalised now."""
    done = _normalised.pop(src.name, None)
    if done is None:
        return normalise_source(batch, src, cfg, features=features)
    if isinstance(done, BaseException):
        raise done
    return done
