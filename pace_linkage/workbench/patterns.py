"""The comparison viewer: the scored pairs grouped by their comparison pattern, as plain data.

A *pattern* is one combination of levels, a level per comparison (the ``gamma_<comparison>`` columns of
pairs.parquet: 0 = the closest level, -1 = a side had no value). Rules:

* A pattern's id is its levels in the model's comparison order, joined by ``.``, a null level written ``n``
  (``0.2.n.1``): it names the same combination in every run made with the same comparisons, whatever the
  threshold.
* Its weight is the prior plus ``log2(m / u)`` of each of its levels (a null level adds 0): the weight before
  term-frequency adjustments, so the pairs of one pattern may hold different stored weights. Patterns are listed
  by weight, highest first, ties by id.
* ``links``: the pattern's pairs whose stored match probability is at or above the threshold (the threshold
  curve counts links the same way, so the patterns' links add up to the curve's).
* Grouping is vectorised: the gamma columns are packed into one int64 code per pair (mixed radix) and factorised
  once per workbench (:data:`CACHE_KEY` in the workbench's cache); a threshold then costs one ``bincount``.
* :func:`pattern_pairs` draws a deterministic sample (``numpy.random.default_rng(seed)``, without replacement)
  of a pattern's pairs, listed by pair number (their row in pairs.parquet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.errors import InputError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT
from pace_linkage.workbench.views import Workbench, plain, record_key

CACHE_KEY = "patterns"
NULL = "n"  # a null level in a pattern id
PATTERN_ID = re.compile(r"^(?:\d+|n)(?:\.(?:\d+|n))*$")


@dataclass
class Grouping:
    """The scored pairs grouped by pattern: ``group[i]`` the pattern (row of ``levels``) of pair ``i``."""

    names: list[str]  # comparison names, in the model's order
    labels: list[list[str]]  # per comparison: its level labels (index = gamma)
    levels: np.ndarray  # (patterns, comparisons) int8 gamma values, -1 = null
    group: np.ndarray  # per pair: its pattern's row in ``levels``
    count: np.ndarray
    prob_sum: np.ndarray
    prob_min: np.ndarray
    prob_max: np.ndarray
    weight: np.ndarray | None  # prior + level weights; None when the run folder holds no model
    ids: list[str]
    listed: tuple[np.ndarray, list[dict]] | None = None  # the listing's order and rows, made on first use


def _comparisons(bench: Workbench) -> tuple[list[str], list[list[str]]]:
    """The compared columns' names and level labels: the model's, else the gamma columns pairs.parquet holds
    (their levels named by number)."""
    pairs = bench.run.pairs
    if bench.model is not None:
        comps = [c for c in bench.model.comparisons if f"gamma_{c.name}" in pairs.columns]
        return [c.name for c in comps], [list(c.labels) for c in comps]
    names = [c[len("gamma_"):] for c in pairs.columns if c.startswith("gamma_")]
    tops = [int(pairs[f"gamma_{n}"].max()) if len(pairs) else 0 for n in names]
    return names, [[str(g) for g in range(max(top, 0) + 1)] for top in tops]


def _codes(bench: Workbench, names: list[str], labels: list[list[str]]) -> tuple[np.ndarray, list[int]]:
    """One int64 per pair packing its gamma values (each shifted by one, so null is 0), and the radices."""
    pairs = bench.run.pairs
    bases = [len(lab) + 1 for lab in labels]
    if float(np.prod(np.asarray(bases, dtype=np.float64))) >= 2.0 ** 62:
        raise InputError(f"{bench.run.path / 'pairs.parquet'}: too many comparison levels to group the pairs")
    code = np.zeros(len(pairs), dtype=np.int64)
    for name, base in zip(names, bases, strict=True):
        gamma = pairs[f"gamma_{name}"].to_numpy()
        if len(gamma) and (int(gamma.min()) < -1 or int(gamma.max()) >= base - 1):
            raise InputError(f"{bench.run.path / 'pairs.parquet'}: column gamma_{name} holds a level model.json "
                             "does not have")
        code *= base
        code += gamma.astype(np.int64) + 1
    return code, bases


def _unpack(uniq: np.ndarray, bases: list[int]) -> np.ndarray:
    levels = np.zeros((len(uniq), len(bases)), dtype=np.int8)
    rest = uniq.copy()
    for j in range(len(bases) - 1, -1, -1):
        levels[:, j] = rest % bases[j] - 1
        rest //= bases[j]
    return levels


def grouping(bench: Workbench) -> Grouping:
    """The workbench's pairs grouped by pattern (computed once, kept in ``bench.cache``)."""
    if CACHE_KEY in bench.cache:
        return bench.cache[CACHE_KEY]
    names, labels = _comparisons(bench)
    code, bases = _codes(bench, names, labels)
    group, uniq = pd.factorize(code, sort=True)
    k = len(uniq)
    prob = bench.run.pairs[MATCH_PROBABILITY].to_numpy(np.float64)
    prob_min, prob_max = np.full(k, np.inf), np.full(k, -np.inf)
    np.minimum.at(prob_min, group, prob)
    np.maximum.at(prob_max, group, prob)
    levels = _unpack(np.asarray(uniq, dtype=np.int64), bases)
    weight = None
    if bench.model is not None:
        weight = np.full(k, bench.model.prior_weight)
        for j, name in enumerate(names):
            table = np.append(bench.model.params(name).weights()[: len(labels[j])], 0.0)  # gamma -1 -> 0
            weight = weight + table[levels[:, j].astype(np.int64)]
    ids = [".".join(NULL if g < 0 else str(g) for g in row) for row in levels.tolist()]
    out = Grouping(names, labels, levels, group.astype(np.int32 if k < 2**31 else np.int64),
                   np.bincount(group, minlength=k), np.bincount(group, prob, minlength=k), prob_min, prob_max,
                   weight, ids)
    bench.cache[CACHE_KEY] = out
    return out


def _order(g: Grouping) -> np.ndarray:
    """Pattern rows by weight, highest first, ties by id (by count, most first, when there is no model)."""
    ids = np.asarray(g.ids, dtype=object)
    by = -g.weight if g.weight is not None else -g.count.astype(np.float64)
    return np.lexsort((ids, by))


def _listed(g: Grouping) -> tuple[np.ndarray, list[dict]]:
    """The patterns in listing order and what a threshold does not change of each (worked out once)."""
    if g.listed is None:
        order = _order(g)
        rows = []
        for i in order.tolist():
            levels = {n: "null" if g.levels[i, j] < 0 else g.labels[j][g.levels[i, j]] for j, n in enumerate(g.names)}
            rows.append({"pattern": g.ids[i], "levels": levels, **plain({
                "pairs": g.count[i], "weight": None if g.weight is None else float(g.weight[i]),
                "mean_probability": float(g.prob_sum[i] / g.count[i]),
                "min_probability": float(g.prob_min[i]), "max_probability": float(g.prob_max[i])})})
        g.listed = (order, rows)
    return g.listed


def gamma_patterns(bench: Workbench, threshold: float) -> dict:
    """Every pattern among the scored pairs (see the module rules): its id, each comparison's level label, its
    pairs, those linking at ``threshold``, its weight and its pairs' mean / min / max stored match probability."""
    if not 0 < threshold < 1:
        raise InputError("threshold: must be strictly between 0 and 1")
    g = grouping(bench)
    order, rows = _listed(g)
    linked = bench.run.pairs[MATCH_PROBABILITY].to_numpy(np.float64) >= threshold
    links = np.bincount(g.group, weights=linked, minlength=len(g.ids)).astype(np.int64)[order].tolist()
    return {"threshold": threshold, "comparisons": g.names, "pairs": int(g.count.sum()),
            "patterns": [{**r, "links": k} for r, k in zip(rows, links, strict=True)]}


def pattern_pairs(bench: Workbench, pattern: str, n: int = 20, seed: int = 42) -> dict:
    """A deterministic sample of at most ``n`` pairs of ``pattern`` (its id), by pair number: their keys, stored
    weight and match probability; and how many pairs the pattern holds."""
    if not 1 <= n <= 1000:
        raise InputError("n: must be between 1 and 1000")
    g = grouping(bench)
    try:
        row = g.ids.index(pattern) if PATTERN_ID.match(pattern) else -1
    except ValueError:
        row = -1
    if row < 0:
        raise InputError("pattern: no scored pair has that pattern")
    members = np.flatnonzero(g.group == row)
    if len(members) > n:
        members = np.sort(np.random.default_rng(seed).choice(members, n, replace=False))
    pairs = bench.run.pairs
    left, right = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()
    prob = pairs[MATCH_PROBABILITY].to_numpy()
    weight = pairs[MATCH_WEIGHT].to_numpy() if MATCH_WEIGHT in pairs.columns else None
    sample = [{"pair": int(i), "left": record_key(bench.run, int(left[i])), "right": record_key(bench.run, int(right[i])),
               **plain({"match_weight": None if weight is None else float(weight[i]),
                         "match_probability": float(prob[i])})} for i in members.tolist()]
    return {"pattern": pattern, "pairs": int(g.count[row]), "seed": seed, "sample": sample}


__all__ = ["CACHE_KEY", "Grouping", "gamma_patterns", "grouping", "pattern_pairs"]
