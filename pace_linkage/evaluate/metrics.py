"""Gather a run's results into ``metrics.json`` (:func:`build_metrics`), and the frames its outputs are
made of (:func:`pairs_frame`).

``metrics.json`` holds aggregates only (counts, rates, model parameters): no record-level value. It is
deterministic: timings and timestamps go to ``manifest.json`` instead, so that two runs on the same
inputs, config and seed give byte-identical ``metrics.json`` and ``report.html``. The study features add
their own entries (:meth:`pace_linkage.features.Feature.metrics`); the outputs are written by
:func:`pace_linkage.pipeline.write_outputs`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.counting import choose2, pairs_within_groups
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.linker import positional
from pace_linkage.engine.sessions import sessions_summary
from pace_linkage.errors import InputError
from pace_linkage.evaluate import curve
from pace_linkage.evaluate import quality as evaluate
from pace_linkage.evaluate.groups import linked_less
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import header_names
from pace_linkage.ingest.nulls import normalise_warnings
from pace_linkage.ingest.sources import (
    SourceBatch,
    SourceFailure,
    count_totals,
    coverage,
    empty_sources,
    partial_summary,
)
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, RULE, SOURCE, VERSION


@dataclass
class RunResults:
    cfg: PaceConfig
    threshold: float
    batches: list[SourceBatch]
    failures: list[SourceFailure]
    records: pd.DataFrame
    blocking: object  # blocking.BlockingResult
    gamma: pd.DataFrame
    model: object  # model.FSModel
    scored: pd.DataFrame
    clusters: object  # cluster.ClusterResult
    timings: dict[str, float] = field(default_factory=dict)
    key_id: str | None = None  # pseudonymised runs: which key made the tokens (never the key itself)
    # the comparisons' column codes of these records (ColumnCache.coded), kept for evaluating: read once
    column_codes: dict = field(default_factory=dict, repr=False)
    # whether its clusters are the engine's clustering of all its records at its threshold (not an incremental
    # run's, kept stable by the store): only then does the run folder hold what re-clustering needs
    reclusterable: bool = True

    def take_column_codes(self) -> dict:
        """The comparisons' column codes, handed over once (the run no longer holds them)."""
        codes, self.column_codes = getattr(self, "column_codes", {}), {}
        return codes


TRUTH_ID_COLUMNS = ("person_id", "employer_id")  # the entity id column a truth file may carry


def load_truth(path: Path, id_column: str | None = None) -> pd.DataFrame:
    """Truth CSV with columns source, record_id and the entity's id (all text), returned as source, record_id,
    person_id. The id column is ``id_column`` if given, else the first of :data:`TRUTH_ID_COLUMNS` present
    (``person_id`` for people, ``employer_id`` for employer_truth.csv)."""
    try:
        truth = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: truth file not found") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: truth file cannot be read as CSV ({type(exc).__name__})") from None
    if id_column is None:
        id_column = next((c for c in TRUTH_ID_COLUMNS if c in truth.columns), "person_id")
    missing = [c for c in (SOURCE, RECORD_ID, id_column) if c not in truth.columns]
    if missing:
        # header_names: a headerless file's first row is data, and must not be quoted
        raise InputError(f"{path}: truth file lacks column(s) {', '.join(missing)} "
                         f"(have: {header_names([str(c) for c in truth.columns])})")
    return truth[[SOURCE, RECORD_ID, id_column]].rename(columns={id_column: "person_id"})


TAKE_CHUNK = 4_000_000  # pairs per Arrow take: a text column's chunk stays far below Arrow's 2 GiB per array


def _arrow_take(arr, at: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``arr[at]`` (an Arrow text array) as an Arrow-backed text column, taken in Arrow in chunks (no Python
    object per pair)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = [pc.take(arr, at[a:a + TAKE_CHUNK]) for a in range(0, len(at), TAKE_CHUNK)]
    return pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks, type=arr.type))


def pairs_frame(run: RunResults, *, arrow: bool = False) -> pd.DataFrame:
    """pairs.parquet: each candidate pair with its rule, comparison levels, weight and probability.

    ``arrow``: the text columns (sources, record ids, rule) as Arrow strings, taken in Arrow rather than as a
    Python object per pair: the same values, written to the same pairs.parquet bytes, several times faster to
    build and write at millions of pairs (:func:`pairs_slices` gives it slice by slice)."""
    if arrow and len(run.blocking.pairs):
        return next(pairs_slices(run, len(run.blocking.pairs)))
    rec = run.records
    pairs = run.blocking.pairs
    l_idx, r_idx = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()
    rule_names = np.array([r.name for r in run.cfg.linkage.blocking], dtype=object)
    out = pd.DataFrame({
        "source_l": rec[SOURCE].to_numpy()[l_idx], "record_id_l": rec[RECORD_ID].to_numpy()[l_idx],
        "source_r": rec[SOURCE].to_numpy()[r_idx], "record_id_r": rec[RECORD_ID].to_numpy()[r_idx],
        "blocking_rule": rule_names[pairs[RULE].to_numpy()] if len(pairs) else pd.Series(dtype=object),
    })
    return _numbers(run, out, slice(None))


def _numbers(run: RunResults, out: pd.DataFrame, at: slice) -> pd.DataFrame:
    """``out`` with the pairs' (``at``) comparison levels, weight and probability added."""
    for col in run.gamma.columns:
        out[f"gamma_{col}"] = run.gamma[col].to_numpy()[at]
    out[MATCH_WEIGHT] = run.scored[MATCH_WEIGHT].to_numpy()[at].round(10)
    out[MATCH_PROBABILITY] = run.scored[MATCH_PROBABILITY].to_numpy()[at].round(12)
    return out


def pairs_slices(run: RunResults, rows: int) -> Iterator[pd.DataFrame]:
    """:func:`pairs_frame` (text columns in Arrow) in slices of ``rows`` pairs, in order, so that pairs.parquet
    is written a row group at a time and the whole frame never exists (at millions of pairs it is gigabytes).
    No pairs: the one empty frame."""
    for make in pairs_slice_makers(run, rows):
        yield make()


def pairs_slice_makers(run: RunResults, rows: int) -> list[Callable[[], pd.DataFrame]]:
    """The slices of :func:`pairs_slices`, each made when its callable is called (any order, from any thread:
    each reads only what all share), so that row groups can be built side by side."""
    pairs = run.blocking.pairs
    if not len(pairs):
        return [lambda: pairs_frame(run)]
    import pyarrow as pa

    rec = run.records
    # a source is taken from the few source names by its code: the same text, without reading a 1M-entry array
    src_codes, src_names = pd.factorize(rec[SOURCE].to_numpy(), use_na_sentinel=False)
    src_codes = src_codes.astype(np.int32)
    src = pa.array(np.asarray(src_names, dtype=object), from_pandas=True)
    rid = pa.array(rec[RECORD_ID].to_numpy(), from_pandas=True)
    names = pa.array(np.array([r.name for r in run.cfg.linkage.blocking], dtype=object), from_pandas=True)
    l_all, r_all, rule_all = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy(), pairs[RULE].to_numpy()

    def make(a: int) -> pd.DataFrame:
        at = slice(a, a + rows)
        l_idx, r_idx = l_all[at], r_all[at]
        out = pd.DataFrame({"source_l": _arrow_take(src, src_codes[l_idx]), "record_id_l": _arrow_take(rid, l_idx),
                            "source_r": _arrow_take(src, src_codes[r_idx]), "record_id_r": _arrow_take(rid, r_idx),
                            "blocking_rule": _arrow_take(names, rule_all[at])})
        return _numbers(run, out, at)

    return [functools.partial(make, a) for a in range(0, len(pairs), rows)]


def _weights_histogram(weights: np.ndarray, bins: int = 40) -> dict:
    if len(weights) == 0:
        return {"bins": [], "counts": []}
    lo, hi = float(np.floor(weights.min())), float(np.ceil(weights.max()))
    if hi <= lo:
        hi = lo + 1
    counts, edges = np.histogram(weights, bins=bins, range=(lo, hi))
    return {"bins": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def _overlap(clusters: pd.DataFrame, id_col: str, sources: list[str], cluster: np.ndarray | None = None) -> dict:
    """Persons shared by each pair of partners (evaluate.partner_overlap), partners used per person, and
    each partner's repeat-client rate (share of its records that repeat a person it already holds)."""
    partners, src, inc = evaluate.partner_incidence(clusters, id_col, cluster)
    matrix = (inc.T @ inc).toarray()
    pos = {p: i for i, p in enumerate(partners)}
    full = [[int(matrix[pos[a], pos[b]]) if a in pos and b in pos else 0 for b in sources] for a in sources]
    if clusters[id_col].notna().all():  # every record in a cluster: partners per cluster from the matrix
        per_person = pd.Series(np.bincount(np.diff(inc.indptr)))
        rec_per = pd.Series(np.bincount(src, minlength=len(partners)), index=partners)
    else:
        pres = clusters[[id_col, SOURCE]].drop_duplicates()
        per_person = pres.groupby(id_col).size().value_counts()
        rec_per = clusters.groupby(SOURCE).size()
    repeat = {s: round(float(1 - full[i][i] / rec_per[s]), 6) if rec_per.get(s, 0) else 0.0
              for i, s in enumerate(sources)}
    return {"partners": sources, "matrix": full,
            "partners_per_person": {str(k): int(per_person.get(k, 0)) for k in range(1, len(sources) + 1)},
            "repeat_client_rate": repeat}


def model_summary(fs) -> dict:
    """m, u and weight per comparison level (the report's model section)."""
    comps = []
    for c in fs.comparisons:
        w = c.weights()
        comps.append({"name": c.name, "levels": [
            {"label": lab, "m": round(float(m), 8), "u": round(float(u), 10), "weight": round(float(x), 6)}
            for lab, m, u, x in zip([*c.labels], c.m, c.u, w, strict=True)]})
    return {"lambda": round(float(fs.lambda_), 12), "prior_weight": round(fs.prior_weight, 6), "method": fs.method,
            "comparisons": comps}


def _field_kind(cfg: PaceConfig, column: str) -> str:
    """The normaliser kind behind a (possibly derived) column, for masking."""
    if column in cfg.fields:
        return cfg.fields[column].kind
    base = max((f for f in cfg.fields if column.startswith(f + "_")), key=len, default=None)
    return cfg.fields[base].kind if base else "text"


def explain_pairs(run: RunResults, positions: list[int], titles: list[str], cache: ColumnCache | None = None
                  ) -> list[dict]:
    """Waterfalls of the given candidate pairs (each pair's sources and record ids, as clusters.csv names its
    records, any NI-number-shaped run in an id masked): per comparison the (masked) values, level and weight; the
    weights, prior included, add up to the pair's match weight. Values are masked by kind (J*** M****).
    ``cache``: the records' :class:`~pace_linkage.engine.columns.ColumnCache`, shared by every waterfall of the
    run (term frequencies are counted over all the records, once)."""
    from pace_linkage.engine.score import explain
    from pace_linkage.redact import mask_nino_runs, mask_value

    specs = {c.name: c for c in run.cfg.linkage.comparisons}
    rec, pairs = run.records, run.blocking.pairs
    cache = cache or ColumnCache(rec)
    out = []
    for pos, title in zip(positions, titles, strict=True):
        l_, r_ = int(pairs[LEFT].iat[pos]), int(pairs[RIGHT].iat[pos])
        rows = []
        for row in explain(run.model, rec, pairs, run.gamma, pos, cache):
            spec = specs.get(row["comparison"])
            if spec is not None:
                kind = _field_kind(run.cfg, spec.column)
                row = {**row, "left": mask_value(kind, rec[spec.column].iat[l_]),
                       "right": mask_value(kind, rec[spec.column].iat[r_])}
            rows.append({**row, "weight": round(float(row["weight"]), 4)})
        out.append({"title": title, "sources": [str(rec[SOURCE].iat[l_]), str(rec[SOURCE].iat[r_])],
                    "records": [mask_nino_runs(rec[RECORD_ID].iat[l_]), mask_nino_runs(rec[RECORD_ID].iat[r_])],
                    "match_weight": round(float(run.scored[MATCH_WEIGHT].iat[pos]), 4),
                    "match_probability": round(float(run.scored[MATCH_PROBABILITY].iat[pos]), 6), "rows": rows})
    return out


def smallest(idx: np.ndarray, key: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` positions of ``idx`` with the smallest ``key`` (indexed by position), ties to the smaller
    position, in that order: ``idx[np.lexsort((idx, key[idx]))][:n]``, sorting only the few that can be
    among them."""
    k = key[idx]
    if 0 < n < len(idx):
        cut = np.partition(k, n - 1)[n - 1]
        if not np.isnan(cut):  # a NaN key sorts last: with fewer than n others, every position may be needed
            idx, k = idx[k <= cut], k[k <= cut]
    return idx[np.lexsort((idx, k))][:max(n, 0)]


NEAR_CHUNK = 1 << 20  # pairs read at a time by near_side


def near_side(p: np.ndarray, w: np.ndarray, threshold: float, above: bool, n: int) -> np.ndarray:
    """``smallest(np.flatnonzero(p >= threshold), w, n)`` (``above``), else ``smallest(np.flatnonzero(p <
    threshold), -w, n)``: the pairs nearest the threshold on one side, a chunk of pairs at a time (each chunk's
    own nearest are the candidates), so that no array as long as the pairs is made."""
    found = [np.zeros(0, dtype=np.int64)]
    for a in range(0, len(p), NEAR_CHUNK):
        at = slice(a, a + NEAR_CHUNK)
        side = np.flatnonzero(p[at] >= threshold if above else p[at] < threshold)
        found.append(a + smallest(side, w[at] if above else -w[at], n))
    cand = np.concatenate(found)
    return cand[np.lexsort((cand, w[cand] if above else -w[cand]))][:max(n, 0)]


def near_threshold(run: RunResults, n_each: int = 3) -> tuple[list[int], list[str]]:
    """The candidate pairs just above and just below the threshold (ties broken by pair order)."""
    p = run.scored[MATCH_PROBABILITY].to_numpy()
    w = run.scored[MATCH_WEIGHT].to_numpy()
    above = near_side(p, w, run.threshold, True, n_each)
    below = near_side(p, w, run.threshold, False, n_each)
    return ([int(i) for i in above] + [int(i) for i in below],
            ["linked, just above the threshold"] * len(above) + ["not linked, just below the threshold"] * len(below))


def build_metrics(run: RunResults, truth: pd.DataFrame | None, *, features: Sequence[Feature]) -> dict:
    """``metrics.json`` of a run: counts, coverage, blocking, model, weights, clusters, overlap, the model's
    estimated quality, the study ``features``' entries and who gets linked less; with ``truth`` also pairwise
    and B-cubed quality, the threshold sweep, pairs completeness, confusion counts and the worst errors."""
    cfg = run.cfg
    id_col = cfg.id_column
    clusters = run.clusters.clusters
    counts = count_totals(run.batches, run.failures)
    for f in run.failures:
        counts["by_source"].setdefault(f.source, {"rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0,
                                                    "rows_withheld": 0, "failed": True})
    labels = {s.name: (s.label or s.name) for s in cfg.sources.items}
    for src, c in counts["by_source"].items():
        c["label"] = labels.get(src, src)
    sources = sorted(b.source for b in run.batches)
    n = len(run.records)
    weights = run.scored[MATCH_WEIGHT].to_numpy() if len(run.scored) else np.array([])
    probs = run.scored[MATCH_PROBABILITY].to_numpy() if len(run.scored) else np.array([])
    block_stats = run.blocking.stats.to_dict(orient="records")
    total_pairs = choose2(n)
    cov = coverage(run.batches, cfg)
    # what the estimate, groups and waterfalls read of the records, derived once (or by the comparisons)
    cache = ColumnCache(run.records, run.take_column_codes())
    cluster = evaluate.group_codes(clusters[id_col])  # the clusters as codes, once: every figure below reads them
    in_order = clusters_in_record_order(run)  # then they are the records' clusters too
    person = run_person_codes(run, truth)  # the truth as codes, once: every figure below reads them
    ahead = _curve_ahead(run, person, cluster if in_order else None)  # clustered while the estimate is made
    doc: dict = {
        "run": {"config_hash": cfg.hash(), "version": VERSION, "seed": cfg.seed,
                "threshold": run.threshold, "sources": sources, "entity": cfg.entity, "id_column": id_col},
        "counts": counts,
        "sources_failed": [{"source": f.source, "file": f.file, "error": f.error, "rows": f.rows}
                           for f in run.failures],
        "coverage": cov,
        "normalise_warnings": normalise_warnings(cov, cfg),  # nulled or misread values, by source and column
        "blocking": {"rules": block_stats, "pairs": int(len(run.blocking.pairs)),
                     "reduction_ratio": round(1 - len(run.blocking.pairs) / total_pairs, 8) if total_pairs else 0.0},
        "model": model_summary(run.model),
        "training": sessions_summary(run.model.info),
        "weights_histogram": _weights_histogram(weights),
        "clusters": run.clusters.stats,
        "overlap": _overlap(clusters, id_col, sources, cluster) if len(clusters) else {},
        "estimated": estimated_metrics(run, probs, cache, cluster if in_order else None),
        "conflicts": _conflict_counts(run.clusters.conflicts),
    }
    partial, empty = partial_summary(run.failures, cfg), empty_sources(run.batches)
    if partial:  # a partial run (--allow-partial, required: false): the report's first line names what is missing
        doc["partial"] = partial
    if empty:
        doc["sources_empty"] = empty
    if cfg.report.notes:
        doc["report_notes"] = list(cfg.report.notes)
    explained: list[int] = []  # the pairs the page explains near the threshold: not repeated among the errors
    if run.cfg.report.explain_examples and len(run.scored):
        near = near_threshold(run, run.cfg.report.explain_examples)
        doc["explanations"], explained = explain_pairs(run, *near, cache), near[0]
    for feature in features:
        doc.update(feature.metrics(run, truth))
    doc["linked_less"] = linked_less_metrics(run, person, cache, cluster if in_order else None)
    if ahead is not None:  # the same figures tune and the workbench show, at a few thresholds
        doc["threshold_curve"] = _curve_rows(ahead, doc["estimated"])
    if person is not None:
        of_clusters = person if in_order else truth
        doc["pairwise"] = evaluate.pairwise_metrics(clusters, of_clusters, id_column=id_col, cluster=cluster)
        doc["bcubed"] = evaluate.bcubed(clusters, of_clusters, id_column=id_col, cluster=cluster)
        thresholds = sorted({round(float(t), 4) for t in np.linspace(0.05, 0.99, 48)} | {round(run.threshold, 4)})
        sweep_pairs = pd.DataFrame({LEFT: run.blocking.pairs[LEFT].to_numpy(), RIGHT: run.blocking.pairs[RIGHT].to_numpy(),
                                    MATCH_PROBABILITY: probs}, copy=False)  # the run's own arrays, not copies
        sweep = evaluate.threshold_sweep(sweep_pairs, run.records, person, thresholds)
        doc["threshold_sweep"] = sweep.round(6).to_dict(orient="records")
        doc["recommended_threshold"] = evaluate.recommend_threshold(sweep, min_precision=0.99)
        is_match, code = evaluate.confusion_codes(sweep_pairs, run.records, person, run.threshold)
        pc = _pairs_completeness(run, person.codes, is_match)  # the candidates' true matches, looked up once
        doc["blocking"].update(pc)
        doc["confusion"] = confusion_counts(code, pc["true_pairs"])
        doc["calibration"] = calibration(probs, is_match)
        if run.cfg.report.top_errors:
            doc["top_errors"] = top_errors(run, code, run.cfg.report.top_errors, cache, explained)
    return doc


def _curve_ahead(run: RunResults, person: evaluate.PersonCodes | None,
                 cluster: np.ndarray | None) -> tuple[curve.CurveInputs, Future] | None:
    """The threshold curve's inputs, and its clusterings at each threshold (:func:`curve.cluster_figures`, which
    do not read the label-free estimate) started in a thread of their own, so they are made while the estimate
    is (on another core: numpy and scipy release the interpreter lock for most of that work). The figures are
    the same as made in turn. None for a run without records or pairs."""
    if not (len(run.records) and len(run.scored)):
        return None
    inputs = curve.run_inputs(run, None, None if person is None else person.codes, cluster)
    pool = ThreadPoolExecutor(1, thread_name_prefix="threshold-curve")
    try:
        return inputs, pool.submit(curve.cluster_figures, inputs)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _curve_rows(ahead: tuple[curve.CurveInputs, Future], estimated: dict) -> list[dict]:
    """metrics.json's ``threshold_curve`` from :func:`_curve_ahead`'s clusterings and the label-free estimate."""
    inputs, figures = ahead
    inputs = dataclasses.replace(inputs, estimated=estimated)
    return curve.curve_rows(curve.threshold_curve(inputs, figures=figures.result()))


def estimated_metrics(run: RunResults, probs: np.ndarray, cache: ColumnCache | None = None,
                      cluster: np.ndarray | None = None) -> dict:
    """The model's own quality estimate (no truth): precision and the recall among compared pairs
    (:func:`pace_linkage.evaluate.quality.estimated_quality`), and -- unless ``report.missed_sample_pairs`` is 0
    -- the recall counting the matches blocking never compared, with its interval and the looser keys
    (:func:`pace_linkage.evaluate.missed.label_free_recall`). ``cache``: the records' column codes, shared;
    ``cluster``: the records' cluster codes, if known."""
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate import missed

    est = evaluate.estimated_quality(probs, run.threshold)
    est["recall_among_compared"] = est["recall"]
    size = run.cfg.report.missed_sample_pairs
    if not size or not len(run.records):
        return est
    cfg = run.cfg
    view = missed.RunView(run.records, run.blocking.pairs, probs,
                          missed.cluster_codes(run.records, run.clusters.clusters, cfg.id_column) if cluster is None
                          else cluster, cfg.linkage.link_type,
                          run.records[SOURCE].isin(cfg.duplicate_free_sources()).to_numpy())
    scorer = missed.Scorer(Linker.from_config(cfg), run.records, run.model, cache)
    lf = missed.label_free_recall(view, scorer, missed.looser_keys(cfg.linkage.blocking), sample_pairs=size,
                                  seed=cfg.seed, max_pairs_ratio=cfg.report.missed_max_pairs_ratio,
                                  rules=cfg.linkage.blocking, fields=list(cfg.fields))
    return missed.rounded({**est, **lf})


def calibration(probs: np.ndarray, is_match: np.ndarray) -> list[dict]:
    """With truth: are the candidate pairs' match probabilities calibrated? Per band of probability, the
    pairs, their mean probability and the share that are true matches. The bands are found a chunk of pairs at
    a time, one byte a pair; each band's probabilities are gathered in pair order and averaged as one array
    (the same mean as ``probs[band == b].mean()``); its true matches are counted."""
    edges = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
    k = len(edges) - 1
    band = np.empty(len(probs), dtype=np.int8)
    for a in range(0, len(probs), NEAR_CHUNK):
        band[a:a + NEAR_CHUNK] = _bands(probs[a:a + NEAR_CHUNK], edges)
    counts = sum((np.bincount(band[a:a + NEAR_CHUNK], minlength=k) for a in range(0, len(band), NEAR_CHUNK)),
                 np.zeros(k, dtype=np.int64))
    gathered = [np.empty(int(c)) for c in counts]
    true, filled = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    for a in range(0, len(probs), NEAR_CHUNK):
        at = slice(a, a + NEAR_CHUNK)
        order = np.argsort(band[at], kind="stable")  # by band, pair order within (one byte: a radix sort)
        by_band, matched = probs[at][order], is_match[at][order]
        sizes = np.bincount(band[at], minlength=k)
        starts = np.cumsum(sizes) - sizes
        for b in np.flatnonzero(sizes):
            lo, hi = int(starts[b]), int(starts[b] + sizes[b])
            gathered[b][filled[b]:filled[b] + hi - lo] = by_band[lo:hi]
            filled[b] += hi - lo
            true[b] += int(np.count_nonzero(matched[lo:hi]))
    return [{"low": edges[b], "high": edges[b + 1], "pairs": int(counts[b]),
             "mean_probability": round(float(gathered[b].mean()), 6),
             "true_share": round(float(np.float64(true[b]) / counts[b]), 6)}
            for b in range(k) if counts[b]]


def _bands(probs: np.ndarray, edges: list[float]) -> np.ndarray:
    """``clip(searchsorted(edges, probs, side="right") - 1, 0, len(edges) - 2)`` in one byte a value: the edges
    at or below each probability (NaN sorts above them all)."""
    band = np.zeros(len(probs), dtype=np.int8)
    for edge in edges:
        band += probs >= edge
    band[np.isnan(probs)] = len(edges)
    band -= 1
    return np.clip(band, 0, len(edges) - 2, out=band)


def linked_less_metrics(run: RunResults, truth: pd.DataFrame | evaluate.PersonCodes | None,
                        cache: ColumnCache | None = None, cluster: np.ndarray | None = None) -> dict:
    """Linkage rate, estimated missed links and (with truth) recall and missed links per group
    (partner, sex, age band, council area, and moved with truth): see :mod:`pace_linkage.evaluate.groups`.
    ``cache``: the records' column codes, if derived already; ``cluster``: the records' cluster codes, if known."""
    probs = run.scored[MATCH_PROBABILITY].to_numpy() if len(run.scored) else np.array([], dtype=np.float64)
    return linked_less(run.records, run.clusters.clusters[run.cfg.id_column], run.blocking.pairs, probs,
                       run.threshold, run.cfg, truth, cache=cache, cluster=cluster)


def confusion_counts(code: np.ndarray, true_pairs: int) -> dict:
    """Pair-level confusion among candidate pairs at the threshold (TP/FP/FN/TN from the label codes of
    :func:`pace_linkage.evaluate.quality.confusion_codes`), and the true pairs blocking never proposed."""
    c = sum((np.bincount(code[a:a + NEAR_CHUNK], minlength=len(evaluate.CONFUSION_LABELS))  # a chunk at a time
             for a in range(0, len(code), NEAR_CHUNK)), np.zeros(len(evaluate.CONFUSION_LABELS), dtype=np.int64))
    out = {k.lower(): int(c[i]) for i, k in enumerate(evaluate.CONFUSION_LABELS)}
    out["candidate_pairs"] = int(len(code))
    out["true_pairs"] = int(true_pairs)
    out["missed_by_blocking"] = int(true_pairs - out["tp"] - out["fn"])
    return out


def top_errors(run: RunResults, code: np.ndarray, n: int, cache: ColumnCache | None = None,
               shown: Sequence[int] = ()) -> dict:
    """The ``n`` highest-weighted false-positive candidate pairs (linked at the threshold, different
    persons) and false-negative ones (not linked, same person), explained with masked values as in
    :func:`explain_pairs`; the titles name the run's entity. Ties in weight go to the earlier pair. Pairs in
    ``shown`` (already explained on the page) are left out, so no pair is shown twice."""
    w = run.scored[MATCH_WEIGHT].to_numpy()
    entity = run.cfg.entity
    out = {}
    for key, label, title in [("false_positives", "FP", f"false positive: linked, different {entity}s"),
                              ("false_negatives", "FN", f"false negative: not linked, same {entity}")]:
        found = np.flatnonzero(code == evaluate.CONFUSION_LABELS.index(label))
        idx = smallest(found[~np.isin(found, np.asarray(shown, dtype=np.int64))], -w, n)
        out[key] = explain_pairs(run, [int(i) for i in idx], [title] * len(idx), cache)
    return out


def _conflict_counts(conflicts: pd.DataFrame) -> dict:
    """Conflicting clusters per clustering and kind (no values: the list is in conflicts.csv)."""
    if conflicts is None or conflicts.empty:
        return {}
    g = conflicts.groupby(["clustering", "kind"]).size()
    out: dict = {}
    for (clustering, kind), n in g.items():
        out.setdefault(clustering, {})[kind] = int(n)
    return out


def run_person_codes(run: RunResults, truth: pd.DataFrame | None) -> evaluate.PersonCodes | None:
    """The truth as person codes aligned with the run's records (None without truth): computed once and
    passed to every figure, in place of the truth frame."""
    return None if truth is None else evaluate.person_codes(positional(run.records), truth)


def clusters_in_record_order(run: RunResults) -> bool:
    """Whether the clusters are row for row the records (as clustering makes them), so that the records'
    person codes serve the clusters too: checked, not assumed."""
    clusters, records = run.clusters.clusters, run.records
    return len(clusters) == len(records) and all(
        np.array_equal(clusters[c].to_numpy(), records[c].to_numpy()) for c in (SOURCE, RECORD_ID))


def _pairs_completeness(run: RunResults, person: np.ndarray, is_true: np.ndarray | None = None) -> dict:
    """Share of true matching pairs that blocking proposed at all (overall and per rule), from the person code
    of each record (:func:`run_person_codes`: records absent from truth are people of their own). ``is_true``:
    whether each candidate pair is a true match, if known."""
    true_pairs = pairs_within_groups(np.bincount(person)) if len(person) else 0
    p = run.blocking.pairs
    if is_true is None:
        is_true = evaluate.same_code(person, p[LEFT].to_numpy(), p[RIGHT].to_numpy())
    found = int(is_true.sum())
    out = {"true_pairs": true_pairs, "pairs_completeness": round(found / true_pairs, 8) if true_pairs else 1.0}
    per_rule = np.bincount(p[RULE].to_numpy()[is_true], minlength=len(run.cfg.linkage.blocking))
    out["true_pairs_added_by_rule"] = {r.name: int(c) for r, c in zip(run.cfg.linkage.blocking, per_rule, strict=True)}
    return out
