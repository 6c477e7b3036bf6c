"""Precision and recall estimated from the workbench's labels, with 95 % intervals, at any threshold.

The labelling queue is a stratified sample of the scored pairs (:func:`pace_linkage.evaluate.review.sample_pairs`
around the run's threshold, shuffled), so the pairs labelled so far are, within each stratum, a simple random
sample of it: each decided pair (match or non-match) stands for ``N_h / d_h`` pairs of its stratum, and
:func:`pace_linkage.evaluate.review.estimate` gives the stratified ratio estimates with Wilson intervals on the
design-effective sample size, as ``review import`` does for a labelled sheet.

Rules:

* Only labels of pairs in the queue's sample count: a pair labelled elsewhere (from a cluster, say) was not
  drawn by the design and would bias the estimate; such labels are counted (``outside_sample``) and left out.
* Unsure labels are left out, their stratum's weight spread over its decided pairs.
* Scope: candidate pairs, pair level (a pair links when its probability is at or above the threshold; matches
  blocking never proposed are not counted), unlike the curve's figures, which are over clusters. Strata with
  no decided label yet are reported (``strata_without_decisions``): their pairs are not represented, so with few
  labels the estimate is rough, and its interval says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pace_linkage.evaluate import review
from pace_linkage.evaluate.runfolder import PAIR_KEYS, key_strings
from pace_linkage.workbench import views

MIN_DECIDED = 1  # below this many decided labels in the sample there is no estimate


def _design(bench) -> pd.DataFrame:
    """The queue's sample (pos, stratum, stratum_pairs) with each pair's key text, computed once."""
    if "design" not in bench.cache:
        drawn = views.queue_sample(bench)
        pairs = bench.run.pairs
        keys = (key_strings(pairs["source_l"].to_numpy()[drawn["pos"]], pairs["record_id_l"].to_numpy()[drawn["pos"]])
                + "|" + key_strings(pairs["source_r"].to_numpy()[drawn["pos"]],
                                    pairs["record_id_r"].to_numpy()[drawn["pos"]]))
        bench.cache["design"] = drawn.assign(key=keys.to_numpy())
    return bench.cache["design"]


def labelled_sample(bench, labels: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The labelled pairs of the queue's sample (``line``, ``pos``, ``stratum``, ``stratum_pairs``, ``label``)
    and how many labels name pairs outside it."""
    design = _design(bench)
    if labels.empty:
        return design.iloc[:0].assign(label="", line=0), 0
    keys = (key_strings(labels[PAIR_KEYS[0]], labels[PAIR_KEYS[1]]) + "|"
            + key_strings(labels[PAIR_KEYS[2]], labels[PAIR_KEYS[3]])).to_numpy()
    given = pd.Series(labels["label"].to_numpy(), index=keys)
    given = given[~given.index.duplicated(keep="last")]
    inside = design["key"].isin(given.index).to_numpy()
    frame = design.loc[inside].assign(label=given.reindex(design.loc[inside, "key"]).to_numpy())
    frame = frame.assign(line=np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True), int(len(given) - inside.sum())


def _probability(bench) -> np.ndarray:
    if "probability" not in bench.cache:
        bench.cache["probability"] = review.pair_probability(bench.run.pairs)
    return bench.cache["probability"]


def estimate_at(bench, labels: pd.DataFrame, threshold: float, sample=None) -> dict:
    """The clerical estimate at ``threshold`` from ``labels`` (keys and label): precision and recall with
    intervals, the label counts, the labels outside the sample; ``precision``/``recall`` None without labels.
    ``sample``: :func:`labelled_sample` of the same labels, when the caller holds it."""
    frame, outside = labelled_sample(bench, labels) if sample is None else sample
    decided = int(frame["label"].isin(["match", "non-match"]).sum())
    if decided < MIN_DECIDED:
        counts = frame["label"].value_counts()
        return {"threshold": float(threshold), "decided": decided, "outside_sample": outside,
                "labels": {k: int(counts.get(k, 0)) for k in review.LABELS}, "precision": None, "recall": None}
    out = review.estimate(frame, bench.run, float(threshold), _probability(bench))
    out.pop("strata", None)
    return {**out, "decided": decided, "outside_sample": outside}


def figures(bench, threshold: float) -> dict:
    """The clerical estimate at ``threshold`` from every label given so far."""
    return estimate_at(bench, views.given_labels(bench), threshold)


def curve(bench, thresholds) -> list[dict]:
    """The clerical curve at ``thresholds`` from every label given so far."""
    return curve_at(bench, views.given_labels(bench), thresholds)


def curve_at(bench, labels: pd.DataFrame, thresholds) -> list[dict]:
    """The clerical estimate at each of ``thresholds``: threshold, precision and recall with their intervals
    (empty without a decided label)."""
    rows, sample = [], labelled_sample(bench, labels)
    for t in thresholds:
        e = estimate_at(bench, labels, float(t), sample)
        if e["precision"] is None:
            return []
        p, r = e["precision"], e["recall"]
        rows.append({"threshold": float(t), "precision": p["estimate"], "precision_low": p["ci_low"],
                     "precision_high": p["ci_high"], "recall": r["estimate"], "recall_low": r["ci_low"],
                     "recall_high": r["ci_high"]})
    return rows


__all__ = ["curve", "curve_at", "estimate_at", "figures", "labelled_sample"]
