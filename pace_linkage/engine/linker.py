"""The Linker: block -> compare -> train -> score -> cluster, wired once.

A :class:`Linker` holds linkage settings (:class:`~pace_linkage.engine.settings.LinkageSettings`, from a
config's ``linkage:`` section or made in Python), a seed and how a run names and clusters its records. Each
stage is a step method; :meth:`Linker.run` does them all and returns one :class:`LinkResult`::

    linker = Linker(settings, seed=42)
    result = linker.run(records)          # records: a DataFrame with source, record_id and the compared columns
    result.clusters.clusters              # source, record_id, pace_id (and pace_id_<name> per named threshold)

Records are prepared first (:meth:`Linker.prepare`): sorted by (source, record_id), with positions 0..N-1 (the
candidate pairs hold positions), and every column the settings read must be present -- a column a config's
field derives (``surname_sound``) is added by the ``derive`` hook when one is given, else a
:class:`~pace_linkage.errors.LinkageError` names it.

Comparing and scoring run on partitions of at most ``partition_pairs`` candidate pairs
(:mod:`pace_linkage.engine.partition`) through a *mapper*: each call in turn by default; the Prefect flow
supplies one that submits each partition as a task (on a Dask cluster, anywhere). Results do not depend on
either, bit for bit. Training goes through the partitions' combined gamma pattern counts
(:func:`pace_linkage.engine.training.train`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.counting import distinct_ints
from pace_linkage.engine import partition
from pace_linkage.engine.blocking import BlockingResult, block
from pace_linkage.engine.cluster import ClusterResult, cluster
from pace_linkage.engine.levels import LEVEL_TYPES
from pace_linkage.engine.model import FSModel, check_compatible
from pace_linkage.engine.partition import Mapper, PartitionContext, run_in_turn, take_rows
from pace_linkage.engine.settings import LinkageSettings
from pace_linkage.engine.training import PatternCounts, combine_pattern_counts, train
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, RECORD_ID, RIGHT, SOURCE

# adds the named columns to the records and returns them (e.g. derived columns computed by the normalisers)
Deriver = Callable[[pd.DataFrame, list[str]], pd.DataFrame]


@dataclass
class Compared:
    """Gamma of the candidate pairs (int8, one column per comparison, indexed like the pairs) and their
    combined gamma pattern counts (what training reads), from ``partitions`` partitions."""

    gamma: pd.DataFrame
    counts: PatternCounts
    partitions: int


@dataclass
class LinkResult:
    """Everything a run made: the candidate pairs and per-rule statistics (``blocking``), their ``gamma``, the
    ``model``, the ``scores`` (``l``, ``r``, ``rule``, ``match_weight``, ``match_probability``), the
    ``clusters`` and the seconds of each stage (``timings``). ``records``: the prepared records, whose positions
    ``l`` and ``r`` are."""

    blocking: BlockingResult
    gamma: pd.DataFrame
    model: FSModel
    scores: pd.DataFrame
    clusters: ClusterResult
    timings: dict = field(default_factory=dict)
    records: pd.DataFrame | None = None

    @property
    def pairs(self) -> pd.DataFrame:
        return self.blocking.pairs


def positional(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with a RangeIndex 0..N-1 (candidate pairs hold record positions)."""
    idx = records.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return records
    return records.reset_index(drop=True)


def sort_order(records: pd.DataFrame) -> np.ndarray | None:
    """The positions that sort ``records`` by (source, record_id) as text; None if they are sorted already."""
    src = records[SOURCE].to_numpy(dtype=str)
    rid = records[RECORD_ID].to_numpy(dtype=str)
    ordered = (src[1:] > src[:-1]) | ((src[1:] == src[:-1]) & (rid[1:] >= rid[:-1]))
    return None if ordered.all() else np.lexsort((rid, src))


class Linker:
    """Links records with linkage settings and a seed (see the module docstring).

    ``id_column`` names the cluster id column and ``id_prefix`` starts every id (``P`` persons, ``E``
    employers); records of ``duplicate_free_sources`` are never clustered with another record of their own
    source. ``derive(records, columns)`` adds missing columns the settings read; ``mapper`` and
    ``partition_pairs`` (default ``settings.partition_pairs``) say how partitions run."""

    def __init__(
        self, settings: LinkageSettings, seed: int = 42, *, id_column: str = "pace_id", id_prefix: str = "P",
        duplicate_free_sources: Sequence[str] = (), derive: Deriver | None = None, mapper: Mapper = run_in_turn,
        partition_pairs: int | None = None,
    ):
        problems = settings.problems()
        if problems:
            raise LinkageError("linkage settings: " + "; ".join(problems))
        self.settings = settings
        self.seed = seed
        self.id_column = id_column
        self.id_prefix = id_prefix
        self.duplicate_free_sources = list(duplicate_free_sources)
        self.derive = derive
        self.mapper = mapper
        self.partition_pairs = partition_pairs or settings.partition_pairs

    @classmethod
    def from_config(cls, cfg, *, derive: Deriver | None = None, mapper: Mapper = run_in_turn,
                    partition_pairs: int | None = None, seed: int | None = None,
                    duplicate_free_sources: Sequence[str] | None = None) -> Linker:
        """The Linker of a loaded configuration: its ``linkage`` settings, ``seed``, ``id_column``, id prefix
        (by ``entity``) and duplicate-free sources (``seed`` and ``duplicate_free_sources``, when given,
        replace the config's). ``derive``: e.g. :func:`pace_linkage.normalise.deriver` of the config's fields,
        to accept records that lack derived columns."""
        dup_free = cfg.duplicate_free_sources() if duplicate_free_sources is None else duplicate_free_sources
        return cls(cfg.linkage, cfg.seed if seed is None else int(seed), id_column=cfg.id_column,
                   id_prefix=cfg.id_prefix, duplicate_free_sources=dup_free, derive=derive, mapper=mapper,
                   partition_pairs=partition_pairs)

    # ---- records ----------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Every record column a run reads: source, record_id, compared, blocked on, conflict fields."""
        cols = [SOURCE, RECORD_ID, *partition.linkage_columns(self.settings)]
        return list(dict.fromkeys(cols + list(self.settings.clustering.conflict_fields)))

    def prepare(self, records: pd.DataFrame) -> pd.DataFrame:
        """The records as a run needs them: sorted by (source, record_id), positions 0..N-1, and every column
        of :meth:`columns` present (missing ones added by ``derive``, else a LinkageError names them)."""
        return self._prepare(records)[0]

    def _prepare(self, records: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        keys = [c for c in (SOURCE, RECORD_ID) if c not in records.columns]
        if keys:
            raise LinkageError(f"linker: the records have no {' and no '.join(repr(c) for c in keys)} column "
                               "(every record needs its source and its record id)")
        missing = [c for c in self.columns() if c not in records.columns]
        if missing and self.derive is not None:
            records = self.derive(records, missing)
            missing = [c for c in self.columns() if c not in records.columns]
        if missing:
            raise LinkageError(f"linker: the linkage settings read column(s) {', '.join(missing)}, which the "
                               "records do not have (normalise them first, or give the Linker a derive hook)")
        order = sort_order(records)
        return positional(records if order is None else records.iloc[order]), order

    def context(self, records: pd.DataFrame, truth: pd.DataFrame | None = None, keys: list | None = None
                ) -> PartitionContext:
        """What every partition reads (the linkage columns of the prepared records and, with ``truth`` and
        supervised training, each record's person code); ``keys``: the rules' keys blocking kept
        (:meth:`block` with ``keep_keys``), so comparing does not compute them again."""
        return PartitionContext.build(records, self.settings, truth, keys)

    def _context(self, records: pd.DataFrame | PartitionContext) -> PartitionContext:
        return records if isinstance(records, PartitionContext) else self.context(records)

    def _involved(self, records: pd.DataFrame | PartitionContext, pairs: pd.DataFrame
                  ) -> tuple[PartitionContext, pd.DataFrame]:
        """The context of only the records ``pairs`` involve (in position order) and the pairs renumbered to
        it (same index, same rule codes). A frame's rows are taken before its context is built, so nothing
        is copied per record of the whole frame."""
        l_, r_ = pairs[LEFT].to_numpy(np.int64), pairs[RIGHT].to_numpy(np.int64)
        involved = distinct_ints(np.concatenate([l_, r_]))
        if isinstance(records, PartitionContext):
            ctx, n = records.subset(involved), len(records.records)
        else:
            cols = [c for c in partition.linkage_columns(self.settings) if c in records.columns]
            ctx, n = PartitionContext(take_rows(records, involved, cols), self.settings), len(records)
        local = np.full(n, -1, dtype=np.int64)
        local[involved] = np.arange(len(involved))
        renumbered = pairs.assign(**{LEFT: local[l_].astype(pairs[LEFT].dtype, copy=False),
                                     RIGHT: local[r_].astype(pairs[RIGHT].dtype, copy=False)})
        return ctx, renumbered

    def pairwise_levels(self) -> bool:
        """Whether every comparison level of the settings reads a pair's two records only (see
        :meth:`compare`)."""
        return all(LEVEL_TYPES[lv.type].pairwise for spec in self.settings.comparisons for lv in spec.levels)

    # ---- steps --------------------------------------------------------------------------------------
    def block(self, records: pd.DataFrame, new: np.ndarray | None = None, *, keep_keys: bool = False
              ) -> BlockingResult:
        """Candidate pairs of the prepared records; with ``new`` (bool per record), only pairs with a new
        record; ``keep_keys``: with the rules' keys, for :meth:`context` (see
        :meth:`~pace_linkage.engine.blocking.BlockingResult.take_keys`)."""
        s = self.settings
        return block(records, s.blocking, s.link_type, s.max_pairs_per_rule, new=new, keep_keys=keep_keys)

    def compare(self, records: pd.DataFrame | PartitionContext, pairs: pd.DataFrame,
                mapper: Mapper | None = None, *, involved_only: bool = False) -> Compared:
        """Gamma of ``pairs`` and their combined pattern counts, a partition at a time through ``mapper``.

        ``involved_only``: compare on the records the pairs involve only (a sub-frame of them, renumbered),
        so the cost follows the pairs, not the records -- for a few pairs among many records, such as a
        batch against a large state. Gamma and counts are the same: a blocking rule's agreement reads the
        pair's two keys, and a level the pair's two values -- unless its type reads the other records too
        (``pairwise = False`` in :mod:`pace_linkage.engine.levels`, e.g. weighted Jaccard's word weights):
        with such a level in the settings, the pairs are compared against all the records."""
        if involved_only and self.pairwise_levels():
            ctx, pairs = self._involved(records, pairs)
        else:
            ctx = self._context(records)
        parts = partition.split_pairs(pairs, self.partition_pairs)
        compared = (mapper or self.mapper)(partition.compare_partition, [(ctx, p) for p in parts])
        counts = combine_pattern_counts([c.counts for c in compared], self.settings)
        gammas = [c.gamma for c in compared]
        compared.clear()  # each partition's gamma is released as soon as it is copied into the whole
        return Compared(partition.concat_parts(gammas, pairs.index), counts, len(parts))

    def train(self, records: pd.DataFrame | PartitionContext, counts: PatternCounts | None = None, *,
              pairs: pd.DataFrame | None = None, gamma: pd.DataFrame | None = None,
              labels: np.ndarray | None = None, training: str | None = None) -> FSModel:
        """The model trained as the settings say, from the candidate pairs' pattern counts (:meth:`compare`)
        or from ``pairs`` and their ``gamma``: the same model either way. Supervised training needs labels:
        counts made through a context with truth (:meth:`context`), or ``labels`` (bool per pair).
        ``training`` (``unsupervised`` or ``supervised``) replaces ``settings.training`` for this call, e.g.
        where no truth exists."""
        ctx = self._context(records)
        return train(ctx.records, self.settings, self.seed, counts=counts, pairs=pairs, gamma=gamma, labels=labels,
                     training=training, cache=ctx.cache)

    def score(self, records: pd.DataFrame | PartitionContext, pairs: pd.DataFrame, gamma: pd.DataFrame,
              model: FSModel, mapper: Mapper | None = None) -> pd.DataFrame:
        """Match weight and probability of ``pairs`` (``l``, ``r``, ``rule``, ``match_weight``,
        ``match_probability``), a partition at a time through ``mapper``."""
        ctx = self._context(records)
        parts = partition.split_pairs(pairs, self.partition_pairs)
        gammas = partition.split_pairs(gamma, self.partition_pairs)
        slim = (mapper or self.mapper)(partition.score_partition,
                                       [(ctx, model, p, g) for p, g in zip(parts, gammas, strict=True)])
        return partition.concat_parts(slim, pairs.index, shared=pairs)

    def cluster(self, records: pd.DataFrame, scores: pd.DataFrame, threshold: float | None = None, *,
                named: bool = True, **decisions) -> ClusterResult:
        """Clusters at ``threshold`` (default ``settings.threshold``) and, unless ``named`` is False, at each
        named threshold; ``must_link`` / ``cannot_link`` clerical decisions may be given as (l, r) position
        arrays."""
        s = self.settings
        dup_free = records[SOURCE].isin(self.duplicate_free_sources).to_numpy()
        return cluster(records, scores, s.threshold if threshold is None else threshold, s.clustering,
                       s.named_thresholds if named else None, id_prefix=self.id_prefix, duplicate_free=dup_free,
                       id_column=self.id_column, **decisions)

    # ---- all of it -------------------------------------------------------------------------------------
    def run(self, records: pd.DataFrame, model: FSModel | None = None, new: np.ndarray | None = None,
            truth: pd.DataFrame | None = None) -> LinkResult:
        """Prepare, block, compare, train (unless ``model`` is given), score and cluster ``records``.
        ``new``: see :meth:`block`; ``truth`` (source, record_id, person_id) labels the pairs for supervised
        training. Records of the result are in (source, record_id) order."""
        t: dict[str, float] = {}
        records, order = self._prepare(records)
        if new is not None and order is not None:  # the mask follows its records into (source, record_id) order
            new = np.asarray(new, dtype=bool)[order]
        with _timed(t, "block"):
            blocked = self.block(records, new, keep_keys=True)
        ctx = self.context(records, truth, blocked.take_keys())
        with _timed(t, "compare"):
            compared = self.compare(ctx, blocked.pairs)
        with _timed(t, "train"):
            if model is None:
                model = self.train(ctx, compared.counts)
            else:
                check_compatible(model, self.settings)
        with _timed(t, "score"):
            scores = self.score(ctx, blocked.pairs, compared.gamma, model)
        ctx.release()
        with _timed(t, "cluster"):
            clusters = self.cluster(records, scores)
        t["total"] = sum(t.values())
        return LinkResult(blocked, compared.gamma, model, scores, clusters, t, records)


@contextlib.contextmanager
def _timed(timings: dict, stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - t0
