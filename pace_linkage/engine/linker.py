"""Convenience glue: block -> compare -> train -> score -> cluster in one call (tests and benchmarks).

The Prefect flow calls the stages one by one; this function is the reference order and wiring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.counting import pairs_sharing_code
from pace_linkage.engine.blocking import BlockingResult, block
from pace_linkage.engine.cluster import ClusterResult, cluster
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare
from pace_linkage.engine.model import FSModel, train
from pace_linkage.engine.score import score
from pace_linkage.engine.settings import LinkageSettings


@dataclass
class LinkResult:
    blocking: BlockingResult
    gamma: pd.DataFrame
    model: FSModel
    scores: pd.DataFrame
    clusters: ClusterResult
    timings: dict = field(default_factory=dict)


def positional(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with a RangeIndex 0..N-1 (candidate pairs hold record positions)."""
    idx = records.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return records
    return records.reset_index(drop=True)


def link(
    records: pd.DataFrame, settings: LinkageSettings, seed: int = 42, model: FSModel | None = None,
    method: str = "rules", duplicate_free: np.ndarray | None = None, id_column: str = "pace_id",
) -> LinkResult:
    """Link ``records`` (RangeIndex 0..N-1, sorted by (source, record_id)). With ``model`` given, it is
    used as is (no training). Returns every intermediate result and the wall time of each stage."""
    records = positional(records)
    t: dict = {}
    t0 = time.perf_counter()
    blocked = block(records, settings.blocking, settings.link_type, settings.max_pairs_per_rule)
    t["block"] = time.perf_counter() - t0
    cache = ColumnCache(records)
    t0 = time.perf_counter()
    gamma = compare(records, blocked.pairs, settings.comparisons, cache=cache)
    t["compare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if model is None:
        model = train(records, blocked.pairs, gamma, settings, seed, method=method, cache=cache)
    t["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored = score(model, records, blocked.pairs, gamma, cache=cache)
    t["score"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusters = cluster(records, scored, settings.threshold, settings.clustering, settings.named_thresholds,
                       duplicate_free=duplicate_free, id_column=id_column)
    t["cluster"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return LinkResult(blocked, gamma, model, scored, clusters, t)


def pairwise_quality(cluster_ids, person_ids) -> dict:
    """Pairwise precision / recall / F1 of a clustering against a truth: a pair is predicted when its two
    records share a cluster id and true when they share a person id (nulls never match)."""
    c = pd.factorize(pd.Series(cluster_ids), use_na_sentinel=True)[0].astype(np.int64)
    p = pd.factorize(pd.Series(person_ids), use_na_sentinel=True)[0].astype(np.int64)

    ok = (c >= 0) & (p >= 0)
    both = c[ok] * (int(p.max()) + 1) + p[ok]
    tp = pairs_sharing_code(pd.factorize(both)[0])
    pred, true = pairs_sharing_code(c), pairs_sharing_code(p)
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "predicted_pairs": pred, "true_pairs": true, "precision": precision, "recall": recall,
            "f1": f1}
