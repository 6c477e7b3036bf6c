"""Score: match weight and probability per candidate pair, with a per-comparison waterfall.

``match_weight = prior_weight + sum_k bf_<k>`` where ``bf_<k> = log2(m_k[level] / u_k[level])`` plus, for
levels with term-frequency adjustment, ``log2(u_level / max(tf(value), tf_floor))``. The null level
weighs 0. ``match_probability = 2^w / (1 + 2^w)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.model import ComparisonParams, FSModel
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, RULE


def _tf_freq_by_code(cache: ColumnCache, column: str) -> np.ndarray:
    """Relative frequency of each distinct value of ``column`` among the non-null records being scored
    (as Splink does: term frequencies come from the data, so a saved model holds no value or digest)."""
    codes = cache.codes(column)
    ok = codes >= 0
    counts = np.bincount(codes[ok], minlength=len(cache.uniques(column)))
    return counts / max(int(ok.sum()), 1)


def comparison_weights(
    params: ComparisonParams, g: np.ndarray, l_: np.ndarray, cache: ColumnCache | None, tf_floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """(base weight, TF adjustment) per pair for one comparison (log2)."""
    if g.size and int(g.max()) >= params.n_levels:
        raise LinkageError(f"score: comparison '{params.name}' has a level the model does not know")
    w_ext = np.r_[params.weights(), 0.0]  # index -1 (null) -> 0
    base = w_ext[g.astype(np.int64)]
    adj = np.zeros(len(g))
    if cache is not None:
        for level, column in params.tf_levels.items():
            at = np.flatnonzero(g == level)
            if len(at) == 0:
                continue
            freq = _tf_freq_by_code(cache, column)
            codes = cache.codes(column)[l_[at]]
            f = np.where(codes >= 0, freq[np.maximum(codes, 0)], np.nan)
            u_value = np.maximum(f, tf_floor)
            a = np.log2(params.u[level] / u_value)
            adj[at] = np.where(np.isnan(f), 0.0, a)
    return base, adj


def score(
    model: FSModel, records: pd.DataFrame, pairs: pd.DataFrame, gamma: pd.DataFrame,
    cache: ColumnCache | None = None,
) -> pd.DataFrame:
    """Per pair: ``l``, ``r`` (and ``rule``), ``match_weight``, ``match_probability``, ``bf_<name>``."""
    cache = cache or ColumnCache(records)
    l_ = pairs[LEFT].to_numpy(np.int64)
    out = {LEFT: pairs[LEFT].to_numpy(), RIGHT: pairs[RIGHT].to_numpy()}
    if RULE in pairs.columns:
        out[RULE] = pairs[RULE].to_numpy()
    total = np.full(len(pairs), model.prior_weight)
    bfs = {}
    for params in model.comparisons:
        if params.name not in gamma.columns:
            raise LinkageError(f"score: gamma has no column for comparison '{params.name}'")
        base, adj = comparison_weights(params, gamma[params.name].to_numpy(), l_, cache, model.tf_floor)
        bfs[f"bf_{params.name}"] = base + adj
        total += base + adj
    out[MATCH_WEIGHT] = total
    out[MATCH_PROBABILITY] = 1.0 / (1.0 + np.exp2(-np.clip(total, -1000, 1000)))
    out.update(bfs)
    return pd.DataFrame(out, index=pairs.index)


def explain(
    model: FSModel, records: pd.DataFrame, pairs: pd.DataFrame, gamma: pd.DataFrame, i: int,
    cache: ColumnCache | None = None,
) -> list[dict]:
    """Waterfall of pair ``i`` (row position in ``pairs``): rows ``{comparison, level, weight}`` starting
    with the prior; the weights add up to the pair's match weight. No record values are included."""
    if not 0 <= i < len(pairs):
        raise LinkageError(f"explain: pair position {i} out of range")
    one_pairs = pairs.iloc[[i]]
    one_gamma = gamma.iloc[[i]]
    cache = cache or ColumnCache(records)
    l_ = one_pairs[LEFT].to_numpy(np.int64)
    rows = [{"comparison": "prior", "level": "prior match probability", "weight": model.prior_weight}]
    for params in model.comparisons:
        g = one_gamma[params.name].to_numpy()
        base, adj = comparison_weights(params, g, l_, cache, model.tf_floor)
        level = int(g[0])
        label = "null" if level < 0 else params.labels[level]
        if adj[0] != 0.0:
            label += " (term-frequency adjusted)"
        rows.append({"comparison": params.name, "level": label, "weight": float(base[0] + adj[0])})
    return rows
