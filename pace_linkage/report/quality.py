"""The report's sections on linkage quality: against truth (pairwise and B-cubed, pair-level confusion, the
worst errors), as the model estimates it without truth, and how it moves with the threshold."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report import charts
from pace_linkage.report.linkage import WATERFALL_INTRO, waterfalls
from pace_linkage.report.page import EntityWords, Page, facts, figure, fixed, is_num, note, table
from pace_linkage.report.section import Section

PAIR_COUNTS = [("tp", "True positive pairs"), ("fp", "False positive pairs"), ("fn", "False negative pairs"),
               ("predicted_pairs", "Predicted pairs"), ("true_pairs", "True pairs"),
               ("records_absent_from_truth", "Records absent from truth")]


def against_truth(m: Mapping[str, Any], pg: Page) -> str | None:
    """Pairwise and B-cubed precision, recall and F1, and the pair counts behind them."""
    pw, bc = m.get("pairwise"), m.get("bcubed")
    if not isinstance(pw, Mapping) and not isinstance(bc, Mapping):
        return None
    pw, bc = pw or {}, bc or {}
    w = pg.words
    headers = ["Metric", *(["Pairwise"] if pw else []), *(["B-cubed"] if bc else [])]
    rows = [[name, *([fixed(pw.get(k))] if pw else []), *([fixed(bc.get(k))] if bc else [])]
            for k, name in [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]]
    parts = [table("Quality against the truth", headers, rows)]
    cnt = [(k, n) for k, n in PAIR_COUNTS if k in pw]
    if cnt:
        parts.append(facts([(n, pg.n(pw[k])) for k, n in cnt]))
    parts.append(note("Pairs are unordered record pairs within and across partners; a pair is predicted when "
                      f"both records share a {w.id} and true when they share a {w.person}."))
    return "".join(parts)


def confusion_names(w: EntityWords) -> list[tuple[str, str]]:
    """Names of the pair-level confusion counts (metrics key, label)."""
    return [("tp", f"True positives (linked, same {w.person})"),
            ("fp", f"False positives (linked, different {w.persons})"),
            ("fn", f"False negatives (not linked, same {w.person})"), ("tn", "True negatives (not linked, different)"),
            ("candidate_pairs", "Candidate pairs"), ("true_pairs", "True matching pairs"),
            ("missed_by_blocking", "True pairs never proposed by blocking")]


def confusion(m: Mapping[str, Any], pg: Page) -> str | None:
    """TP / FP / FN / TN among candidate pairs at the threshold, and the true pairs blocking never proposed."""
    c = m.get("confusion")
    if not isinstance(c, Mapping) or not c:
        return None
    w = pg.words
    found = [(name, pg.n(c[k])) for k, name in confusion_names(w) if k in c]
    return facts(found) + note(
        "Pair level among candidate pairs: a pair is linked when its match probability reaches the threshold "
        f"(before clustering), true when both records belong to one {w.person}. True pairs that blocking never "
        f"proposed can only be found through other records of the same {w.person}.")


def top_errors(m: Mapping[str, Any], pg: Page) -> str | None:
    """Waterfalls of the highest-weighted false positives and false negatives."""
    te = m.get("top_errors")
    if not isinstance(te, Mapping):
        return None
    parts = []
    for key, heading, empty in [
            ("false_positives", "Highest-weighted false positives", "No candidate pair was wrongly linked."),
            ("false_negatives", "Highest-weighted false negatives", "No true candidate pair was left unlinked.")]:
        items = te.get(key)
        if items is None:
            continue
        parts.append(f"<h3>{escape(heading)}</h3>")
        parts.extend(waterfalls(items, pg, "Pair") if items else [note(empty)])
    return (WATERFALL_INTRO + "".join(parts)) if parts else None


def estimated(m: Mapping[str, Any], pg: Page) -> str | None:
    """The model's own estimate of precision and recall, and how to check it by clerical review."""
    est = m.get("estimated")
    if not isinstance(est, Mapping):
        return None
    items = [("Expected precision", fixed(est.get("precision"))), ("Expected recall", fixed(est.get("recall")))]
    if is_num(est.get("recall_low")) and is_num(est.get("recall_high")):
        items.append(("95% interval of the recall", f"{fixed(est['recall_low'])} to {fixed(est['recall_high'])}"))
    if "looser_keys" in est:
        items.append(("Recall among compared pairs only", fixed(est.get("recall_among_compared"))))
    for key, name in [("links", "Links at the threshold"), ("expected_false_links", "Expected false links"),
                      ("expected_missed_links", "Expected missed links among candidates"),
                      ("missed_by_blocking", "Expected matches never compared")]:
        if is_num(est.get(key)):
            items.append((name, pg.n(round(est[key]))))
    how = ("recall counts the matches inside clusters against those anywhere: among the compared pairs and, "
           "estimated from looser blocking keys, those blocking never compared (see the next section)"
           if "looser_keys" in est else
           "recall the linked share of the summed probability; it cannot see true matches that blocking never "
           "proposed")
    return facts(items) + note(
        "The model's own estimate from its match probabilities (fastLink style): precision is the mean probability "
        f"of linked pairs; {how}. It is only as good as the model's calibration.") + (
        '<p class="note">To check it, have a sample of pairs reviewed by hand (clerical review): '
        "<code>pace-linkage review export</code> writes pairs for reviewers and <code>pace-linkage review "
        "import</code> reads their decisions back, to measure precision and recall against them.</p>")


def _sweep_figure(sweep: list, markers: list, pg: Page) -> str:
    """Precision, recall and F1 against the threshold, with the table of the sweep."""
    xs = [float(r.get("threshold")) for r in sweep]
    series = [(name, [r.get(k) for r in sweep]) for k, name in
              [("precision", "precision"), ("recall", "recall"), ("f1", "F1")]]
    lowest = min([float(v) for _, vals in series for v in vals if is_num(v)] or [0.0])
    y_range = (max(0.0, math.floor(lowest * 10) / 10), 1.0)  # zoom in on the top of the scale
    chart = charts.line_chart(pg.chart_id("threshold sweep"), xs, series, markers=markers, y_range=y_range,
                           title="Precision, recall and F1 against the match-probability threshold",
                           desc="Pairwise quality of connected-component clusters at each threshold; "
                                "dashed lines mark the chosen and recommended thresholds.",
                           x_label="match probability threshold", y_label="score")
    rows = [[fixed(r.get("threshold")), fixed(r.get("precision")), fixed(r.get("recall")), fixed(r.get("f1")),
             pg.n(r.get("links")), pg.n(r.get("clusters"))] for r in sweep]
    figures = table("Threshold sweep", ["Threshold", "Precision", "Recall", "F1", "Links", "Clusters"], rows)
    return figure(chart, "Precision-recall trade-off by threshold.", figures)


def _precision_recall_figure(sweep: list, markers: list, pg: Page) -> str | None:
    """Precision against recall over the sweep's thresholds; None with fewer than two points."""
    pr = sorted((float(r["recall"]), float(r["precision"])) for r in sweep
                if is_num(r.get("recall")) and is_num(r.get("precision")))
    if len(pr) < 2:
        return None
    at = {name: min(sweep, key=lambda r, x=x: abs(float(r["threshold"]) - float(x))) for x, name in markers}
    pr_markers = [(float(r["recall"]), f"{name} ({fixed(r['threshold'], 2)})") for name, r in at.items()]
    lo = min(min(p for _, p in pr), min(r for r, _ in pr))
    chart = charts.line_chart(
        pg.chart_id("precision recall curve"), [r for r, _ in pr], [("precision", [p for _, p in pr])],
        markers=pr_markers, y_range=(max(0.0, math.floor(lo * 10) / 10), 1.0),
        title="Precision-recall curve over thresholds",
        desc="Each point is one threshold of the sweep; dashed lines mark the recall at the chosen and "
             "recommended thresholds.", x_label="recall", y_label="precision")
    return figure(chart, "Precision against recall: moving the threshold trades one for the other.")


def _curve_figure(curve: list, markers: list, pg: Page) -> str:
    """The threshold curve: estimated precision and recall at each threshold (measured beside them with truth),
    with the links and clusters each threshold would give."""
    measured = any(is_num(r.get("precision")) for r in curve)
    keys = [("est_precision", "estimated precision"), ("est_recall", "estimated recall")]
    if measured:
        keys += [("precision", "precision (truth)"), ("recall", "recall (truth)")]
    xs = [float(r.get("threshold")) for r in curve]
    series = [(name, [r.get(k) for r in curve]) for k, name in keys]
    lowest = min([float(v) for _, vals in series for v in vals if is_num(v)] or [0.0])
    chart = charts.line_chart(pg.chart_id("threshold curve"), xs, series, markers=markers,
                           y_range=(max(0.0, math.floor(lowest * 20) / 20), 1.0),
                           title="Estimated precision and recall against the threshold",
                           desc="Pairwise over the clusters each threshold would give, made as the run makes "
                                "them; estimated from the model without truth.",
                           x_label="match probability threshold", y_label="score")
    headers = ["Threshold", "Links", "Clusters", "Linked records", "Est. precision", "Est. recall",
               *(["Precision", "Recall"] if measured else [])]
    rows = [[fixed(r.get("threshold"), 3), pg.n(r.get("links")), pg.n(r.get("clusters")),
             pg.n(r.get("linked_records")), fixed(r.get("est_precision")), fixed(r.get("est_recall")),
             *([fixed(r.get("precision")), fixed(r.get("recall"))] if measured else [])] for r in curve]
    return figure(chart, "What each threshold would give. The estimate needs no truth: it reads the model's "
                  "match probabilities and the run's estimate of the matches blocking never compared.",
                  table("Threshold curve", headers, rows))


def threshold(m: Mapping[str, Any], pg: Page) -> str | None:
    """The chosen and recommended thresholds, the threshold curve (with or without truth), the threshold sweep
    and the precision-recall curve (with truth)."""
    sweep, rec, curve = m.get("threshold_sweep"), m.get("recommended_threshold"), m.get("threshold_curve")
    if not sweep and not curve and not isinstance(rec, Mapping):
        return None
    chosen = (m.get("run") or {}).get("threshold")
    rec = rec or {}
    markers = [(x, name) for x, name in [(chosen, "chosen"), (rec.get("best_f1"), "best F1"),
                                         (rec.get("min_precision"), "precision floor")] if is_num(x)]
    parts = []
    found = [(name, fixed(x, 4)) for x, name in markers]
    if found:
        parts.append(facts(found))
    if curve:
        parts.append(_curve_figure(curve, markers, pg))
        parts.append(note("Apply another threshold without linking again: pace-linkage recluster --run OUT "
                          "--threshold X --out DIR writes the new set of ids."))
    if sweep:
        parts.append(_sweep_figure(sweep, markers, pg))
        pr = _precision_recall_figure(sweep, markers, pg)
        if pr:
            parts.append(pr)
    return "".join(parts)


SECTIONS = (
    Section(42, "quality", "Quality against truth", ("pairwise", "bcubed"), against_truth),
    Section(180, "confusion", "Confusion counts (candidate pairs, against truth)", ("confusion",), confusion),
    Section(190, "top-errors", "Top false positives and false negatives", ("top_errors",), top_errors),
    Section(44, "estimated", "Estimated quality (no truth)", ("estimated",), estimated),
    Section(105, "threshold", "Threshold", ("threshold_curve", "threshold_sweep", "recommended_threshold"), threshold),
)

__all__ = ["PAIR_COUNTS", "SECTIONS", "against_truth", "confusion", "confusion_names", "estimated", "threshold",
           "top_errors"]
