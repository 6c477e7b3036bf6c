"""Compare: turn each candidate pair into a vector of comparison levels (gamma).

For a comparison with levels ``0..L-1`` (:class:`~pace_linkage.engine.settings.ComparisonSpec`) the pair's gamma is

* ``-1`` when either record is null in the comparison's column (or in any of ``null_columns``): no evidence;
* else the index of the FIRST declared level that holds;
* else ``L`` (the "else" level: the values disagree).

Levels are evaluated in order only on the pairs not yet assigned, so the cheap exact levels shrink the
work of the expensive string levels. A level whose own column is null on either side does not hold.
Everything is column-wise: exact levels compare integer codes, string similarities use
``rapidfuzz.process.cpdist`` (computed once per distinct value pair when values repeat a lot), Jaccard
uses a sparse token matrix, dates are parsed once per record.

Level types are classes in :mod:`pace_linkage.engine.levels` (one per type, registered in
``LEVEL_TYPES``, each stating its rule). The per-column arrays and similarity kernels they read are in
:mod:`pace_linkage.engine.columns`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.levels import LEVEL_TYPES
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, RIGHT

NULL_LEVEL = -1


def level_holds(
    cache: ColumnCache, level: LevelSpec, default_column: str, l_: np.ndarray, r_: np.ndarray
) -> np.ndarray:
    """Boolean array: does ``level`` hold for the pairs (l_, r_)? (Its type's rule, on its own column or
    else ``default_column``.)"""
    kind = LEVEL_TYPES.get(level.type)
    if kind is None:  # settings refuse unknown types; this guards settings built without validation
        raise LinkageError(f"compare: unknown level type '{level.type}'")
    return kind.holds(cache, level, level.column or default_column, l_, r_)


def compare_one(cache: ColumnCache, spec: ComparisonSpec, l_: np.ndarray, r_: np.ndarray) -> np.ndarray:
    """int8 gamma of one comparison for the pairs (l_, r_)."""
    n_levels = len(spec.levels)
    if n_levels > 120:
        raise LinkageError(f"compare: comparison '{spec.name}' has too many levels")
    null = np.zeros(len(l_), dtype=bool)
    for col in spec.null_columns or [spec.column]:
        c = cache.codes(col)
        null |= (c[l_] < 0) | (c[r_] < 0)
    gamma = np.full(len(l_), n_levels, dtype=np.int8)
    gamma[null] = NULL_LEVEL
    todo = np.flatnonzero(~null)
    for i, level in enumerate(spec.levels):
        if len(todo) == 0:
            break
        holds = level_holds(cache, level, spec.column, l_[todo], r_[todo])
        gamma[todo[holds]] = i
        todo = todo[~holds]
    return gamma


def compare(
    records: pd.DataFrame, pairs: pd.DataFrame, comparisons: Sequence[ComparisonSpec],
    cache: ColumnCache | None = None,
) -> pd.DataFrame:
    """int8 gamma columns (one per comparison, named by comparison name), aligned with ``pairs``."""
    cache = cache or ColumnCache(records)
    l_ = pairs[LEFT].to_numpy(np.int64)
    r_ = pairs[RIGHT].to_numpy(np.int64)
    out = {spec.name: compare_one(cache, spec, l_, r_) for spec in comparisons}
    return pd.DataFrame(out, index=pairs.index, columns=[s.name for s in comparisons])


def spec_columns(spec: ComparisonSpec) -> list[str]:
    """Every record column a comparison reads (its column, null columns, level columns and others)."""
    return spec.columns()
