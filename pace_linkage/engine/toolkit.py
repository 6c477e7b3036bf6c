"""The recordlinkage toolkit seam: pace-linkage comparisons as toolkit features.

Kept apart from :mod:`pace_linkage.engine.compare` so that the pipeline does not import the toolkit (and the
scikit-learn it brings, about 3 s) unless someone uses this seam.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from recordlinkage.base import BaseCompareFeature

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare_one, spec_columns
from pace_linkage.engine.settings import ComparisonSpec


class MultiLevelFeature(BaseCompareFeature):
    """Use a pace-linkage multi-level comparison inside ``recordlinkage.Compare``.

    Example::

        cmp = recordlinkage.Compare()
        cmp.add(MultiLevelFeature(spec))
        features = cmp.compute(candidate_links, df)   # one int column: the gamma level (-1 = null)

    The feature reads every column the comparison needs (:func:`spec_columns`) from both records.
    """

    name = "multi_level"
    description = "pace-linkage multi-level comparison"

    def __init__(self, spec: ComparisonSpec, label: str | None = None):
        self.spec = spec
        self.columns = spec_columns(spec)
        super().__init__(self.columns, self.columns, label=label or spec.name)

    def _compute_vectorized(self, *args):
        k = len(self.columns)
        left = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(self.columns, args[:k], strict=True)})
        right = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(self.columns, args[k:], strict=True)})
        m = len(left)
        both = pd.concat([left, right], ignore_index=True)
        l_ = np.arange(m, dtype=np.int64)
        gamma = compare_one(ColumnCache(both), self.spec, l_, l_ + m)
        return pd.Series(gamma.astype(np.int64), index=args[0].index if k else None)
