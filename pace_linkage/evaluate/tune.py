"""Tune: choose the match-probability threshold from a finished run, without comparing again.

A finished run folder (read by :mod:`pace_linkage.evaluate.runfolder`) holds every candidate pair with its
weight (``pairs.parquet``), every clustered record (``clusters.csv``) and, since re-clustering was added, what
clustering reads beyond the pairs (``clustering.json``). :func:`sweep` then computes every figure with
:func:`pace_linkage.evaluate.curve.threshold_curve`: the clusters made as the run makes them, so the figures at
the run's own threshold are metrics.json's. An older folder is swept as connected components of the pairs
>= t (:func:`pace_linkage.evaluate.quality.threshold_sweep`, no conflict splitting).

Rules:

* **Probabilities come from the match weight**: ``p = 1 / (1 + 2^-w)``. ``pairs.parquet`` rounds
  ``match_probability`` to 12 decimals, which merges every pair above a weight of ~40 into ``1.0``;
  the weight keeps them apart, so thresholds far out in the tails still separate pairs.
* **The grid** (:func:`threshold_grid`): probabilities 0.01, 0.02, ..., 0.99, plus the extremes in
  match-weight space (weights +-7, 10, 15, 20, 25, 30, 40: probabilities from ~1e-12 to 1 - 1e-12), plus
  the run's own threshold.
* **Recommendations** (:func:`pace_linkage.evaluate.quality.recommend_threshold`): the best-F1 threshold (ties
  to the highest) and the lowest threshold reaching the precision floor (the most recall for it).
* **Outputs** (:func:`write_tune`): ``thresholds.csv``, ``thresholds.html`` (self-contained inline SVG)
  and ``recommendation.json``, written with :class:`~pace_linkage.store.outputs.RunWriter` (0600 files, own
  manifest). Nothing written holds a record value: only counts and rates.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pace_linkage.evaluate import quality as evaluate
from pace_linkage.evaluate.runfolder import (
    RunData,
    key_strings,
    load_run,
    reclusterable,
    unneutralise,
)
from pace_linkage.report import charts
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, VERSION
from pace_linkage.store.outputs import (
    FILE_MODE,
    RunWriter,
    json_bytes,
    sha256_file,
    verify_manifest,
    write_atomic,
)

EXTREME_WEIGHTS = (7.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0)
SWEEP_COLUMNS = ["threshold", "match_weight", "precision", "recall", "f1", "links", "clusters", "tp", "fp", "fn"]


# --------------------------------------------------------------------------------------------------
# Weights and probabilities
# --------------------------------------------------------------------------------------------------
def probability_from_weight(weight: np.ndarray | pd.Series | float) -> np.ndarray:
    """``1 / (1 + 2^-w)`` element-wise, computed without overflow for any weight."""
    w = np.asarray(weight, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.where(w >= 0, 1.0 / (1.0 + np.exp2(-np.abs(w))), np.exp2(-np.abs(w)) / (1.0 + np.exp2(-np.abs(w))))


def weight_from_probability(p: np.ndarray | pd.Series | float) -> np.ndarray:
    """``log2(p / (1 - p))`` element-wise (+-inf at 1 and 0)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log2(p) - np.log2(1.0 - p)


def threshold_grid(run_threshold: float | None = None) -> np.ndarray:
    """0.01..0.99 in steps of 0.01, the match-weight extremes (+-``EXTREME_WEIGHTS``), and the run's
    threshold: distinct, ascending."""
    fine = np.round(np.arange(1, 100) / 100.0, 2)
    w = np.asarray(EXTREME_WEIGHTS, dtype=np.float64)
    tails = probability_from_weight(np.r_[-w, w])
    extra = [float(run_threshold)] if run_threshold is not None else []
    return np.unique(np.r_[fine, tails, extra])


def pair_probability(pairs: pd.DataFrame) -> np.ndarray:
    """Each pair's match probability, from its weight when the weight is there (see module rules)."""
    if MATCH_WEIGHT in pairs.columns:
        return probability_from_weight(pairs[MATCH_WEIGHT].to_numpy(dtype=np.float64))
    return pairs[MATCH_PROBABILITY].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# Sweep and recommendation
# --------------------------------------------------------------------------------------------------
def sweep(run: RunData, truth: pd.DataFrame, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Pairwise precision / recall / F1 (cluster level) at each threshold, ascending.

    Columns: threshold, match_weight (the threshold in weight space), precision, recall, f1, links,
    clusters, tp, fp, fn; for a run folder holding its clustering inputs also the estimated columns of
    :func:`pace_linkage.evaluate.curve.threshold_curve`, which then makes every figure, with the clusters made as
    the run makes them (so at the run's threshold they are the run's). An older run folder is swept as
    connected components of the pairs at or above each threshold.
    """
    grid = threshold_grid(run.threshold) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if reclusterable(run) and run.threshold is not None:
        from pace_linkage.evaluate import curve

        frame = curve.threshold_curve(curve.folder_inputs(run, truth), grid)
        frame = frame[np.isin(frame["threshold"].to_numpy(), grid)].reset_index(drop=True)  # the run's: if asked
        return frame[SWEEP_COLUMNS + [c for c in curve.CURVE_COLUMNS if c.startswith("est_")]]
    frame = pd.DataFrame({LEFT: run.pairs[LEFT].to_numpy(), RIGHT: run.pairs[RIGHT].to_numpy(),
                          MATCH_PROBABILITY: pair_probability(run.pairs)})
    result = evaluate.threshold_sweep(frame, run.records, truth, grid)
    result.insert(1, "match_weight", weight_from_probability(result["threshold"].to_numpy()))
    return result[SWEEP_COLUMNS]


def _row_at(sweep_df: pd.DataFrame, threshold: float | None) -> dict[str, Any] | None:
    if threshold is None:
        return None
    hit = sweep_df.loc[np.isclose(sweep_df["threshold"], threshold, rtol=0, atol=1e-15)]
    if hit.empty:
        return None
    row = hit.iloc[0]
    return {"threshold": float(row["threshold"]), "match_weight": float(row["match_weight"]),
            "precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1"]),
            "links": int(row["links"]), "clusters": int(row["clusters"])}


def _note(sweep_df: pd.DataFrame) -> str:
    if "est_precision" in sweep_df.columns:
        return ("cluster-level pairwise metrics at each threshold, the clusters made as the run makes them (its "
                "conflict rules), so the figures at the run's threshold are the run's")
    return ("cluster-level pairwise metrics of connected components at each threshold (no conflict splitting: "
            "the run folder predates re-clustering); probabilities derived from match weights")


def recommend(sweep_df: pd.DataFrame, min_precision: float, run_threshold: float | None = None) -> dict:
    """Recommended thresholds with the figures at each, and at the run's own threshold."""
    picks = evaluate.recommend_threshold(sweep_df, min_precision=min_precision)
    return {
        "min_precision_target": float(min_precision),
        "best_f1": _row_at(sweep_df, picks["best_f1"]),
        "min_precision": _row_at(sweep_df, picks["min_precision"]),
        "run_threshold": _row_at(sweep_df, run_threshold),
        "note": _note(sweep_df),
    }


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------
def sweep_csv_frame(sweep_df: pd.DataFrame) -> pd.DataFrame:
    """thresholds.csv: the sweep with rates rounded to 6 decimals (thresholds kept at full precision)."""
    out = sweep_df.copy()
    for c in ("precision", "recall", "f1", "est_precision", "est_recall", "est_f1", "est_true_links",
              "est_false_links", "est_missed"):
        if c in out.columns:
            out[c] = out[c].round(6)
    out["match_weight"] = out["match_weight"].round(6)
    return out


def _fmt_t(t: float) -> str:
    return f"{t:.2f}" if 0.01 <= t <= 0.99 and abs(t * 100 - round(t * 100)) < 1e-9 else f"{t:.6g}"


def _zoom(frame: pd.DataFrame, series: list[tuple[str, str]]) -> tuple[float, float]:
    """The rate axis from just below the lowest value shown (to a twentieth) to 1, so that lines near the top
    do not sit flat along it."""
    values = frame[[c for _, c in series]].to_numpy(dtype=np.float64)
    low = float(np.nanmin(values)) if values.size and np.isfinite(values).any() else 0.0
    return max(0.0, math.floor(low * 20) / 20), 1.0


def render_html(sweep_df: pd.DataFrame, rec: dict, title: str = "Threshold tuning") -> str:
    """A self-contained offline page: two Vega-Lite charts (precision, recall and F1 against the threshold as a
    probability, and against it as a match weight, where the tails are visible) drawn by the vendored Vega under
    a Content-Security-Policy that runs only the page's own scripts, and the sweep table (sortable)."""
    series_names = [("Precision", "precision"), ("Recall", "recall"), ("F1", "f1")]
    if "est_precision" in sweep_df.columns:
        series_names += [("Estimated precision", "est_precision"), ("Estimated recall", "est_recall")]
    markers_p, markers_w = [], []
    for key, name in (("best_f1", "best F1"), ("min_precision", f"precision >= {rec['min_precision_target']:g}"),
                      ("run_threshold", "run threshold")):
        row = rec.get(key)
        if row:
            markers_p.append((row["threshold"], name))
            if math.isfinite(row["match_weight"]):
                markers_w.append((row["match_weight"], name))
    fine = sweep_df[(sweep_df["threshold"] >= 0.01 - 1e-12) & (sweep_df["threshold"] <= 0.99 + 1e-12)]
    finite = sweep_df[np.isfinite(sweep_df["match_weight"])]
    chart_p = charts.line_chart(
        "tune-probability", fine["threshold"].tolist(),
        [(n, fine[c].tolist()) for n, c in series_names],
        title="Precision, recall and F1 against the match-probability threshold",
        desc="Cluster-level pairwise precision, recall and F1 at thresholds 0.01 to 0.99; dashed lines mark the "
             "recommended thresholds.",
        x_label="match probability threshold", y_label="rate", markers=[m for m in markers_p if 0.01 <= m[0] <= 0.99],
        y_range=_zoom(fine, series_names),
    )
    chart_w = charts.line_chart(
        "tune-weight", finite["match_weight"].tolist(),
        [(n, finite[c].tolist()) for n, c in series_names],
        title="Precision, recall and F1 against the threshold as a match weight",
        desc="The same sweep on the match-weight (log2 odds) scale, including the extreme thresholds.",
        x_label="threshold match weight (log2 odds)", y_label="rate", markers=markers_w,
        y_range=_zoom(finite, series_names),
    )
    picks = []
    for key, name in (("best_f1", "Best F1"), ("min_precision", f"Lowest threshold with precision >= "
                                                                 f"{rec['min_precision_target']:g}"),
                      ("run_threshold", "The run's threshold")):
        row = rec.get(key)
        if row is None:
            picks.append(f"<li>{escape(name)}: none in the grid</li>")
        else:
            picks.append(f"<li>{escape(name)}: <strong>{escape(_fmt_t(row['threshold']))}</strong> (weight "
                         f"{row['match_weight']:.2f}): precision {row['precision']:.4f}, recall {row['recall']:.4f}, "
                         f"F1 {row['f1']:.4f}, {row['links']:,} links, {row['clusters']:,} clusters</li>")
    rows = "".join(
        f"<tr><td>{escape(_fmt_t(r.threshold))}</td><td>{r.match_weight:.3f}</td><td>{r.precision:.4f}</td>"
        f"<td>{r.recall:.4f}</td><td>{r.f1:.4f}</td><td>{int(r.links):,}</td><td>{int(r.clusters):,}</td></tr>"
        for r in sweep_df.itertuples(index=False)
    )
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{charts.content_security_policy()}">'
        f"<title>{escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
        "table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        ".vl-chart{margin:0 0 1.5rem}.vl-chart svg{max-width:100%;height:auto}.chart-title{font-weight:600}"
        "th button.sort{font:inherit;border:0;background:none;padding:0;cursor:pointer}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>pace-linkage {escape(VERSION)}. {escape(rec['note'])}.</p>"
        f"<ul>{''.join(picks)}</ul>{chart_p}{chart_w}"
        "<h2>Sweep</h2><table><thead><tr><th>threshold</th><th>weight</th><th>precision</th><th>recall</th>"
        f"<th>F1</th><th>links</th><th>clusters</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{charts.scripts()}</body></html>\n"
    )


def write_tune(out_dir: Path, sweep_df: pd.DataFrame, rec: dict, extra: dict | None = None) -> Path:
    """Publish thresholds.csv, thresholds.html and recommendation.json into ``out_dir`` (atomic, 0600,
    with the folder's own manifest). Returns the manifest path."""
    writer = RunWriter(Path(out_dir))
    try:
        writer.write_csv("thresholds.csv", sweep_csv_frame(sweep_df))
        writer.write_text("thresholds.html", render_html(sweep_df, rec))
        writer.write_json("recommendation.json", rec)
        return writer.publish({"version": VERSION, "kind": "tune", **(extra or {})})
    except BaseException:
        writer.discard()
        raise


def tune_run(run_dir: Path, truth: pd.DataFrame, out_dir: Path, min_precision: float = 0.99) -> dict:
    """Load a finished run, sweep the grid, write the outputs; returns the recommendation."""
    run = load_run(run_dir)
    sweep_df = sweep(run, truth)
    rec = recommend(sweep_df, min_precision, run.threshold)
    write_tune(out_dir, sweep_df, rec, {"run": str(Path(run_dir)), "run_id": run.manifest.get("run_id")})
    return {**rec, "thresholds": int(len(sweep_df)), "out": str(out_dir)}


# --------------------------------------------------------------------------------------------------
# Adding files to a finished run (review import)
# --------------------------------------------------------------------------------------------------
def add_to_run(run_dir: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` into a finished run folder (each atomically, 0600) and add their SHA-256 to the
    run's manifest, rewritten atomically last, so :func:`verify_manifest` still vouches for every file."""
    run_dir = Path(run_dir)
    manifest = verify_manifest(run_dir)
    for name, data in sorted(files.items()):
        write_atomic(run_dir / name, data)
    hashes = dict(manifest.get("files", {}))
    for name in sorted(files):
        hashes[name] = sha256_file(run_dir / name)
    manifest["files"] = dict(sorted(hashes.items()))
    path = run_dir / "manifest.json"
    write_atomic(path, json_bytes(manifest))
    path.chmod(FILE_MODE)
    return path


__all__ = [
    "RunData", "add_to_run", "key_strings", "load_run", "pair_probability", "probability_from_weight", "recommend",
    "render_html", "sweep", "threshold_grid", "tune_run", "unneutralise", "weight_from_probability", "write_tune",
]
