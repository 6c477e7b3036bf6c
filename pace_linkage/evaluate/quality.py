"""Evaluate: how good is a linkage, with or without truth.

Pure, vectorised functions; nothing here enumerates record pairs. With N records up to 1M and
candidate pairs up to ~50M, every count is derived from group sizes:

* the number of unordered record pairs inside a group of ``n`` records is ``C(n, 2) = n(n-1)/2``;
* predicted pairs = sum of C(n, 2) over clusters, true pairs = sum over persons, and true positives =
  sum over the non-empty (cluster, person) intersections. FP = predicted - TP, FN = true - TP.

Pairs are unordered record pairs, both within one source and across sources.

Conventions (documented because they change the numbers):

* **Records absent from truth** (or with a null or blank person_id) are treated as their own person
  (a singleton): any link they take part in is a false positive. Their number is reported as ``records_absent_from_truth``. Truth rows
  whose record is not among the clustered records (e.g. quarantined rows) are ignored and counted as
  ``truth_rows_not_clustered``.
* **Empty denominators**: with no predicted pairs precision is 1.0 (no wrong link was made); with no
  true pairs recall is 1.0 (nothing was missed). F1 is 0.0 when precision + recall is 0.
* A record with a null cluster id is its own cluster.

Without truth, :func:`estimated_quality` gives the model's own estimate (fastLink style).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pace_linkage.counting import pairs_within_groups
from pace_linkage.engine.linker import positional
from pace_linkage.errors import InputError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RECORD_ID, RIGHT, SOURCE

PERSON_ID = "person_id"
KEY = [SOURCE, RECORD_ID]
_SEP = "\x1f"


# --------------------------------------------------------------------------------------------------
# Small helpers over whole columns
# --------------------------------------------------------------------------------------------------
def ratio(num: float, den: float, empty: float = 1.0) -> float:
    """``num / den``; ``empty`` when the denominator is zero (nothing predicted: no wrong link; nothing true:
    nothing missed)."""
    return float(num) / float(den) if den else float(empty)


def f1_score(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall; 0.0 when both are 0."""
    s = precision + recall
    return 2.0 * precision * recall / s if s > 0 else 0.0


def group_codes(values: pd.Series) -> np.ndarray:
    """Integer codes 0..K-1 for a column; each null gets a fresh code of its own (a singleton)."""
    codes, _ = pd.factorize(values, sort=False, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    null = codes < 0
    if null.any():
        start = codes.max() + 1 if (~null).any() else 0
        codes[null] = start + np.arange(int(null.sum()), dtype=np.int64)
    return codes


def _check_unique(frame: pd.DataFrame, what: str) -> None:
    dup = frame.duplicated(KEY, keep=False)
    if dup.any():
        raise InputError(f"{what}: {int(dup.sum())} rows share a (source, record_id) key; keys must be unique")


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}")


def _key_strings(frame: pd.DataFrame) -> pd.Series:
    return frame[SOURCE].astype(str) + _SEP + frame[RECORD_ID].astype(str)


def key_positions(truth: pd.DataFrame, records: pd.DataFrame) -> np.ndarray:
    """Per record, the position of the truth row with its key (source and record id, matched as the text
    ``source + "\x1f" + record_id``), ``-1`` if none; truth keys are unique. Each key column is coded once over
    both frames and the two codes combined, so no key text is made per row (millions of strings at a million
    records); a value holding the separator is matched through the joined text, as it would be."""
    src = [f[SOURCE].astype(str) for f in (truth, records)]
    rid = [f[RECORD_ID].astype(str) for f in (truth, records)]
    if any(c.str.contains(_SEP, regex=False).any() for c in (*src, *rid)):
        return pd.Index(_key_strings(truth)).get_indexer(_key_strings(records))
    n = len(truth)
    s_codes, _ = pd.factorize(pd.concat(src, ignore_index=True))
    r_codes, _ = pd.factorize(pd.concat(rid, ignore_index=True))
    both = s_codes.astype(np.int64) * (int(r_codes.max()) + 1 if len(r_codes) else 1) + r_codes
    return pd.Index(both[:n]).get_indexer(both[n:])


def truth_coverage(records: pd.DataFrame, truth: pd.DataFrame) -> int:
    """How many of ``records`` have a row in ``truth`` (matched on source and record id, as quality is)."""
    _check_columns(records, KEY, "records")
    _check_columns(truth, KEY, "truth")
    return int(_key_strings(records).isin(set(_key_strings(truth))).sum())


def check_truth_coverage(records: pd.DataFrame, truth: pd.DataFrame, where: str) -> str | None:
    """Refuse a truth file that shares no record with the run (an :class:`InputError` naming ``where``: every
    figure measured against it would be meaningless); a warning line if it covers only part of the records
    (the others count as people of their own, see the module); None if it covers them all or there are none."""
    if not len(records):
        return None
    covered = truth_coverage(records, truth)
    if covered == 0:
        raise InputError(f"{where}: the truth file shares no record with this run (no row for any of its "
                         f"{len(records):,} records' source and record_id): is it the truth of other extracts?")
    if covered < len(records):
        return (f"{where}: the truth file covers {covered:,} of the run's {len(records):,} records (the rest "
                "count as people of their own)")
    return None


class PersonCodes(NamedTuple):
    """The truth as codes, aligned with a run's records: a person code per record position (records absent
    from truth as singletons), with ``absent`` (records_absent_from_truth) and ``not_clustered``
    (truth_rows_not_clustered). Computed once per run (:func:`person_codes`) and passed, in place of the truth
    frame, to every figure that reads the same records."""

    codes: np.ndarray
    absent: int
    not_clustered: int


def person_codes(records: pd.DataFrame, truth: pd.DataFrame | PersonCodes) -> PersonCodes:
    """Person code per record position (aligned with ``records``), records absent from truth as singletons.

    Returns (codes, records_absent_from_truth, truth_rows_not_clustered). ``truth`` may already be the
    records' :class:`PersonCodes` (returned as they are, once their length is checked).
    """
    if isinstance(truth, PersonCodes):
        if len(truth.codes) != len(records):
            raise InputError(f"truth: person codes for {len(truth.codes)} records, not {len(records)}")
        return truth
    _check_columns(records, KEY, "records")
    _check_columns(truth, [*KEY, PERSON_ID], "truth")
    _check_unique(records, "records")
    if _same_keys(records, truth):  # truth row for row the records (as a generator writes it): no lookup
        pos = np.arange(len(records))
    else:
        _check_unique(truth, "truth")
        pos = key_positions(truth, records)
    found = pos >= 0
    truth_codes = person_id_codes(truth[PERSON_ID])  # a null/blank person_id is a person of its own
    codes = np.full(len(records), -1, dtype=np.int64)
    codes[found] = truth_codes[pos[found]]
    absent = int((~found).sum())
    if absent:  # each record absent from truth becomes a singleton person
        start = int(truth_codes.max()) + 1 if len(truth_codes) else 0
        codes[~found] = start + np.arange(absent, dtype=np.int64)
    not_clustered = int(len(truth) - (len(records) - absent))
    return PersonCodes(codes, absent, not_clustered)


def _same_keys(records: pd.DataFrame, truth: pd.DataFrame) -> bool:
    """Whether ``truth`` holds the records' keys row for row (then its keys are as unique as theirs)."""
    def text(values: pd.Series) -> np.ndarray | None:  # keys are matched as text: only text keys compare as is
        return values.to_numpy(dtype=object) if pd.api.types.infer_dtype(values, skipna=False) == "string" else None

    if len(records) != len(truth):
        return False
    for c in KEY:
        a, b = text(records[c]), text(truth[c])
        if a is None or b is None or not np.array_equal(a, b):
            return False
    return True


def person_id_codes(values: pd.Series) -> np.ndarray:
    """``group_codes`` of the person ids with the blank ones (:func:`_blank_to_null`) null, each distinct id
    looked at once: the codes of the ids that are not blank, renumbered in order of first appearance."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return group_codes(values)
    codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    blank = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip().eq("").to_numpy()
    keep = np.append(~blank, False)  # code -1 (null) -> the last slot
    renumber = np.append(np.cumsum(~blank) - 1, -1)
    out = np.where(keep[codes], renumber[codes], -1).astype(np.int64)
    null = out < 0
    if null.any():
        start = int((~blank).sum())
        out[null] = start + np.arange(int(null.sum()), dtype=np.int64)
    return out


def _blank_to_null(values: pd.Series) -> pd.Series:
    """Empty or all-space text ids (e.g. a blank cell read with keep_default_na=False) count as missing."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    blank = values.astype(str).str.strip().eq("").to_numpy() & values.notna().to_numpy()
    return values.where(~blank, None) if blank.any() else values


def pair_counts(cluster: np.ndarray, person: np.ndarray) -> dict[str, int]:
    """TP / FP / FN, predicted and true pairs from aligned cluster and person codes (:func:`group_codes`), via
    group sizes only: predicted = pairs sharing a cluster, true = pairs sharing a person, TP = both."""
    if len(cluster) == 0:
        return {"tp": 0, "fp": 0, "fn": 0, "predicted_pairs": 0, "true_pairs": 0}
    predicted = pairs_within_groups(np.bincount(cluster))
    true = pairs_within_groups(np.bincount(person))
    joint = cluster * (int(person.max()) + 1) + person
    _, both = np.unique(joint, return_counts=True)
    tp = pairs_within_groups(both)
    return {"tp": tp, "fp": predicted - tp, "fn": true - tp, "predicted_pairs": predicted, "true_pairs": true}


def scores(counts: dict[str, int]) -> dict[str, float]:
    """Precision, recall and F1 of :func:`pair_counts` (empty denominators give 1.0)."""
    precision = ratio(counts["tp"], counts["predicted_pairs"])
    recall = ratio(counts["tp"], counts["true_pairs"])
    return {"precision": precision, "recall": recall, "f1": f1_score(precision, recall)}


# --------------------------------------------------------------------------------------------------
# With truth: pairwise and B-cubed
# --------------------------------------------------------------------------------------------------
def pairwise_scores(cluster_ids: Sequence | pd.Series | np.ndarray,
                    person_ids: Sequence | pd.Series | np.ndarray) -> dict[str, Any]:
    """Pairwise precision / recall / F1 of a clustering against truth, for one cluster id and one true person
    id per record (aligned; a null id pairs with nothing). Returns precision, recall, f1, tp, fp, fn,
    predicted_pairs and true_pairs. :func:`pairwise_metrics` is the same on frames keyed by source and
    record id."""
    counts = pair_counts(group_codes(pd.Series(cluster_ids)), group_codes(pd.Series(person_ids)))
    return {**scores(counts), **counts}


def pairwise_metrics(clusters: pd.DataFrame, truth: pd.DataFrame | PersonCodes, id_column: str = "pace_id",
                     cluster: np.ndarray | None = None) -> dict[str, Any]:
    """Pairwise precision / recall / F1 of a clustering against truth, counted from group sizes.

    ``clusters`` has ``source``, ``record_id`` and ``id_column``; ``truth`` has ``source``,
    ``record_id``, ``person_id``. A pair is predicted when both records share a cluster id and true
    when they share a person_id. See the module docstring for records absent from truth.

    Returns precision, recall, f1, tp, fp, fn, predicted_pairs, true_pairs, records,
    records_absent_from_truth and truth_rows_not_clustered. ``cluster``: ``group_codes(clusters[id_column])``,
    if known.
    """
    _check_columns(clusters, [*KEY, id_column], "clusters")
    person, absent, not_clustered = person_codes(clusters, truth)
    counts = pair_counts(group_codes(clusters[id_column]) if cluster is None else cluster, person)
    return {
        **scores(counts),
        **counts,
        "records": int(len(clusters)),
        "records_absent_from_truth": absent,
        "truth_rows_not_clustered": not_clustered,
    }


def bcubed(clusters: pd.DataFrame, truth: pd.DataFrame | PersonCodes, id_column: str = "pace_id",
           cluster: np.ndarray | None = None) -> dict[str, float]:
    """B-cubed precision, recall and F1 (record-level averages, Bagga & Baldwin 1998).

    For each record r with cluster C(r) and person P(r): precision(r) = |C(r) & P(r)| / |C(r)| and
    recall(r) = |C(r) & P(r)| / |P(r)| (each record counts itself). Precision and recall are means
    over records; F1 is their harmonic mean. Records absent from truth are their own person. An empty
    input scores 1.0 / 1.0. ``cluster``: ``group_codes(clusters[id_column])``, if known.
    """
    _check_columns(clusters, [*KEY, id_column], "clusters")
    person, _, _ = person_codes(clusters, truth)
    if len(person) == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    cluster = group_codes(clusters[id_column]) if cluster is None else cluster
    joint = cluster * (int(person.max()) + 1) + person
    _, inverse, both = np.unique(joint, return_inverse=True, return_counts=True)
    inter = both[inverse].astype(np.float64)
    precision = float(np.mean(inter / np.bincount(cluster)[cluster]))
    recall = float(np.mean(inter / np.bincount(person)[person]))
    return {"precision": precision, "recall": recall, "f1": f1_score(precision, recall)}


# --------------------------------------------------------------------------------------------------
# Threshold sweep (connected components at each threshold)
# --------------------------------------------------------------------------------------------------
SAME_CODE_CHUNK = 1 << 18  # pairs looked up at a time by same_code


def same_code(codes: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per pair, whether its two records (positions ``left``, ``right``) have the same code: ``codes[left] ==
    codes[right]``, looked up a chunk of pairs at a time so that the two gathered code arrays exist for one
    chunk only (at millions of pairs, each would be as large as the pairs). Codes that fit are looked up as
    32-bit integers (half the memory to read at random)."""
    if len(codes) and codes.dtype.kind in "iu" and codes.dtype.itemsize > 4 and -(1 << 31) <= codes.min() and codes.max() < 1 << 31:
        codes = codes.astype(np.int32)
    out = np.empty(len(left), dtype=bool)
    for a in range(0, len(left), SAME_CODE_CHUNK):
        b = a + SAME_CODE_CHUNK
        np.equal(codes[left[a:b]], codes[right[a:b]], out=out[a:b])
    return out


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if len(left) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _joint_pairs(a: np.ndarray, b: np.ndarray) -> int:
    """Pairs of records sharing both codes ``a`` and ``b`` (aligned non-negative int64 arrays)."""
    if len(a) == 0:
        return 0
    _, both = np.unique(a * (int(b.max()) + 1) + b, return_counts=True)
    return pairs_within_groups(both)


def threshold_sweep(
    pairs: pd.DataFrame,
    records: pd.DataFrame,
    truth: pd.DataFrame | PersonCodes,
    thresholds: Iterable[float],
) -> pd.DataFrame:
    """Pairwise quality of plain connected-components clustering at each threshold.

    ``pairs`` has ``l``, ``r`` (positions into ``records``) and ``match_probability``; ``records``
    has ``source`` and ``record_id``; ``truth`` is a truth frame or the records' :class:`PersonCodes`. At
    threshold t the links are the pairs with probability >= t, clusters are the connected components of those
    links (no conflict splitting), and precision / recall / F1 are the cluster-level pairwise metrics of
    :func:`pairwise_metrics`.

    The sweep goes from the highest threshold down and only adds the newly admitted links to the
    previous components (components of components); the true positives change only in the components that
    merged, so each step counts those records' (cluster, person) groups only: the total work is about one
    pass over the pairs above the lowest threshold plus O(N) per threshold. Returns one row per distinct
    threshold, ascending, with columns threshold, precision, recall, f1, links, clusters, tp, fp, fn.
    """
    _check_columns(pairs, [LEFT, RIGHT, MATCH_PROBABILITY], "pairs")
    n = len(records)
    person = person_codes(positional(records), truth).codes
    ts = np.unique(np.asarray(list(thresholds), dtype=np.float64))[::-1]  # descending, distinct
    prob = pairs[MATCH_PROBABILITY].to_numpy(dtype=np.float64)
    keep = np.flatnonzero(prob >= ts[-1]) if len(ts) else np.empty(0, np.int64)  # never admitted otherwise
    order = keep[np.argsort(-prob[keep], kind="stable")]
    prob_sorted = prob[order]
    left = pairs[LEFT].to_numpy()[order].astype(np.int64)  # only the admitted pairs widened
    right = pairs[RIGHT].to_numpy()[order].astype(np.int64)

    true = pairs_within_groups(np.bincount(person)) if n else 0
    labels = np.arange(n, dtype=np.int64)  # dense: every code 0..k-1 is in use
    sizes = np.ones(n)  # records per component (whole numbers, summed exactly as floats)
    k, tp, done, predicted = n, 0, 0, 0
    rows = []
    for t in ts:
        upto = int(np.searchsorted(-prob_sorted, -t, side="right"))  # pairs with prob >= t
        if upto > done:
            merged = _components(k, labels[left[done:upto]], labels[right[done:upto]])
            grew = np.bincount(merged)[merged] > 1  # per old component: merged with another
            at = np.flatnonzero(grew[labels])
            tp += _joint_pairs(merged[labels[at]], person[at]) - _joint_pairs(labels[at], person[at])
            labels, k, done = merged[labels], int(merged.max()) + 1, upto
            sizes = np.bincount(merged, weights=sizes, minlength=k)  # the merged components' records
            predicted = pairs_within_groups(sizes.astype(np.int64))
        counts = {"tp": tp, "fp": predicted - tp, "fn": true - tp, "predicted_pairs": predicted, "true_pairs": true}
        rows.append({
            "threshold": float(t), **scores(counts), "links": upto, "clusters": k,
            "tp": tp, "fp": predicted - tp, "fn": true - tp,
        })
    cols = ["threshold", "precision", "recall", "f1", "links", "clusters", "tp", "fp", "fn"]
    return pd.DataFrame(rows[::-1], columns=cols).reset_index(drop=True)


def recommend_threshold(sweep: pd.DataFrame, min_precision: float | None = None) -> dict[str, float | None]:
    """Pick thresholds from a sweep.

    * ``best_f1``: the threshold with the highest F1; ties go to the *highest* such threshold (fewer
      links for the same F1).
    * ``min_precision``: the lowest threshold whose precision >= ``min_precision`` (the most recall
      for that precision floor); None when no threshold reaches it or no floor is given.
    """
    out: dict[str, float | None] = {"best_f1": None, "min_precision": None}
    if sweep.empty:
        return out
    s = sweep.sort_values("threshold", kind="stable")
    best = s["f1"].max()
    out["best_f1"] = float(s.loc[s["f1"] == best, "threshold"].max())
    if min_precision is not None:
        ok = s.loc[s["precision"] >= min_precision, "threshold"]
        out["min_precision"] = float(ok.min()) if len(ok) else None
    return out


# --------------------------------------------------------------------------------------------------
# Without truth
# --------------------------------------------------------------------------------------------------
def estimated_quality(match_probability: pd.Series | np.ndarray, threshold: float) -> dict[str, float]:
    """The model's own estimate of pair-level quality (in the manner of fastLink, Enamorado et al. 2019).

    Treating each candidate pair's match probability as calibrated:
    expected precision = mean probability of the pairs >= threshold (1 - FDR), and
    expected recall = sum of probabilities >= threshold / sum of all probabilities (1 - FNR).

    It only sees candidate pairs: true matches that blocking never proposed are invisible, so the
    recall is an upper bound with respect to blocking, and the whole estimate is only as good as the
    model's calibration. Empty denominators give 1.0.
    """
    p = np.asarray(match_probability, dtype=np.float64)
    nan = np.isnan(p)
    if nan.any() or not p.flags.c_contiguous:  # otherwise the copy would hold the same values in the same order
        p = p[~nan]
    linked = p[p >= threshold]
    expected_tp = float(linked.sum())
    total = float(p.sum())
    return {
        "precision": ratio(expected_tp, len(linked)),
        "recall": ratio(expected_tp, total),
        "links": int(len(linked)),
        "expected_true_links": expected_tp,
        "expected_false_links": float(len(linked) - expected_tp),
        "expected_missed_links": total - expected_tp,
    }


def confusion_pairs(
    pairs: pd.DataFrame, records: pd.DataFrame, truth: pd.DataFrame | PersonCodes, threshold: float
) -> pd.DataFrame:
    """Label each candidate pair TP / FP / FN / TN at ``threshold`` (pair level, not cluster level).

    A pair is predicted when its match_probability >= threshold and true when both records share a
    person_id (records absent from truth are their own person). Only candidate pairs appear, so
    true matches that blocking missed are not listed here. Returns a copy of ``pairs`` with columns
    ``is_match`` (bool) and ``label``, in the original order; sort by probability to list the top
    false positives / negatives.
    """
    is_match, code = confusion_codes(pairs, records, truth, threshold)
    out = pairs.copy()
    out["is_match"] = is_match
    out["label"] = pd.Categorical.from_codes(code, categories=CONFUSION_LABELS)
    return out


CONFUSION_LABELS = ["TP", "FP", "FN", "TN"]  # the codes of confusion_codes, in order


def confusion_codes(pairs: pd.DataFrame, records: pd.DataFrame, truth: pd.DataFrame | PersonCodes,
                    threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`confusion_pairs` without the copy of the pairs: per pair whether it is a true match (bool) and
    its label's code (int8, an index into :data:`CONFUSION_LABELS`)."""
    _check_columns(pairs, [LEFT, RIGHT, MATCH_PROBABILITY], "pairs")
    person, _, _ = person_codes(positional(records), truth)
    is_match = same_code(person, pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy())
    predicted = pairs[MATCH_PROBABILITY].to_numpy(dtype=np.float64) >= threshold
    code = (~is_match).view(np.int8) + 2 * (~predicted).view(np.int8)  # TP 0, FP 1, FN 2, TN 3
    return is_match, code


# --------------------------------------------------------------------------------------------------
# Aggregates for the report
# --------------------------------------------------------------------------------------------------
def partner_overlap(clusters: pd.DataFrame, id_column: str = "pace_id") -> dict[str, Any]:
    """Persons (clusters) shared by each pair of partners: ``{"partners": [...], "matrix": [[...]]}``.

    matrix[i][j] = number of distinct cluster ids with at least one record in partner i and one in
    partner j; the diagonal is the number of distinct persons a partner holds. Partners are sorted by
    name. Computed as B^T B over a sparse cluster x partner incidence matrix.
    """
    partners, src, inc = partner_incidence(clusters, id_column)
    if not partners:
        return {"partners": [], "matrix": []}
    matrix = (inc.T @ inc).toarray()
    return {"partners": partners, "matrix": [[int(v) for v in row] for row in matrix]}


def partner_incidence(clusters: pd.DataFrame, id_column: str = "pace_id", cluster: np.ndarray | None = None
                      ) -> tuple[list[str], np.ndarray, Any]:
    """The partners (sorted names), each record's partner code and the cluster x partner presence matrix
    (sparse CSR, 1 where the cluster holds a record of the partner; a null cluster id is a cluster of its own).
    ``cluster``: ``group_codes(clusters[id_column])``, if known."""
    _check_columns(clusters, [SOURCE, id_column], "clusters")
    names = clusters[SOURCE].astype(str)
    partners = sorted(names.unique())
    if not partners:
        return [], np.zeros(0, np.int64), None
    src = pd.Categorical(names, categories=partners).codes.astype(np.int64)
    cid = group_codes(clusters[id_column]) if cluster is None else cluster
    inc = coo_matrix((np.ones(len(cid), dtype=np.int64), (cid, src)), shape=(int(cid.max()) + 1, len(partners)))
    inc = inc.tocsr()
    inc.data[:] = 1  # duplicates summed by tocsr: presence only
    return partners, src, inc


def weights_histogram(match_weight: pd.Series | np.ndarray, bin_width: float = 1.0) -> dict[str, list]:
    """Histogram of pair match weights with integer-aligned bins of ``bin_width`` (edges listed)."""
    w = np.asarray(match_weight, dtype=np.float64)
    w = w[np.isfinite(w)]
    if len(w) == 0:
        return {"bins": [], "counts": []}
    lo = np.floor(w.min() / bin_width) * bin_width
    hi = (np.floor(w.max() / bin_width) + 1) * bin_width
    edges = np.arange(lo, hi + bin_width / 2, bin_width)
    counts, edges = np.histogram(w, bins=edges)
    return {"bins": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}


__all__ = [
    "bcubed",
    "CONFUSION_LABELS",
    "confusion_codes",
    "confusion_pairs",
    "estimated_quality",
    "f1_score",
    "group_codes",
    "key_positions",
    "pair_counts",
    "same_code",
    "pairwise_scores",
    "pairwise_metrics",
    "partner_incidence",
    "partner_overlap",
    "PersonCodes",
    "person_codes",
    "ratio",
    "recommend_threshold",
    "scores",
    "threshold_sweep",
    "weights_histogram",
]
