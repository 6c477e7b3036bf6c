"""Partitioned linkage: compare and score the candidate pairs a partition at a time.

Blocking produces the candidate pairs (``l``, ``r`` int32, ``rule`` int8: 9 bytes a pair). Everything after
it that is heavy per pair -- comparing (the values of both records, similarity scores, temporaries) and
scoring (one float64 Bayes factor per comparison and pair) -- runs on partitions of at most
``linkage.partition_pairs`` consecutive pairs (``pairs.iloc[a:b]``), each one task that a Dask cluster can
run anywhere (``flows/tasks.py``: ``compare-partition``, ``score-partition``). Two passes:

1. :func:`compare_partition`: gamma of the partition's pairs (int8, one byte per comparison and pair) and
   its gamma :class:`~pace_linkage.engine.training.PatternCounts` (overall, per blocking rule and, for
   supervised training, per truth label): a few thousand rows whatever the number of pairs.
2. Training once, from the counts of every partition combined
   (:func:`~pace_linkage.engine.training.combine_pattern_counts`, :func:`~pace_linkage.engine.training.train`):
   u comes from random record pairs as before, never from the candidates, so nothing else is needed.
3. :func:`score_partition`: match weight and probability of the partition's pairs, given its gamma.
   Only the slim columns come back (:data:`SLIM_COLUMNS`: ``l``, ``r``, ``rule``, ``match_weight``,
   ``match_probability``: 25 bytes a pair); the per-comparison ``bf_*`` columns are dropped in the task.

Clustering then combines the slim columns of every partition (it needs the pairs at or above the lowest
threshold; the cluster statistics, the weights histogram, the threshold sweep and the explained pairs of
the report need weight and probability of every pair, so all slim rows are kept).

Trade-off chosen: gamma is kept, not recomputed. ``pairs.parquet`` (and the store) publish every pair's
comparison levels and the report explains pairs level by level, so the run holds gamma of all pairs in any
case (K bytes a pair, 6 with the default config). Pass 1 therefore returns each partition's gamma next to
its counts, and pass 2 scores that gamma instead of comparing the pairs a second time (comparing is the
costly step). What the run holds per pair is then 9 (pairs) + K (gamma) + 16 (weight and probability: the
scores' ``l``, ``r`` and ``rule`` are the pairs' own arrays, :func:`concat_parts`) = 31 bytes with K = 6 (31 MB
for 1M pairs), against 9 + K + 25 + 8K = 88 bytes unpartitioned, and the comparison temporaries exist for one
partition at a time instead of for all pairs (each partition's result is released as it is joined).

Results are identical to the unpartitioned stages, bit for bit: comparing and scoring are element-wise
per pair (term frequencies come from all the records, held by every partition), partitions are
concatenated in order, and training from combined pattern counts is the same computation as training on
all of gamma (:func:`pace_linkage.engine.training.train` itself goes through the counts).

:class:`pace_linkage.engine.linker.Linker` runs the passes through a *mapper* (:data:`Mapper`): in turn in this
process by default; the Prefect flow's mapper submits each partition as a task.

Every partition task reads the same records: :class:`PartitionContext` holds them with the settings, and
builds its column cache (codes, parsed dates ...) and the blocking rules' keys once, lazily, where it
runs; they are not pickled, so a Dask cluster receives the records once per worker (scattered) and each
worker builds its cache once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.engine import compare as compare_mod
from pace_linkage.engine import training
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.model import FSModel
from pace_linkage.engine.score import score
from pace_linkage.engine.settings import LinkageSettings
from pace_linkage.engine.training import PatternCounts
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, RULE, SOURCE

SLIM_COLUMNS = (LEFT, RIGHT, RULE, MATCH_WEIGHT, MATCH_PROBABILITY)


class PartitionContext:
    """The records and linkage settings every partition task reads, with per-process lazy caches.

    ``person`` (optional): a truth person code per record (:func:`pace_linkage.engine.training.person_codes`), for
    supervised training; codes only, never a truth value. Pickling keeps the records, settings and codes
    and drops the caches (they are rebuilt where the context is unpickled). A plain class on purpose: Prefect
    passes it to tasks as an opaque value (it would rebuild a dataclass field by field)."""

    def __init__(self, records: pd.DataFrame, settings: LinkageSettings, person: np.ndarray | None = None,
                 keys: list | None = None):
        if not isinstance(records.index, pd.RangeIndex) or records.index.start != 0 or records.index.step != 1:
            raise LinkageError("partition: records must have a RangeIndex 0..N-1 (pairs are positions)")
        self.records = records
        self.settings = settings
        self.person = None if person is None else np.asarray(person, dtype=np.int64)
        self._lock = threading.Lock()
        self._cache: ColumnCache | None = None
        self._keys: list | None = keys  # the blocking rules' keys (blocking's own, when it kept them)

    @classmethod
    def build(cls, records: pd.DataFrame, settings: LinkageSettings, truth: pd.DataFrame | None = None,
              keys: list | None = None) -> PartitionContext:
        """The context for a run: only the record columns the comparisons and blocking rules read (what a
        Dask worker receives: no contact details, no client ids); with ``truth`` and supervised training,
        the person codes too; ``keys``: the blocking rules' keys of these records, if blocking kept them
        (:meth:`~pace_linkage.engine.blocking.BlockingResult.take_keys`), else computed when first read."""
        supervised = truth is not None and settings.training == "supervised"
        person = training.person_codes(records, truth) if supervised else None
        return cls(records[[c for c in linkage_columns(settings) if c in records.columns]], settings, person, keys)

    @property
    def cache(self) -> ColumnCache:
        with self._lock:
            if self._cache is None:
                self._cache = ColumnCache(self.records)
            return self._cache

    @property
    def keys(self) -> list:
        with self._lock:
            if self._keys is None:
                self._keys = training.rule_keys(self.records, self.settings.blocking)
            return self._keys

    def subset(self, positions: np.ndarray) -> PartitionContext:
        """The context of the records at ``positions`` only (renumbered 0..len-1 in that order), with their
        person codes; its caches are built anew when read."""
        positions = np.asarray(positions, dtype=np.int64)
        person = None if self.person is None else self.person[positions]
        return PartitionContext(take_rows(self.records, positions, list(self.records.columns)), self.settings,
                                person)

    def coded(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The column codes the comparisons derived in this process (:meth:`ColumnCache.coded`; none if the
        cache was never read here, e.g. with the partitions compared elsewhere)."""
        with self._lock:
            return {} if self._cache is None else self._cache.coded()

    def release(self) -> None:
        """Drop the caches (the run keeps the records; the codes and parsed columns are no longer needed)."""
        with self._lock:
            self._cache = None
            self._keys = None

    def __getstate__(self) -> dict:
        return {"records": self.records, "settings": self.settings, "person": self.person}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["records"], state["settings"], state["person"])

    def __repr__(self) -> str:  # no values: Prefect and Dask may print parameters
        return f"PartitionContext(records={len(self.records)})"


def take_rows(frame: pd.DataFrame, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Some rows and columns of a (large) frame, a column at a time, with a fresh RangeIndex (only the
    columns named are touched)."""
    return pd.DataFrame({c: frame[c].take(positions).reset_index(drop=True) for c in dict.fromkeys(columns)})


def linkage_columns(settings: LinkageSettings) -> list[str]:
    """Every record column that comparing, scoring (term frequencies), the rule masks and training read
    (``source``: which record pairs the link type allows, for u's random pairs and the prior)."""
    cols = [SOURCE] + [c for spec in settings.comparisons for c in compare_mod.spec_columns(spec)]
    cols += [c for rule in settings.blocking for c in rule.columns()]
    cols += [c for rule in settings.em.rules() for c in rule.columns()]
    return list(dict.fromkeys(cols))


@dataclass
class ComparedPartition:
    """Pass 1 of one partition: gamma (int8, indexed like the partition's pairs) and its pattern counts."""

    gamma: pd.DataFrame
    counts: PatternCounts


def partition_bounds(n_pairs: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of consecutive partitions of at most ``size`` pairs (one empty partition if there
    are no pairs, so that every later step still has a frame with the right columns)."""
    if size < 1:
        raise LinkageError("partition: partition size must be at least 1")
    if n_pairs <= 0:
        return [(0, 0)]
    return [(a, min(a + size, n_pairs)) for a in range(0, n_pairs, size)]


def split_pairs(pairs: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """The pairs in consecutive partitions of at most ``size`` rows (views through ``iloc``)."""
    return [pairs.iloc[a:b] for a, b in partition_bounds(len(pairs), size)]


def compare_partition(ctx: PartitionContext, pairs: pd.DataFrame) -> ComparedPartition:
    """Pass 1: gamma of ``pairs`` and their pattern counts (labelled when the context has person codes)."""
    gamma = compare_mod.compare(ctx.records, pairs, ctx.settings.comparisons, cache=ctx.cache)
    labels = training.pair_labels(ctx.records, pairs, codes=ctx.person) if ctx.person is not None else None
    counts = training.pattern_counts(ctx.records, pairs, gamma, ctx.settings, keys=ctx.keys, labels=labels)
    return ComparedPartition(gamma, counts)


def score_partition(ctx: PartitionContext, model: FSModel, pairs: pd.DataFrame, gamma: pd.DataFrame
                    ) -> pd.DataFrame:
    """Pass 3: the slim scored columns (:data:`SLIM_COLUMNS`) of ``pairs``; ``bf_*`` are dropped here."""
    if len(gamma) != len(pairs):
        raise LinkageError("partition: gamma and pairs of a partition differ in length")
    scored = score(model, ctx.records, pairs, gamma, cache=ctx.cache)
    return scored[[c for c in SLIM_COLUMNS if c in scored.columns]]


def concat_parts(parts: list[pd.DataFrame], index: pd.Index, shared: pd.DataFrame | None = None) -> pd.DataFrame:
    """Partitions' frames back in one frame, in partition order, with the pairs' own index; the same frame as
    ``pd.concat``. ``parts`` is emptied as it is copied (each partition is released once its rows are in
    place, so the run never holds every partition and the whole next to each other); the columns ``shared``
    holds (the candidate pairs: ``l``, ``r``, ``rule``) are its own arrays, not copies of the partitions'."""
    columns = list(parts[0].columns)
    if len(parts) == 1 or not all(list(p.columns) == columns and all(
            isinstance(p[c].dtype, np.dtype) and p[c].dtype == parts[0][c].dtype for c in columns) for p in parts):
        out = pd.concat(list(parts), ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        parts.clear()
        if len(out) != len(index):
            raise LinkageError("partition: the partitions do not add up to the candidate pairs")
        out.index = index
        return out
    n = sum(len(p) for p in parts)
    if n != len(index):
        raise LinkageError("partition: the partitions do not add up to the candidate pairs")
    own = [c for c in columns if shared is None or c not in shared.columns or shared[c].dtype != parts[0][c].dtype]
    data = {c: np.empty(n, dtype=parts[0][c].dtype) for c in own}
    start = 0
    while parts:
        part = parts.pop(0)
        for c in own:
            data[c][start:start + len(part)] = part[c].to_numpy()
        start += len(part)
        del part
    data.update({c: shared[c].to_numpy() for c in columns if c not in data})
    return pd.DataFrame({c: data[c] for c in columns}, index=index, copy=False)


# runs a function over a list of argument tuples and returns the results in order
Mapper = Callable[[Callable, list[tuple]], list]


def run_in_turn(fn: Callable, calls: list[tuple]) -> list:
    """The default mapper: each call in turn, in this process."""
    return [fn(*args) for args in calls]
