"""The threshold curve: what linking at each threshold would give, measured with truth and estimated without it.

One function (:func:`threshold_curve`) computes these figures for a run's metrics.json, ``tune`` and anything
else that shows a threshold, so they agree. At every threshold the clusters are made as the run makes them
(its conflict rules: :meth:`pace_linkage.evaluate.recluster.Reclusterer.labels`, or the run's own clusters), so
at the run's threshold the measured figures are the run's.

Rules (all pairwise over clusters, as the run reports precision and recall):

* ``links``: scored pairs at or above the threshold; ``clusters``: clusters of every record (singletons
  included); ``linked_records``: records in a cluster of two or more; ``cluster_pairs``: pairs of records
  sharing a cluster.
* Measured (with truth): ``precision = tp / cluster_pairs``, ``recall = tp / true pairs``, ``f1``, ``tp``,
  ``fp``, ``fn``.
* Estimated (always): expected true pairs in clusters ``est_true_links`` = the match probabilities of the scored
  pairs inside a cluster, plus ``q`` for each pair inside a cluster that was never scored (joined through
  others). ``q`` is the mean probability the run's model gave those pairs at the run's threshold
  (metrics.json ``estimated.recovered_by_clustering`` over their number there); 1 when the run holds no
  label-free estimate. ``est_false_links = cluster_pairs - est_true_links``. The expected true pairs in all
  ``M`` is the run's label-free estimate (``expected_true_pairs_linked / recall``: the matches compared and
  those blocking never compared), the same at every threshold; without it, ``M`` is the expected true pairs
  in clusters plus the probabilities of the scored pairs across clusters at the run's threshold.
  ``est_missed = M - est_true_links``, ``est_precision = est_true_links / cluster_pairs``,
  ``est_recall = est_true_links / M``. At the run's threshold ``est_recall`` is the run's label-free recall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.counting import pairs_within_groups
from pace_linkage.evaluate.quality import f1_score, pair_counts, ratio, same_code, scores

CURVE_COLUMNS = ["threshold", "match_weight", "links", "clusters", "linked_records", "cluster_pairs",
                 "est_precision", "est_recall", "est_f1", "est_true_links", "est_false_links", "est_missed"]
TRUTH_COLUMNS = ["precision", "recall", "f1", "tp", "fp", "fn"]
# the thresholds metrics.json carries: where thresholds are chosen, and cheap to cluster at a million records
METRICS_GRID = (0.5, 0.7, 0.9, 0.95, 0.99, 0.999)
# a finer grid where the thresholds are looked at one by one (tune, the workbench)
FINE_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995,
             0.998, 0.999)


@dataclass
class CurveInputs:
    """What the curve reads: record count, the scored pairs (record positions and probabilities), the cluster
    labels at a threshold, the run's threshold and label-free estimate, and the truth as person codes."""

    n: int
    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    labels_at: Callable[[float], np.ndarray]
    run_threshold: float
    estimated: dict | None = None
    person: np.ndarray | None = None


def grid(run_threshold: float, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """The thresholds of a curve, ascending and distinct, the run's own among them."""
    values = METRICS_GRID if thresholds is None else thresholds
    return np.unique(np.r_[np.asarray(values, dtype=np.float64), float(run_threshold)])


def _inside(inputs: CurveInputs, labels: np.ndarray) -> tuple[float, int, int, int, float]:
    """(sum of probabilities of scored pairs inside a cluster, their number, pairs sharing a cluster, clusters,
    records in clusters of two or more)."""
    inside = same_code(labels, inputs.left, inputs.right)
    sizes = np.bincount(labels)
    sizes = sizes[sizes > 0]
    return (float(inputs.probability[inside].sum()), int(inside.sum()), pairs_within_groups(sizes),
            int(len(sizes)), int(sizes[sizes > 1].sum()))


def _labels_once(inputs: CurveInputs) -> CurveInputs:
    """``inputs`` whose labels at a threshold are made once (the run's threshold is asked for twice)."""
    made: dict[float, np.ndarray] = {}
    labels_at = inputs.labels_at

    def once(t: float) -> np.ndarray:
        if t not in made:
            made[t] = labels_at(t)
        return made[t]

    return CurveInputs(inputs.n, inputs.left, inputs.right, inputs.probability, once, inputs.run_threshold,
                       inputs.estimated, inputs.person)


def _calibration(inputs: CurveInputs, at_run: tuple) -> tuple[float, float]:
    """(q, M): the expected match rate of cluster pairs never scored, and the expected true pairs in all
    (``at_run``: :func:`_inside` at the run's threshold)."""
    s_in, l_in, pairs, _, _ = at_run
    est = inputs.estimated or {}
    linked, recall = est.get("expected_true_pairs_linked"), est.get("recall")
    if linked is None or not recall:
        across = ~same_code(inputs.labels_at(inputs.run_threshold), inputs.left, inputs.right)
        return 1.0, s_in + (pairs - l_in) + float(inputs.probability[across].sum())
    unscored = pairs - l_in
    q = min(1.0, max(0.0, float(est.get("recovered_by_clustering", 0.0)) / unscored)) if unscored else 1.0
    return q, float(linked) / float(recall)


def cluster_figures(inputs: CurveInputs, thresholds: Sequence[float] | None = None) -> dict[float, tuple]:
    """What the curve reads of the clusters at each threshold of its grid, none of it from the label-free
    estimate: ``{threshold: (_inside figures, truth counts or None)}``. The costly part of the curve (a clustering
    at each threshold), so a caller may compute it while the estimate is made (:func:`threshold_curve`'s
    ``figures``)."""
    inputs = _labels_once(inputs)
    out = {}
    for t in grid(inputs.run_threshold, thresholds):
        labels = inputs.labels_at(float(t))
        out[float(t)] = (_inside(inputs, labels), None if inputs.person is None else pair_counts(labels, inputs.person))
    return out


def threshold_curve(inputs: CurveInputs, thresholds: Sequence[float] | None = None,
                    figures: dict[float, tuple] | None = None) -> pd.DataFrame:
    """One row per threshold (ascending): the columns of :data:`CURVE_COLUMNS`, and with truth
    (``inputs.person``) those of :data:`TRUTH_COLUMNS` (see the module rules). ``figures``:
    :func:`cluster_figures` of the same inputs and thresholds, when computed already."""
    inputs = _labels_once(inputs)
    figures = cluster_figures(inputs, thresholds) if figures is None else figures
    q, total = _calibration(inputs, figures[float(inputs.run_threshold)][0])
    rows = []
    for t in grid(inputs.run_threshold, thresholds):
        (s_in, l_in, pairs, clusters, linked), counts = figures[float(t)]
        true_links = min(float(pairs), s_in + q * (pairs - l_in))
        precision, recall = ratio(true_links, pairs), ratio(true_links, total)
        row = {"threshold": float(t), "match_weight": float(np.log2(t / (1.0 - t))),
               "links": int(np.count_nonzero(inputs.probability >= t)), "clusters": clusters,
               "linked_records": linked, "cluster_pairs": pairs, "est_precision": precision,
               "est_recall": recall, "est_f1": f1_score(precision, recall), "est_true_links": true_links,
               "est_false_links": pairs - true_links, "est_missed": max(0.0, total - true_links)}
        if counts is not None:
            row.update({**scores(counts), "tp": counts["tp"], "fp": counts["fp"], "fn": counts["fn"]})
        rows.append(row)
    columns = CURVE_COLUMNS + (TRUTH_COLUMNS if inputs.person is not None else [])
    return pd.DataFrame(rows, columns=columns)


def curve_rows(frame: pd.DataFrame, digits: int = 6) -> list[dict]:
    """The curve as metrics.json holds it (key ``threshold_curve``): a list of row dicts, rates rounded."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (round(float(v), digits) if isinstance(v, float) else int(v)) for k, v in row.items()})
    return out


def run_inputs(run, estimated: dict | None, person: np.ndarray | None,
               cluster: np.ndarray | None = None) -> CurveInputs:
    """The curve's inputs of a run in memory (a :class:`pace_linkage.evaluate.metrics.RunResults`): its records'
    own conflict values, clustered as the run clusters them; ``cluster``: the run's own cluster codes of its
    records, if known (its labels at its threshold)."""
    from pace_linkage.engine.blocking import column_codes
    from pace_linkage.engine.cluster import FieldValues, cluster_labels
    from pace_linkage.engine.linker import Linker
    from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, SOURCE

    settings = run.cfg.linkage.clustering
    kept = getattr(run.clusters, "field_values", None) or {}  # the codes the run's clustering made
    fields = {c: kept.get(c) or FieldValues.of(run.records[c], settings.conflict_tolerance.get(c, 0))
              for c in settings.conflict_fields}
    dup_free = run.records[SOURCE].isin(Linker.from_config(run.cfg).duplicate_free_sources).to_numpy()
    sources = column_codes(run.records[SOURCE])
    left, right = run.blocking.pairs[LEFT].to_numpy(), run.blocking.pairs[RIGHT].to_numpy()
    prob = run.scored[MATCH_PROBABILITY].to_numpy(np.float64)
    weight = run.scored[MATCH_WEIGHT].to_numpy(np.float64)
    n = len(run.records)

    floor = min(min(METRICS_GRID), float(run.threshold))
    above = np.flatnonzero(prob >= floor)  # every threshold of the metrics' curve reads only these pairs
    sub = (left[above], right[above], prob[above], weight[above])

    def labels_at(t: float) -> np.ndarray:
        if cluster is not None and t == float(run.threshold):
            return cluster
        edges = sub if t >= floor else (left, right, prob, weight)
        return cluster_labels(n, *edges, t, settings, fields, dup_free, sources)

    return CurveInputs(n, left, right, prob, labels_at, float(run.threshold), estimated, person)


def folder_inputs(run, truth: pd.DataFrame | None = None,
                  labels_at: Callable[[float], np.ndarray] | None = None) -> CurveInputs:
    """The curve's inputs of a finished run folder (a :class:`pace_linkage.evaluate.runfolder.RunData`), clustered
    from its stored codes (:class:`pace_linkage.evaluate.recluster.Reclusterer`, or ``labels_at`` when the caller
    holds one)."""
    from pace_linkage.evaluate.quality import person_codes
    from pace_linkage.evaluate.recluster import Reclusterer
    from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RIGHT

    labels_at = labels_at or Reclusterer.load(run).labels
    person = None if truth is None else person_codes(run.records, truth).codes
    if run.threshold is None:
        raise ValueError("folder_inputs: the run records no threshold")
    return CurveInputs(len(run.records), run.pairs[LEFT].to_numpy(), run.pairs[RIGHT].to_numpy(),
                       run.pairs[MATCH_PROBABILITY].to_numpy(np.float64), labels_at, float(run.threshold),
                       run.metrics.get("estimated"), person)


__all__ = ["CURVE_COLUMNS", "FINE_GRID", "METRICS_GRID", "TRUTH_COLUMNS", "CurveInputs", "cluster_figures", "curve_rows",
           "folder_inputs", "grid",
           "run_inputs", "threshold_curve"]
