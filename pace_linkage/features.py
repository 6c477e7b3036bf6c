"""The seam through which a study feature plugs into the pipeline: one :class:`Feature` per feature.

The stages (ingest, evaluate, report) never name a feature: they receive the run's features as a parameter
and call their hooks in order. Every hook does nothing by default, so a feature overrides only what it needs:

================  ==========================================  =============================================
stage             hook                                        e.g.
================  ==========================================  =============================================
before reading    :meth:`Feature.source_view`                 sharing: only the agreed fields are read
after reading     :meth:`Feature.admit`                       sharing: rows without consent are withheld
                  :meth:`Feature.count_withheld`              aggregates: the withheld rows, counted
after normalising :meth:`Feature.after_normalise`             holdings: completeness per data item
evaluate          :meth:`Feature.metrics`                     pseudonymisation: the encoding summary
report            :attr:`Feature.sections`                    holdings: "What each partner holds"
================  ==========================================  =============================================

What a feature computes per source is kept on the source's batch under the feature's :attr:`Feature.name`
(``SourceBatch.extras``), for its :meth:`Feature.metrics` to gather. The default features are listed in
:data:`pace_linkage.study.FEATURES`; the composition (:mod:`pace_linkage.pipeline`) passes them to the
stages. To add a feature: subclass :class:`Feature` in its own module, override its hooks, and add it to
that list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type hints only: the stages import this module, never the other way round
    import numpy as np
    import pandas as pd

    from pace_linkage.config import PaceConfig, SourceConfig
    from pace_linkage.evaluate.metrics import RunResults
    from pace_linkage.ingest.extract import Extract
    from pace_linkage.ingest.sources import SourceBatch
    from pace_linkage.report.section import Section


class Feature:
    """A study feature's hooks into the pipeline. Subclasses set :attr:`name` and override the hooks they
    need; the defaults change nothing."""

    name: str = "feature"
    sections: Sequence[Section] = ()  # report sections this feature adds to a run's page

    def source_view(self, src: SourceConfig) -> SourceConfig:
        """Before reading: the source's config as the centre may read it (e.g. fewer fields)."""
        return src

    def admit(self, extract: Extract, view: SourceConfig) -> np.ndarray | None:
        """After reading (``view`` is the source as read): adjust what is kept of the extract, and return
        which rows may enter the centre (a boolean mask), or None for all. A row any feature refuses is
        withheld: counted in ``rows_withheld``, and kept nowhere."""
        return None

    def count_withheld(self, extract: Extract, src: SourceConfig, cfg: PaceConfig,
                       withheld: np.ndarray) -> Any:
        """Before the withheld rows (mask ``withheld``) are dropped: what the feature keeps of them
        (aggregates only), stored on the batch under :attr:`name`; None keeps nothing."""
        return None

    def after_normalise(self, batch: SourceBatch, accepted: pd.DataFrame, src: SourceConfig) -> Any:
        """After normalising one source, while its raw extract (``batch.extract``) is still in memory:
        what the feature keeps about it (counts only), stored on the batch under :attr:`name`; None keeps
        nothing. ``accepted`` is the normalised records that passed the checks."""
        return None

    def metrics(self, run: RunResults, truth: pd.DataFrame | None) -> Mapping[str, Any]:
        """Entries this feature adds to the run's ``metrics.json`` (aggregates only)."""
        return {}


def report_sections(features: Sequence[Feature]) -> list[Section]:
    """Every report section the features add, in feature order (the page sorts them by their ``order``)."""
    return [s for f in features for s in f.sections]


__all__ = ["Feature", "report_sections"]
