"""The report's sections on the linkage itself: blocking, the model's match weights, the distribution of
candidate-pair weights, the clusters, and waterfalls explaining pairs near the threshold."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pace_linkage.report import charts
from pace_linkage.report.page import (
    DASH,
    EntityWords,
    Page,
    facts,
    figure,
    fixed,
    humanise,
    is_num,
    short,
    table,
)
from pace_linkage.report.section import Section
from pace_linkage.report.summary import main_clustering


def blocking(m: Mapping[str, Any], pg: Page) -> str | None:
    """Candidate pairs, reduction ratio, pairs completeness, and the pairs each rule generated and added."""
    b = m.get("blocking")
    if not isinstance(b, Mapping):
        return None
    found = []
    if "pairs" in b:
        found.append(("Candidate pairs", pg.n(b["pairs"])))
    if "reduction_ratio" in b:
        found.append(("Reduction ratio", fixed(b["reduction_ratio"], 6)))
    if "true_pairs" in b:
        found.append(("True matching pairs (truth)", pg.n(b["true_pairs"])))
    if "pairs_completeness" in b:
        found.append(("Pairs completeness (share of true pairs proposed)", fixed(b["pairs_completeness"])))
    parts = [facts(found)] if found else []
    rules = b.get("rules") or []
    if rules:
        names = [str(r.get("name", r.get("rule", i))) for i, r in enumerate(rules)]
        series = [("generated", [pg.v(r.get("pairs_generated")) for r in rules]),
                  ("added (new)", [pg.v(r.get("pairs_added")) for r in rules])]
        chart = charts.hbar_chart(pg.chart_id("blocking rules"), names, series, title="Pairs per blocking rule",
                               desc="Pairs each rule generated, and those it added beyond earlier rules.",
                               x_label="pairs")
        has_pc = any("pairs_completeness" in r for r in rules)
        true_by = b.get("true_pairs_added_by_rule") or {}
        headers = ["Rule", "Generated", "Added", *(["Completeness"] if has_pc else []),
                   *(["True pairs added"] if true_by else [])]
        rows = [[escape(n), pg.n(r.get("pairs_generated")), pg.n(r.get("pairs_added")),
                 *([fixed(r.get("pairs_completeness"))] if has_pc else []),
                 *([pg.n(true_by.get(n))] if true_by else [])] for n, r in zip(names, rules, strict=True)]
        parts.append(figure(chart, "Rules run in order; a pair is credited to the first rule producing it.",
                            table("Blocking rules", headers, rows)))
    return "".join(parts) or None


def model_weights(m: Mapping[str, Any], pg: Page) -> str | None:
    """The prior match probability and every comparison level's m, u and match weight."""
    model = m.get("model")
    if not isinstance(model, Mapping):
        return None
    parts = []
    lam = model.get("lambda")
    if is_num(lam):
        one_in = f" (about 1 in {1 / lam:,.0f} record pairs)" if lam > 0 else ""
        parts.append(facts([("Prior match probability λ", escape(short(lam) + one_in))]))
    comps = model.get("comparisons") or []
    cats, weights, rows = [], [], []
    for c in comps:
        for lv in c.get("levels") or []:
            w = lv.get("weight")
            cats.append(f"{c.get('name')}: {lv.get('label')}")
            weights.append(float(w) if is_num(w) and math.isfinite(w) else None)
            rows.append([escape(str(c.get("name"))), escape(str(lv.get("label"))), short(lv.get("m")),
                         short(lv.get("u")), fixed(w, 2) if is_num(w) else DASH])
    if cats:
        chart = charts.hbar_chart(pg.chart_id("match weights"), cats, [("weight", weights)],
                               title="Match weight of each comparison level",
                               desc="log2(m/u) per level; right of zero is evidence for a match, left against.",
                               x_label="match weight (log2 Bayes factor)")
        levels = table("m and u probabilities per level", ["Comparison", "Level", "m", "u", "Weight"], rows,
                       numeric_from=2)
        parts.append(figure(chart, "Fellegi-Sunter weights per comparison level.", levels))
    return "".join(parts) or None


def threshold_weight(m: Mapping[str, Any]) -> float | None:
    """The run's probability threshold as a match weight (log2 odds), for a marker; None without one."""
    t = (m.get("run") or {}).get("threshold")
    if is_num(t) and 0 < t < 1:
        return math.log2(t / (1 - t))
    return None


def weights_histogram(m: Mapping[str, Any], pg: Page) -> str | None:
    """Candidate pairs per match-weight bin, with the threshold marked."""
    h = m.get("weights_histogram")
    if not isinstance(h, Mapping) or not h.get("counts"):
        return None
    counts, bins = list(h["counts"]), [float(b) for b in h.get("bins") or []]
    if len(bins) == len(counts) and len(bins) > 1:  # left edges given: close the last bin
        bins.append(bins[-1] + (bins[-1] - bins[-2]))
    if len(bins) != len(counts) + 1:
        bins = [float(i) for i in range(len(counts) + 1)]
    tw = threshold_weight(m)
    markers = [(tw, "threshold")] if tw is not None else []
    chart = charts.histogram_chart(pg.chart_id("weights histogram"), bins, [pg.v(c) for c in counts], markers=markers,
                          title="Distribution of candidate-pair match weights",
                          desc="Number of candidate pairs per match-weight bin; the dashed line is the threshold.",
                          x_label="match weight (log2 odds)", y_label="pairs")
    rows = [[f"{short(a)} to {short(b)}", pg.n(c)] for a, b, c in zip(bins[:-1], bins[1:], counts, strict=True)]
    return figure(chart, "Well-separated models show two humps.", table("Pairs per weight bin",
                                                                         ["Weight bin", "Pairs"], rows))


def cluster_facts(words: EntityWords) -> dict[str, str]:
    """Names of the cluster figures (metrics key -> label)."""
    return {"records": "Records", "candidate_pairs": "Candidate pairs", "clusters": f"Clusters ({words.persons})",
            "singletons": "Singletons", "largest": "Largest cluster (records)",
            "largest_cluster": "Largest cluster (records)", "conflicts": "Conflicts",
            "edges": "Links at the threshold", "edges_cut": "Links cut to resolve conflicts"}


def clusters(m: Mapping[str, Any], pg: Page) -> str | None:
    """Cluster figures, one row per clustering (the chosen id and each named threshold), and cluster sizes."""
    c = m.get("clusters")
    if not isinstance(c, Mapping):
        return None
    labels = cluster_facts(pg.words)
    found = [(labels.get(k, humanise(k)), pg.n(v)) for k, v in c.items() if is_num(v)]
    parts = [facts(found)] if found else []
    subs = {k: v for k, v in c.items() if isinstance(v, Mapping) and k != "size_distribution"}
    if subs:
        cols: list[str] = []
        for v in subs.values():
            cols += [k for k, x in v.items() if k not in cols and not isinstance(x, Mapping | list)]
        rows = [[f"<code>{escape(str(name))}</code>",
                 *[fixed(v.get(k)) if k == "threshold" else pg.n(v.get(k)) for k in cols]] for name, v in subs.items()]
        parts.append(table("Clusterings", ["Id column", *[labels.get(k, humanise(k)) for k in cols]], rows))
    dist = c.get("size_distribution") or main_clustering(m).get("size_distribution") or {}
    if dist:
        sizes = sorted(dist, key=lambda s: (float(s) if re.fullmatch(r"-?\d+(\.\d+)?", str(s)) else math.inf, str(s)))
        chart = charts.hbar_chart(pg.chart_id("cluster sizes"), [f"size {s}" for s in sizes],
                               [("clusters", [pg.v(dist[s]) for s in sizes])],
                               title="Clusters by size", log=True,
                               desc="Number of clusters holding each number of records (log scale).",
                               x_label="clusters (log scale)")
        rows = [[escape(str(s)), pg.n(dist[s])] for s in sizes]
        parts.append(figure(chart, "Cluster size distribution.", table("Clusters by size", ["Size", "Clusters"],
                                                                         rows)))
    return "".join(parts) or None


WATERFALL_INTRO = ("<p>Each bar is one comparison's contribution (log2 Bayes factor); with the prior they add up to "
                   "the pair's match weight. Each pair is named by its records' source and record id, as "
                   "clusters.csv names them (<code>pace-linkage workbench</code> shows any pair); values are "
                   "masked.</p>")


def pair_keys(ex: Mapping[str, Any]) -> str:
    """A pair's two records as clusters.csv names them (``source record_id``), or its sources alone when the
    metrics give no record ids."""
    sources = [str(s) for s in ex.get("sources") or []]
    ids = [str(r) for r in ex.get("records") or []]
    if len(ids) == len(sources):
        return " / ".join(f"{s} {r}" for s, r in zip(sources, ids, strict=True))
    return " / ".join(sources)


def waterfalls(items: Any, pg: Page, name: str = "Pair") -> list[str]:
    """One waterfall chart and table per explained pair (as ``explain_pairs`` gives them; values arrive masked)."""
    parts = []
    for i, ex in enumerate(items, start=1):
        rows = ex.get("rows") or []
        cats = [f"{r.get('comparison')}: {r.get('level')}" for r in rows]
        weights = [float(r["weight"]) if is_num(r.get("weight")) else None for r in rows]
        title = f"{name} {i}: {ex.get('title', '')} ({pair_keys(ex)})"
        chart = charts.hbar_chart(pg.chart_id(f"waterfall {name} {i}"), cats, [("weight", weights)], title=title,
                               desc=f"match weight {fixed(ex.get('match_weight'), 2)}, probability "
                                    f"{fixed(ex.get('match_probability'), 4)}", x_label="contribution to match weight")
        values = table(title, ["Comparison", "Left", "Right", "Level", "Weight"],
                       [[escape(str(r.get("comparison"))), escape(str(r.get("left", ""))),
                         escape(str(r.get("right", ""))), escape(str(r.get("level"))), fixed(r.get("weight"), 2)]
                        for r in rows], numeric_from=4)
        parts.append(figure(chart, f"{title}: match weight {fixed(ex.get('match_weight'), 2)}, "
                                   f"probability {fixed(ex.get('match_probability'), 4)}.", values))
    return parts


def explanations(m: Mapping[str, Any], pg: Page) -> str | None:
    """Waterfalls of the candidate pairs just above and just below the threshold."""
    items = m.get("explanations")
    if not isinstance(items, Sequence) or not items:
        return None
    return WATERFALL_INTRO + "".join(waterfalls(items, pg))


SECTIONS = (
    Section(120, "blocking", "Blocking", ("blocking",), blocking),
    Section(130, "model", "Model: match weights", ("model",), model_weights),
    Section(140, "weights", "Match-weight distribution", ("weights_histogram",), weights_histogram),
    Section(150, "clusters", "Clusters", ("clusters",), clusters),
    Section(160, "explanations", "Why pairs link: explanations near the threshold", ("explanations",), explanations),
)

__all__ = ["SECTIONS", "WATERFALL_INTRO", "blocking", "pair_keys", "cluster_facts", "clusters", "explanations", "model_weights",
           "threshold_weight", "waterfalls", "weights_histogram"]
