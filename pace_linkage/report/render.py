"""Render the run's metrics (aggregates only) as one self-contained HTML file and a markdown summary.

The HTML has no external reference at all: CSS is inlined from ``style.css``, charts are inline SVG
drawn by :mod:`pace_linkage.report.svg`, there is no JavaScript, and a Content-Security-Policy meta tag
forbids loading anything. Output is deterministic: the same metrics dict gives byte-identical HTML
(no timestamps; mappings are shown in the order given, or sorted where the order is numeric).

Sections are rendered from whatever keys the metrics dict holds (see :data:`SECTIONS`); absent keys
are skipped, and a key no renderer knows is shown as a generic table, so later features can add
metrics without touching this module.

Small-count suppression: with ``small_count_threshold`` = k > 0 every displayed count in 1..k-1 is
shown as ``*`` (tables, cards, tooltips) and drawn as no mark in charts; a rate whose numerator or
denominator is suppressed is suppressed too. In these tables suppression is primary only: a suppressed cell
may still be derivable from a total and the other cells. The aggregate tables (``aggregates``,
``aggregates_withheld``, from :mod:`pace_linkage.study.aggregates`) are the exception: they arrive with primary and
secondary suppression already applied (:func:`pace_linkage.redact.suppress_table` rules, their own threshold)
and are shown as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from importlib import resources
from string import Template
from typing import Any

from pace_linkage.redact import SUPPRESSED, suppress_small
from pace_linkage.report import svg

DASH = "–"


# --------------------------------------------------------------------------------------------------
# Formatting and suppression
# --------------------------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Page:
    """Per-render state: the suppression threshold and a deterministic chart-id counter."""

    def __init__(self, metrics: Mapping[str, Any], small_count_threshold: int) -> None:
        self.m = metrics
        self.k = int(small_count_threshold or 0)
        self._charts = 0

    def chart_id(self, name: str) -> str:
        self._charts += 1
        return f"chart-{self._charts}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"

    # counts -------------------------------------------------------------------------------------
    def suppressed(self, v: Any) -> bool:
        return suppress_small(int(v), self.k) == SUPPRESSED if _is_num(v) and float(v).is_integer() else False

    def n(self, v: Any) -> str:
        """A count for display: ``1,234``, ``*`` when suppressed, a dash when missing."""
        if v is None or not _is_num(v) or (isinstance(v, float) and not math.isfinite(v)):
            return DASH if v is None else escape(str(v))
        if self.suppressed(v):
            return SUPPRESSED
        return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"

    def v(self, v: Any) -> float | None:
        """A count for chart geometry: None (no mark) when suppressed or missing."""
        if v is None or not _is_num(v) or self.suppressed(v):
            return None
        return float(v)

    def rate(self, num: Any, den: Any) -> float | None:
        if not (_is_num(num) and _is_num(den)) or not den or self.suppressed(num) or self.suppressed(den):
            return None
        return float(num) / float(den)

    def label(self, source: str) -> str:
        by = ((self.m.get("counts") or {}).get("by_source") or {})
        lab = (by.get(source) or {}).get("label") if isinstance(by.get(source), Mapping) else None
        return f"{lab} ({source})" if lab and lab != source else str(source)


def _p(x: Any, digits: int = 4) -> str:
    """A probability / proportion: fixed decimals, dash when missing."""
    if not _is_num(x) or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return f"{x:.{digits}f}"


def _pct(x: float | None, digits: int = 1) -> str:
    return SUPPRESSED if x is None else f"{100 * x:.{digits}f}%"


def _g(x: Any) -> str:
    if not _is_num(x):
        return DASH if x is None else escape(str(x))
    if isinstance(x, float) and not math.isfinite(x):
        return escape(str(x))
    return f"{x:.4g}"


# --------------------------------------------------------------------------------------------------
# HTML building blocks (all dynamic text escaped here)
# --------------------------------------------------------------------------------------------------
def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int = 1,
           total: Sequence[str] | None = None) -> str:
    """A data table; cells are pre-formatted *escaped* strings; the first column is a row header."""
    head = "".join(
        f'<th scope="col"{" class=num" if i >= numeric_from else ""}>{escape(h)}</th>' for i, h in enumerate(headers)
    )

    def tr(cells: Sequence[str], cls: str = "") -> str:
        out = [f'<th scope="row">{cells[0]}</th>']
        out += [f'<td{" class=num" if i >= numeric_from else ""}>{c}</td>' for i, c in enumerate(cells[1:], 1)]
        return f"<tr{cls}>{''.join(out)}</tr>"

    body = "".join(tr(r) for r in rows)
    if total is not None:
        body += tr(total, ' class="total"')
    return (f'<div class="table-wrap"><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _figure(chart: str, caption: str, table: str = "", wide: bool = False) -> str:
    cls = "figure wide" if wide else "figure"
    return f'<div class="{cls}"><figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>{table}</div>'


def _facts(items: Iterable[tuple[str, str]], cls: str = "facts") -> str:
    inner = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f'<dl class="{cls}">{inner}</dl>'


def _cards(items: Iterable[tuple[str, str]]) -> str:
    inner = "".join(f'<div class="card"><dt>{escape(k)}</dt><dd>{v}</dd></div>' for k, v in items)
    return f'<dl class="cards">{inner}</dl>'


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------
def _sec_summary(m: Mapping[str, Any], pg: _Page) -> str | None:
    counts, clusters, blocking = m.get("counts") or {}, _main_clustering(m), m.get("blocking") or {}
    items: list[tuple[str, str]] = []
    for key, name in [("rows_in", "Rows in"), ("rows_accepted", "Rows accepted"),
                      ("rows_quarantined", "Rows quarantined"), ("rows_withheld", "Rows withheld")]:
        if key in counts:
            items.append((name, pg.n(counts[key])))
    if "sources_failed" in m:
        items.append(("Sources failed", pg.n(len(m["sources_failed"] or []))))
    if "pairs" in blocking:
        items.append(("Candidate pairs", pg.n(blocking["pairs"])))
    if "clusters" in clusters:
        items.append(("Persons (clusters)", pg.n(clusters["clusters"])))
    pw, est = m.get("pairwise") or {}, m.get("estimated") or {}
    if "f1" in pw:
        items += [("Pairwise precision", _p(pw.get("precision"))), ("Pairwise recall", _p(pw.get("recall"))),
                  ("Pairwise F1", _p(pw["f1"]))]
    elif est:
        items += [("Estimated precision", _p(est.get("precision"))), ("Estimated recall", _p(est.get("recall")))]
    return _cards(items) if items else None


def _sec_run(m: Mapping[str, Any], pg: _Page) -> str | None:
    run = m.get("run")
    if not isinstance(run, Mapping):
        return None
    names = {"entity": "Entity", "version": "Version", "seed": "Seed", "threshold": "Match threshold",
             "config_hash": "Configuration hash"}
    items = []
    for key, name in names.items():
        if key in run:
            val = run[key]
            shown = f"<code>{escape(str(val))}</code>" if key == "config_hash" else escape(str(val))
            items.append((name, shown))
    srcs = run.get("sources")
    if srcs:
        shown = [s.get("name", str(s)) if isinstance(s, Mapping) else str(s) for s in srcs]
        items.append((f"Sources ({len(shown)})", escape(", ".join(shown))))
    for key, val in run.items():
        if key not in names and key != "sources" and not isinstance(val, Mapping | list):
            items.append((key.replace("_", " ").capitalize(), escape(str(val))))
    items.append(("Time per stage", "in <code>manifest.json</code> and the run's Prefect artifact (kept out of this "
                                    "page so that a rerun gives a byte-identical report)"))
    return _facts(items)


def _sec_notes(m: Mapping[str, Any], pg: _Page) -> str | None:
    notes = m.get("report_notes")
    if not notes:
        return None
    return "<ul>" + "".join(f"<li>{escape(str(n))}</li>" for n in notes) + "</ul>"


def _sec_people_employers(m: Mapping[str, Any], pg: _Page) -> str | None:
    if not isinstance(m.get("people_employers"), Mapping):
        return None
    from pace_linkage.report.employers import people_employers_section  # lazy: it builds on this module

    return people_employers_section(m, pg)


def _sec_failed(m: Mapping[str, Any], pg: _Page) -> str | None:
    failed = m.get("sources_failed")
    if failed is None:
        return None
    if not failed:
        return _note("Every configured source was read.")
    rows = [[escape(str(f.get("source", ""))), escape(str(f.get("file", ""))), escape(str(f.get("error", "")))]
            for f in failed]
    return ('<div class="warning"><p>These sources could not be used; the run went on without them.</p>'
            + _table("Sources that failed", ["Source", "File", "Error"], rows, numeric_from=99) + "</div>")


def _sec_counts(m: Mapping[str, Any], pg: _Page) -> str | None:
    counts = m.get("counts")
    if not isinstance(counts, Mapping):
        return None
    by = counts.get("by_source") or {}
    parts = []
    kinds = [("rows_accepted", "Accepted"), ("rows_quarantined", "Quarantined"), ("rows_withheld", "Withheld")]
    kinds = [(k, n) for k, n in kinds if any(k in (v or {}) for v in by.values()) or k in counts]
    if by:
        srcs = list(by)
        cats = [pg.label(s) + (" – failed" if (by[s] or {}).get("failed") else "") for s in srcs]
        series = [(name, [pg.v((by[s] or {}).get(key)) for s in srcs]) for key, name in kinds]
        chart = svg.hbar_chart(pg.chart_id("rows by source"), cats, series, stacked=True,
                               title="Rows accepted, quarantined and withheld per source",
                               desc="Stacked horizontal bars, one per source; the table beside gives the figures.",
                               x_label="rows")
        rows = [[escape(c), pg.n((by[s] or {}).get("rows_in")), *[pg.n((by[s] or {}).get(k)) for k, _ in kinds]]
                for s, c in zip(srcs, cats, strict=True)]
        total = ["Total", pg.n(counts.get("rows_in")), *[pg.n(counts.get(k)) for k, _ in kinds]]
        table = _table("Rows per source", ["Source", "Rows in", *[n for _, n in kinds]], rows, total=total)
        parts.append(_figure(chart, "Rows per source by outcome.", table))
        reasons = [[escape(pg.label(s)), escape(str(code)), pg.n(n)]
                   for s in srcs for code, n in ((by[s] or {}).get("reasons") or {}).items()]
        if reasons:
            parts.append("<h3>Quarantine and withholding reasons</h3>")
            parts.append(_table("Rows by reason code", ["Source", "Reason", "Rows"], reasons, numeric_from=2))
    else:
        parts.append(_facts([(n, pg.n(counts.get(k))) for k, n in [("rows_in", "Rows in"), *kinds] if k in counts]))
    return "".join(parts)


def _sec_coverage(m: Mapping[str, Any], pg: _Page) -> str | None:
    cov = m.get("coverage")
    if not isinstance(cov, Mapping) or not cov:
        return None
    srcs = list(cov)
    fields: list[str] = []
    for s in srcs:
        for f in cov[s] or {}:
            if f not in fields:
                fields.append(f)
    shade, texts, rows = [], [], []
    for s in srcs:
        srow, trow = [], []
        for f in fields:
            c = (cov[s] or {}).get(f)
            if not c:
                srow.append(None)
                trow.append(DASH)
                continue
            r = pg.rate(c.get("valid"), c.get("rows"))
            srow.append(r)
            trow.append(DASH if not c.get("rows") else _pct(r, 0))
            rows.append([escape(pg.label(s)), escape(str(f)), pg.n(c.get("rows")), pg.n(c.get("present")),
                         pg.n(c.get("valid")), DASH if not c.get("rows") else _pct(r)])
        shade.append(srow)
        texts.append(trow)
    chart = svg.heatmap(pg.chart_id("identifier validity"), [pg.label(s) for s in srcs], fields, shade, texts,
                        title="Identifier validity per partner",
                        desc="Share of each partner's rows holding a valid value of each field; darker is higher.")
    table = _table("Identifier coverage and validity", ["Source", "Field", "Rows", "Present", "Valid", "Valid %"],
                   rows, numeric_from=2)
    return _figure(chart, "Valid values as a share of rows (– : field not supplied).", table)


def _sec_blocking(m: Mapping[str, Any], pg: _Page) -> str | None:
    b = m.get("blocking")
    if not isinstance(b, Mapping):
        return None
    facts = []
    if "pairs" in b:
        facts.append(("Candidate pairs", pg.n(b["pairs"])))
    if "reduction_ratio" in b:
        facts.append(("Reduction ratio", _p(b["reduction_ratio"], 6)))
    if "true_pairs" in b:
        facts.append(("True matching pairs (truth)", pg.n(b["true_pairs"])))
    if "pairs_completeness" in b:
        facts.append(("Pairs completeness (share of true pairs proposed)", _p(b["pairs_completeness"])))
    parts = [_facts(facts)] if facts else []
    rules = b.get("rules") or []
    if rules:
        names = [str(r.get("name", r.get("rule", i))) for i, r in enumerate(rules)]
        series = [("generated", [pg.v(r.get("pairs_generated")) for r in rules]),
                  ("added (new)", [pg.v(r.get("pairs_added")) for r in rules])]
        chart = svg.hbar_chart(pg.chart_id("blocking rules"), names, series, title="Pairs per blocking rule",
                               desc="Pairs each rule generated, and those it added beyond earlier rules.",
                               x_label="pairs")
        has_pc = any("pairs_completeness" in r for r in rules)
        true_by = b.get("true_pairs_added_by_rule") or {}
        headers = ["Rule", "Generated", "Added", *(["Completeness"] if has_pc else []),
                   *(["True pairs added"] if true_by else [])]
        rows = [[escape(n), pg.n(r.get("pairs_generated")), pg.n(r.get("pairs_added")),
                 *([_p(r.get("pairs_completeness"))] if has_pc else []),
                 *([pg.n(true_by.get(n))] if true_by else [])] for n, r in zip(names, rules, strict=True)]
        parts.append(_figure(chart, "Rules run in order; a pair is credited to the first rule producing it.",
                             _table("Blocking rules", headers, rows)))
    return "".join(parts) or None


def _sec_model(m: Mapping[str, Any], pg: _Page) -> str | None:
    model = m.get("model")
    if not isinstance(model, Mapping):
        return None
    parts = []
    lam = model.get("lambda")
    if _is_num(lam):
        one_in = f" (about 1 in {1 / lam:,.0f} record pairs)" if lam > 0 else ""
        parts.append(_facts([("Prior match probability λ", escape(_g(lam) + one_in))]))
    comps = model.get("comparisons") or []
    cats, weights, rows = [], [], []
    for c in comps:
        for lv in c.get("levels") or []:
            w = lv.get("weight")
            cats.append(f"{c.get('name')}: {lv.get('label')}")
            weights.append(float(w) if _is_num(w) and math.isfinite(w) else None)
            rows.append([escape(str(c.get("name"))), escape(str(lv.get("label"))), _g(lv.get("m")), _g(lv.get("u")),
                         _p(w, 2) if _is_num(w) else DASH])
    if cats:
        chart = svg.hbar_chart(pg.chart_id("match weights"), cats, [("weight", weights)],
                               title="Match weight of each comparison level",
                               desc="log2(m/u) per level; right of zero is evidence for a match, left against.",
                               x_label="match weight (log2 Bayes factor)")
        table = _table("m and u probabilities per level", ["Comparison", "Level", "m", "u", "Weight"], rows,
                       numeric_from=2)
        parts.append(_figure(chart, "Fellegi-Sunter weights per comparison level.", table))
    return "".join(parts) or None


def _threshold_weight(m: Mapping[str, Any]) -> float | None:
    t = (m.get("run") or {}).get("threshold")
    if _is_num(t) and 0 < t < 1:
        return math.log2(t / (1 - t))
    return None


def _sec_weights(m: Mapping[str, Any], pg: _Page) -> str | None:
    h = m.get("weights_histogram")
    if not isinstance(h, Mapping) or not h.get("counts"):
        return None
    counts, bins = list(h["counts"]), [float(b) for b in h.get("bins") or []]
    if len(bins) == len(counts) and len(bins) > 1:  # left edges given: close the last bin
        bins.append(bins[-1] + (bins[-1] - bins[-2]))
    if len(bins) != len(counts) + 1:
        bins = [float(i) for i in range(len(counts) + 1)]
    tw = _threshold_weight(m)
    markers = [(tw, "threshold")] if tw is not None else []
    chart = svg.histogram(pg.chart_id("weights histogram"), bins, [pg.v(c) for c in counts], markers=markers,
                          title="Distribution of candidate-pair match weights",
                          desc="Number of candidate pairs per match-weight bin; the dashed line is the threshold.",
                          x_label="match weight (log2 odds)", y_label="pairs")
    rows = [[f"{_g(a)} to {_g(b)}", pg.n(c)] for a, b, c in zip(bins[:-1], bins[1:], counts, strict=True)]
    return _figure(chart, "Well-separated models show two humps.", _table("Pairs per weight bin",
                                                                           ["Weight bin", "Pairs"], rows))


_CLUSTER_FACTS = [("records", "Records"), ("candidate_pairs", "Candidate pairs"), ("clusters", "Clusters (persons)"),
                  ("singletons", "Singletons"), ("largest", "Largest cluster (records)"),
                  ("largest_cluster", "Largest cluster (records)"), ("conflicts", "Conflicts"),
                  ("edges", "Links at the threshold"), ("edges_cut", "Links cut to resolve conflicts")]


def _humanise(key: str) -> str:
    return str(key).replace("_", " ").capitalize()


def _main_clustering(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """The cluster figures for the chosen id: the flat ``clusters`` dict, or its ``<id_column>`` entry."""
    c = m.get("clusters") or {}
    id_col = (m.get("run") or {}).get("id_column", "pace_id")
    sub = c.get(id_col) if isinstance(c, Mapping) else None
    return sub if isinstance(sub, Mapping) else c


def _sec_clusters(m: Mapping[str, Any], pg: _Page) -> str | None:
    c = m.get("clusters")
    if not isinstance(c, Mapping):
        return None
    labels = dict(_CLUSTER_FACTS)
    facts = [(labels.get(k, _humanise(k)), pg.n(v)) for k, v in c.items() if _is_num(v)]
    parts = [_facts(facts)] if facts else []
    subs = {k: v for k, v in c.items() if isinstance(v, Mapping) and k != "size_distribution"}
    if subs:  # one row per clustering (the chosen id and each named threshold)
        cols: list[str] = []
        for v in subs.values():
            cols += [k for k, x in v.items() if k not in cols and not isinstance(x, Mapping | list)]
        rows = [[f"<code>{escape(str(name))}</code>",
                 *[_p(v.get(k)) if k == "threshold" else pg.n(v.get(k)) for k in cols]] for name, v in subs.items()]
        parts.append(_table("Clusterings", ["Id column", *[labels.get(k, _humanise(k)) for k in cols]], rows))
    dist = c.get("size_distribution") or _main_clustering(m).get("size_distribution") or {}
    if dist:
        sizes = sorted(dist, key=lambda s: (float(s) if re.fullmatch(r"-?\d+(\.\d+)?", str(s)) else math.inf, str(s)))
        chart = svg.hbar_chart(pg.chart_id("cluster sizes"), [f"size {s}" for s in sizes],
                               [("clusters", [pg.v(dist[s]) for s in sizes])],
                               title="Clusters by size", log=True,
                               desc="Number of clusters holding each number of records (log scale).",
                               x_label="clusters (log scale)")
        rows = [[escape(str(s)), pg.n(dist[s])] for s in sizes]
        parts.append(_figure(chart, "Cluster size distribution.", _table("Clusters by size", ["Size", "Clusters"],
                                                                           rows)))
    return "".join(parts) or None


def _sec_quality(m: Mapping[str, Any], pg: _Page) -> str | None:
    pw, bc = m.get("pairwise"), m.get("bcubed")
    if not isinstance(pw, Mapping) and not isinstance(bc, Mapping):
        return None
    pw, bc = pw or {}, bc or {}
    headers = ["Metric", *(["Pairwise"] if pw else []), *(["B-cubed"] if bc else [])]
    rows = [[name, *([_p(pw.get(k))] if pw else []), *([_p(bc.get(k))] if bc else [])]
            for k, name in [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]]
    parts = [_table("Quality against the truth", headers, rows)]
    cnt = [(k, n) for k, n in [("tp", "True positive pairs"), ("fp", "False positive pairs"),
                               ("fn", "False negative pairs"), ("predicted_pairs", "Predicted pairs"),
                               ("true_pairs", "True pairs"), ("records_absent_from_truth",
                                                              "Records absent from truth")] if k in pw]
    if cnt:
        parts.append(_facts([(n, pg.n(pw[k])) for k, n in cnt]))
    parts.append(_note("Pairs are unordered record pairs within and across partners; a pair is predicted when "
                       "both records share a pace_id and true when they share a person."))
    return "".join(parts)


def _sec_estimated(m: Mapping[str, Any], pg: _Page) -> str | None:
    est = m.get("estimated")
    if not isinstance(est, Mapping):
        return None
    items = [("Expected precision", _p(est.get("precision"))), ("Expected recall", _p(est.get("recall")))]
    for key, name in [("links", "Links at the threshold"), ("expected_false_links", "Expected false links"),
                      ("expected_missed_links", "Expected missed links among candidates")]:
        if _is_num(est.get(key)):
            items.append((name, pg.n(round(est[key]))))
    return _facts(items) + _note(
        "The model's own estimate from its match probabilities (fastLink style): precision is the mean probability "
        "of linked pairs, recall the linked share of the summed probability. It cannot see true matches that "
        "blocking never proposed, and is only as good as the model's calibration.") + (
        '<p class="note">To check it, have a sample of pairs reviewed by hand (clerical review): '
        "<code>pace-linkage review export</code> writes pairs for reviewers and <code>pace-linkage review "
        "import</code> reads their decisions back, to measure precision and recall against them.</p>")


def _sec_threshold(m: Mapping[str, Any], pg: _Page) -> str | None:
    sweep, rec = m.get("threshold_sweep"), m.get("recommended_threshold")
    if not sweep and not isinstance(rec, Mapping):
        return None
    chosen = (m.get("run") or {}).get("threshold")
    rec = rec or {}
    markers = [(x, name) for x, name in [(chosen, "chosen"), (rec.get("best_f1"), "best F1"),
                                         (rec.get("min_precision"), "precision floor")] if _is_num(x)]
    parts = []
    facts = [(name, _p(x, 4)) for x, name in markers]
    if facts:
        parts.append(_facts(facts))
    if sweep:
        xs = [float(r.get("threshold")) for r in sweep]
        series = [(name, [r.get(k) for r in sweep]) for k, name in
                  [("precision", "precision"), ("recall", "recall"), ("f1", "F1")]]
        lowest = min([float(v) for _, vals in series for v in vals if _is_num(v)] or [0.0])
        y_range = (max(0.0, math.floor(lowest * 10) / 10), 1.0)  # zoom in on the top of the scale
        chart = svg.line_chart(pg.chart_id("threshold sweep"), xs, series, markers=markers, y_range=y_range,
                               title="Precision, recall and F1 against the match-probability threshold",
                               desc="Pairwise quality of connected-component clusters at each threshold; "
                                    "dashed lines mark the chosen and recommended thresholds.",
                               x_label="match probability threshold", y_label="score")
        rows = [[_p(r.get("threshold")), _p(r.get("precision")), _p(r.get("recall")), _p(r.get("f1")),
                 pg.n(r.get("links")), pg.n(r.get("clusters"))] for r in sweep]
        table = _table("Threshold sweep", ["Threshold", "Precision", "Recall", "F1", "Links", "Clusters"], rows)
        parts.append(_figure(chart, "Precision-recall trade-off by threshold.", table))
        pr = sorted((float(r["recall"]), float(r["precision"])) for r in sweep
                    if _is_num(r.get("recall")) and _is_num(r.get("precision")))
        if len(pr) >= 2:
            at = {name: min(sweep, key=lambda r, x=x: abs(float(r["threshold"]) - float(x))) for x, name in markers}
            pr_markers = [(float(r["recall"]), f"{name} ({_p(r['threshold'], 2)})") for name, r in at.items()]
            lo = min(min(p for _, p in pr), min(r for r, _ in pr))
            pr_chart = svg.line_chart(
                pg.chart_id("precision recall curve"), [r for r, _ in pr], [("precision", [p for _, p in pr])],
                markers=pr_markers, y_range=(max(0.0, math.floor(lo * 10) / 10), 1.0),
                title="Precision-recall curve over thresholds",
                desc="Each point is one threshold of the sweep; dashed lines mark the recall at the chosen and "
                     "recommended thresholds.", x_label="recall", y_label="precision")
            parts.append(_figure(pr_chart, "Precision against recall: moving the threshold trades one for the other."))
    return "".join(parts)


def _sec_overlap(m: Mapping[str, Any], pg: _Page) -> str | None:
    ov = m.get("overlap")
    if not isinstance(ov, Mapping) or not ov.get("partners"):
        return None
    partners, matrix = [str(p) for p in ov["partners"]], ov.get("matrix") or []
    off = [pg.v(matrix[i][j]) for i in range(len(partners)) for j in range(len(partners)) if i != j]
    top = max([v for v in off if v is not None] or [1.0]) or 1.0
    shade, texts = [], []
    for i in range(len(partners)):
        srow, trow = [], []
        for j in range(len(partners)):
            v = pg.v(matrix[i][j])
            trow.append(pg.n(matrix[i][j]))
            srow.append(None if (v is None or i == j) else math.log1p(v) / math.log1p(top))
        shade.append(srow)
        texts.append(trow)
    labels = [pg.label(p) for p in partners]
    chart = svg.heatmap(pg.chart_id("partner overlap"), labels, partners, shade, texts,
                        title="Persons shared by each pair of partners",
                        desc="Number of persons (pace_ids) with records at both partners; the diagonal (grey) is "
                             "the number of persons each partner holds. Colour is on a log scale.")
    rows = [[escape(lab), *[pg.n(v) for v in matrix[i]]] for i, lab in enumerate(labels)]
    table = _table("Persons shared by partner pairs", ["Partner", *partners], rows)
    parts = [_figure(chart, "Partner overlap.", table, wide=True)]
    ppp = ov.get("partners_per_person") or {}
    if ppp:
        ks = sorted(ppp, key=lambda s: (float(s) if re.fullmatch(r"\d+", str(s)) else math.inf, str(s)))
        chart = svg.hbar_chart(pg.chart_id("partners per person"), [f"{k} partner(s)" for k in ks],
                               [("persons", [pg.v(ppp[k]) for k in ks])], log=True,
                               title="Persons by number of partners holding them",
                               desc="How many persons are known to one, two or more partners (log scale).",
                               x_label="persons (log scale)")
        rows = [[escape(str(k)), pg.n(ppp[k])] for k in ks]
        parts.append(_figure(chart, "Persons by number of partners.",
                             _table("Persons by number of partners", ["Partners", "Persons"], rows)))
    repeat = ov.get("repeat_client_rate") or {}
    if repeat:
        rows = [[escape(pg.label(src)), _pct(r) if _is_num(r) else DASH] for src, r in repeat.items()]
        parts.append(_table("Repeat-client rate per partner (share of a partner's records that repeat a person "
                            "it already holds)", ["Partner", "Repeat rate"], rows))
    return "".join(parts)


def _generic_value(v: Any, pg: _Page) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return escape(str(v)) if v is not None else DASH
    if isinstance(v, int):
        return pg.n(v)
    if isinstance(v, float):
        return _g(v)
    if isinstance(v, list) and all(not isinstance(x, Mapping | list) for x in v):
        return ", ".join(_generic_value(x, pg) for x in v)
    return escape(type(v).__name__)


def _generic(key: str, value: Any, pg: _Page) -> str:
    """Any metrics entry without a renderer: mappings as key/value rows, lists of mappings as tables."""
    if isinstance(value, list) and value and all(isinstance(x, Mapping) for x in value):
        cols: list[str] = []
        for x in value:
            cols += [c for c in x if c not in cols]
        rows = [[_generic_value(x.get(c), pg) for c in cols] for x in value]
        return _table(key, cols, rows)
    if isinstance(value, Mapping):
        flat: list[list[str]] = []

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, Mapping):
                for k2, v2 in v.items():
                    walk(f"{prefix}.{k2}" if prefix else str(k2), v2)
            else:
                flat.append([escape(prefix), _generic_value(v, pg)])

        walk("", value)
        return _table(key, ["Item", "Value"], flat)
    return _facts([(key, _generic_value(value, pg))])


def _waterfalls(items: Any, pg: _Page, name: str = "Pair") -> list[str]:
    """One waterfall chart + table per explained pair (``explain_pairs`` output); values arrive masked."""
    parts = []
    for i, ex in enumerate(items, start=1):
        rows = ex.get("rows") or []
        cats = [f"{r.get('comparison')}: {r.get('level')}" for r in rows]
        weights = [float(r["weight"]) if _is_num(r.get("weight")) else None for r in rows]
        src = " / ".join(str(s) for s in ex.get("sources") or [])
        title = f"{name} {i}: {ex.get('title', '')} ({src})"
        chart = svg.hbar_chart(pg.chart_id(f"waterfall {name} {i}"), cats, [("weight", weights)], title=title,
                               desc=f"match weight {_p(ex.get('match_weight'), 2)}, probability "
                                    f"{_p(ex.get('match_probability'), 4)}", x_label="contribution to match weight")
        table = _table(title, ["Comparison", "Left", "Right", "Level", "Weight"],
                       [[escape(str(r.get("comparison"))), escape(str(r.get("left", ""))), escape(str(r.get("right", ""))),
                         escape(str(r.get("level"))), _p(r.get("weight"), 2)] for r in rows], numeric_from=4)
        parts.append(_figure(chart, f"{title}: match weight {_p(ex.get('match_weight'), 2)}, "
                                    f"probability {_p(ex.get('match_probability'), 4)}.", table))
    return parts


_WATERFALL_INTRO = ("<p>Each bar is one comparison's contribution (log2 Bayes factor); with the prior they add up to "
                    "the pair's match weight. Values are masked.</p>")


def _sec_explanations(m: Mapping[str, Any], pg: _Page) -> str | None:
    items = m.get("explanations")
    if not isinstance(items, Sequence) or not items:
        return None
    return _WATERFALL_INTRO + "".join(_waterfalls(items, pg))


def _sec_holdings(m: Mapping[str, Any], pg: _Page) -> str | None:
    """What each partner holds: completeness per partner and data item (heatmap, table, item legend)."""
    hold = m.get("holdings")
    if not isinstance(hold, Mapping) or not hold:
        return None
    srcs = list(hold)
    desc = {str(d.get("item")): d for d in m.get("holdings_items") or [] if isinstance(d, Mapping)}
    items: list[str] = [i for i in desc if any(i in (hold[s] or {}) for s in srcs)]
    for s in srcs:
        items += [i for i in hold[s] or {} if i not in items]
    rows_by = m.get("holdings_rows") or {}
    shade, texts, rows = [], [], []
    for s in srcs:
        hidden = pg.suppressed(rows_by.get(s))  # a partner with a suppressed row count shows no rate
        srow, trow = [], []
        for i in items:
            v = (hold[s] or {}).get(i)
            if v is None or not _is_num(v):
                srow.append(None)
                trow.append(DASH)
            elif hidden:
                srow.append(None)
                trow.append(SUPPRESSED)
            else:
                srow.append(float(v))
                trow.append(_pct(float(v), 0))
        shade.append(srow)
        texts.append(trow)
        rows.append([escape(pg.label(s)), pg.n(rows_by.get(s)) if s in rows_by else DASH, *trow])
    chart = svg.heatmap(pg.chart_id("partner holdings"), [pg.label(s) for s in srcs], items, shade, texts,
                        title="What each partner holds",
                        desc="Share of each partner's accepted rows with a value for each data item; "
                             "darker is more complete, grey hatching means the partner does not record it.")
    table = _table("Completeness per partner and data item (– : not held)", ["Partner", "Rows", *items], rows)
    parts = [_figure(chart, "Completeness of the study's data items per partner (– : not held).", table, wide=True)]
    if desc:
        held_by = {i: sum(1 for s in srcs if _is_num((hold[s] or {}).get(i))) for i in items}
        legend = [[escape(str(i)), escape(str((desc.get(i) or {}).get("category", ""))),
                   escape(str((desc.get(i) or {}).get("description", ""))), f"{held_by.get(i, 0)} of {len(srcs)}"]
                  for i in items]
        parts.append(_table("Data items", ["Item", "Category", "Meaning", "Partners holding it"], legend,
                            numeric_from=3))
    warnings = m.get("holdings_warnings") or []
    if warnings:
        lis = "".join(f"<li>{escape(str(w))}</li>" for w in warnings)
        parts.append(f'<div class="warning"><p>Data-item columns missing from a file (reported as not held):</p>'
                     f"<ul>{lis}</ul></div>")
    parts.append(_note("Completeness is the share of a partner's accepted rows with a non-blank value in any of "
                       "the item's columns (values such as NULL or N/A count as blank); it says nothing of "
                       "whether the values are right."))
    return "".join(parts)


_GROUP_HEADINGS = {"partner": "By partner", "sex": "By sex", "age_band": "By age band",
                   "council_area": "By council area (approximate, from postcode district)",
                   "moved": "By whether the person moved (truth: records at different postcodes)"}


def _sec_linked_less(m: Mapping[str, Any], pg: _Page) -> str | None:
    """Who gets linked less: per group kind a bar chart of linkage rate (and recall) and a table."""
    ll = m.get("linked_less")
    if not isinstance(ll, Mapping) or not ll:
        return None
    parts = ["<p>The linkage rate is the share of a group's records linked to at least one other record. "
             "Estimated missed links are the model's expected true matches among candidate pairs below the "
             "threshold (summed match probabilities, credited to the groups of both records). With truth, "
             "recall is the share of the group's true matching pairs (at least one record in the group) "
             "that ended up in one cluster. A group linked less than others may be under-served by a "
             "centralised PACE id; a low linkage rate alone can also mean fewer repeat clients.</p>"]
    for kind, rows in ll.items():
        if not isinstance(rows, Sequence) or not rows:
            continue
        has_truth = any("recall" in r for r in rows)
        cats, rate_v, recall_v, trows = [], [], [], []
        for r in rows:
            g = str(r.get("group"))
            shown = pg.label(g) if kind == "partner" else g
            hidden = pg.suppressed(r.get("records"))
            rate = None if hidden else pg.rate(r.get("linked"), r.get("records"))
            rec = None if hidden or not has_truth else pg.rate(r.get("found_pairs"), r.get("true_pairs"))
            cats.append(shown)
            rate_v.append(None if rate is None else round(100 * (1 - rate), 4))
            recall_v.append(None if rec is None else round(100 * (1 - rec), 4))
            est = r.get("estimated_missed_links")
            cells = [escape(shown), pg.n(r.get("records")), SUPPRESSED if hidden else pg.n(r.get("linked")),
                     _pct(rate)]
            if has_truth:
                tp = r.get("true_pairs")
                cells += [SUPPRESSED if hidden else pg.n(tp),
                          DASH if not tp and not hidden else _pct(rec),
                          SUPPRESSED if hidden else pg.n(r.get("missed_links"))]
            cells.append(SUPPRESSED if hidden else (f"{est:,.1f}" if _is_num(est) else DASH))
            trows.append(cells)
        series = [("records not linked %", rate_v)] + ([("true pairs missed %", recall_v)] if has_truth else [])
        heading = _GROUP_HEADINGS.get(kind, _humanise(kind))
        what = "Records not linked" + (" and true pairs missed" if has_truth else "")
        chart = svg.hbar_chart(pg.chart_id(f"linked less {kind}"), cats, series,
                               title=f"{what}: {heading.lower()}",
                               desc="Per group, the percentage of records not linked to any other record"
                                    + (" and the percentage of true matching pairs missed (1 - recall)"
                                       if has_truth else "") + "; longer bars mean linked less. The table "
                                    "below gives the figures.", x_label="% (longer = linked less)")
        headers = ["Group", "Records", "Linked", "Linkage rate",
                   *(["True pairs", "Recall", "Missed links"] if has_truth else []), "Est. missed links"]
        parts.append(f"<h3>{escape(heading)}</h3>")
        parts.append(_figure(chart, f"{what} {heading.lower()} (longer bars: linked less).",
                             _table(heading, headers, trows), wide=True))
    return "".join(parts)


_CONFUSION = [("tp", "True positives (linked, same person)"), ("fp", "False positives (linked, different persons)"),
              ("fn", "False negatives (not linked, same person)"), ("tn", "True negatives (not linked, different)"),
              ("candidate_pairs", "Candidate pairs"), ("true_pairs", "True matching pairs"),
              ("missed_by_blocking", "True pairs never proposed by blocking")]


def _sec_confusion(m: Mapping[str, Any], pg: _Page) -> str | None:
    c = m.get("confusion")
    if not isinstance(c, Mapping) or not c:
        return None
    facts = [(name, pg.n(c[k])) for k, name in _CONFUSION if k in c]
    return _facts(facts) + _note(
        "Pair level among candidate pairs: a pair is linked when its match probability reaches the threshold "
        "(before clustering), true when both records belong to one person. True pairs that blocking never "
        "proposed can only be found through other records of the same person.")


def _sec_top_errors(m: Mapping[str, Any], pg: _Page) -> str | None:
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
        parts.extend(_waterfalls(items, pg, "Pair") if items else [_note(empty)])
    return (_WATERFALL_INTRO + "".join(parts)) if parts else None


def _sec_pseudonymisation(m: Mapping[str, Any], pg: _Page) -> str | None:
    ps = m.get("pseudonymisation")
    if not isinstance(ps, Mapping):
        return None
    hard = ps.get("hardening") or {}
    on = [name for name, key in (("balancing", "balance"), ("XOR-folding", "xor_fold")) if hard.get(key)]
    facts = [("Key id (the key itself is never stored)", escape(str(ps.get("key_id") or DASH))),
             ("Tokens", escape(str(ps.get("token", "")))),
             ("Bloom filters", escape(f"{ps.get('bloom_length')} bits, {ps.get('hash')}")),
             ("Hardening on", escape(", ".join(on) if on else "none")),
             ("Kept in plain text", escape(", ".join(ps.get("keep_plain") or []) or "nothing"))]
    rows = [[escape(f), escape(str(v.get("bits_per_feature"))), pg.n(v.get("filters")),
             escape(f"{100 * float(v.get('bits_set_share', 0)):.1f}%")]
            for f, v in (ps.get("bloom_fields") or {}).items()]
    table = _table("Bloom-encoded fields: bits set (target about 50%)",
                   ["Field", "Bits per feature", "Filters", "Bits set"], rows) if rows else ""
    attacks = "".join(f"<li>{escape(a)}</li>" for a in ps.get("known_attacks") or [])
    return (_facts(facts) + table + (f"<h3>Known attacks</h3><ul>{attacks}</ul>" if attacks else "")
            + _note("The centre linked on keyed tokens and Bloom filters only. What an attacker without the key "
                    "re-identifies, and what pseudonymisation costs in quality, is measured by "
                    "`pace-linkage scenarios` (pseudonymised scenario)."))


# --- aggregate-only sharing (pace_linkage.study.aggregates): tables arrive already suppressed ----------------------
def _agg_n(v: Any) -> str:
    """A published aggregate cell: ``*`` as is, a count with separators, a dash when missing."""
    if v == SUPPRESSED:
        return SUPPRESSED
    return f"{int(v):,}" if _is_num(v) and float(v).is_integer() else DASH


def _agg_v(v: Any) -> float | None:
    return float(v) if _is_num(v) else None


def _aggregates_body(agg: Any, pg: _Page, *, withheld: bool) -> str | None:
    """One table per dimension (partner rows, totals, ``*`` kept), charts of the month table, and (aggregate-only
    scenario) what the partnership can and cannot learn. Used for ``aggregates`` and ``aggregates_withheld``."""
    if not isinstance(agg, Mapping):
        return None
    labels = agg.get("labels") or {}

    def lab(p: str) -> str:
        name = labels.get(p)
        return f"{name} ({p})" if name and name != p else pg.label(p)

    k = agg.get("threshold")
    tables = [t for t in agg.get("tables") or [] if isinstance(t, Mapping)]
    hidden = (f"Cells from 1 to {int(k) - 1} are shown as {SUPPRESSED}, and further cells are hidden (secondary "
              "suppression) so that no hidden cell can be worked out from the row and column totals, nor from "
              "a partner total published in another table. These tables carry that suppression themselves; the "
              "report's own threshold is not applied on top." if _is_num(k) and k > 1
              else "No small-count threshold is set for these tables (aggregates.small_count_threshold).")
    parts = []
    if withheld:
        names = ", ".join(lab(str(s)) for s in agg.get("sources") or [])
        parts.append(f"<p>Rows without recorded consent from the partners whose agreement says "
                     f"<code>without_consent: aggregates</code> ({escape(names)}) were kept out of linkage and of "
                     "every record-level output. They were counted at ingest, and only these counts are kept; "
                     "the clients are in none of the linked figures of this report (persons, overlap, repeat "
                     "clients). Their number per partner is public as the withheld column of Rows per source, "
                     "so a partner's total here is known even where it is shown as *.</p>")
    else:
        parts.append("<p>Aggregate-only sharing: each partner counted its own clients and sent only the counts "
                     "below. No record left a partner, so nothing was linked: a client is one row of a partner's "
                     "records (a contact), and a person seen by three partners is counted three times.</p>")
    parts.append(_note(hidden))
    failed = agg.get("sources_failed") or []
    if failed:
        rows = [[escape(str(f.get("source", ""))), escape(str(f.get("file", ""))), escape(str(f.get("error", "")))]
                for f in failed if isinstance(f, Mapping)]
        parts.append('<div class="warning"><p>These partners sent no counts:</p>'
                     + _table("Partners whose counts failed", ["Partner", "File", "Error"], rows, numeric_from=99)
                     + "</div>")
    if not tables:
        parts.append(_note("No client was counted." if not withheld else "No row was withheld for want of consent."))
        return "".join(parts)
    month = next((t for t in tables if t.get("kind") == "month"), tables[0])
    partners = [str(p) for p in month.get("partners") or []]
    if partners:
        chart = svg.hbar_chart(pg.chart_id(f"aggregates partners {withheld}"), [lab(p) for p in partners],
                               [("clients", [_agg_v(v) for v in month.get("row_totals") or []])],
                               title=f"Clients per partner ({str(month.get('label', '')).lower()})",
                               desc="One bar per partner: its clients (contacts) in the table below; a hidden "
                                    "total (*) has no bar.", x_label="clients (contacts)")
        parts.append(_figure(chart, "Clients per partner (hidden totals drawn as no bar)."))
    if month.get("kind") == "month" and month.get("categories"):
        chart = svg.hbar_chart(pg.chart_id(f"aggregates months {withheld}"), [str(c) for c in month["categories"]],
                               [("clients", [_agg_v(v) for v in month.get("column_totals") or []])],
                               title="Clients per month, all partners",
                               desc="One bar per month of first service or contact: clients counted by all "
                                    "partners together; a hidden total (*) has no bar.", x_label="clients (contacts)")
        parts.append(_figure(chart, "Clients per month, all partners (hidden totals drawn as no bar)."))
    for t in tables:
        cats = [str(c) for c in t.get("categories") or []]
        rows = [[escape(lab(str(p))), *[_agg_n(v) for v in cells], _agg_n(tot)]
                for p, cells, tot in zip(t.get("partners") or [], t.get("cells") or [], t.get("row_totals") or [],
                                         strict=False)]
        total = ["Total", *[_agg_n(v) for v in t.get("column_totals") or []], _agg_n(t.get("total"))]
        parts.append(f"<h3>{escape(str(t.get('label') or t.get('dimension')))}</h3>")
        parts.append(_table(str(t.get("label") or t.get("dimension")), ["Partner", *cats, "Total"], rows, total=total))
        notes = [str(t["note"])] if t.get("note") else []
        if t.get("not_held"):
            notes.append("Not held by: " + ", ".join(lab(str(p)) for p in t["not_held"]) + ".")
        parts += [_note(n) for n in notes]
    if not withheld:
        for key, heading in (("what_can_be_learned", "What the partnership can learn from counts alone"),
                             ("what_cannot_be_learned", "What it cannot learn without linkage")):
            items = agg.get(key) or []
            if items:
                lis = "".join(f"<li>{escape(str(x))}</li>" for x in items)
                parts.append(f"<h3>{escape(heading)}</h3><ul>{lis}</ul>")
    return "".join(parts)


def _sec_aggregates(m: Mapping[str, Any], pg: _Page) -> str | None:
    return _aggregates_body(m.get("aggregates"), pg, withheld=False)


def _sec_aggregates_withheld(m: Mapping[str, Any], pg: _Page) -> str | None:
    return _aggregates_body(m.get("aggregates_withheld"), pg, withheld=True)


_CHANGE_FACTS = [("records_before", "Records before this delivery"), ("records_after", "Records after"),
                 ("persons_before", "Persons before"), ("persons_after", "Persons after"),
                 ("new", "New records"), ("updated", "Updated records (replaced their previous version)"),
                 ("unchanged", "Re-sent unchanged (ignored)"), ("deleted", "Deleted or consent withdrawn"),
                 ("joined_existing", "New records joining an existing person"), ("new_persons", "New persons"),
                 ("merges", "Merges (two existing persons joined; the retired id resolves to the survivor)"),
                 ("splits", "Splits (a person divided by a correction)"), ("persons_emptied", "Persons left empty"),
                 ("candidate_pairs", "Candidate pairs (new x new and new x existing only)"),
                 ("clerical_active", "Clerical decisions honoured"),
                 ("clerical_conflicts", "Clerical decisions that contradict each other")]
_CHANGE_COLUMNS = [("new", "New"), ("updated", "Updated"), ("unchanged", "Unchanged"), ("deleted", "Deleted"),
                   ("joined_existing", "Joined an existing person"), ("new_persons", "New persons")]


def _sec_incremental(m: Mapping[str, Any], pg: _Page) -> str | None:
    inc = m.get("incremental")
    if not isinstance(inc, Mapping):
        return None
    tot = inc.get("totals") or {}
    facts = [(name, pg.n(tot[k])) for k, name in _CHANGE_FACTS if k in tot]
    by = inc.get("by_source") or {}
    parts = [_facts(facts)]
    if by:
        srcs = sorted(by)
        rows = [[escape(s)] + [pg.n(by[s].get(k, 0)) for k, _ in _CHANGE_COLUMNS] for s in srcs]
        table = _table("What changed, per partner", ["Partner"] + [h for _, h in _CHANGE_COLUMNS], rows)
        series = [(h, [0 if pg.suppressed(by[s].get(k, 0)) else by[s].get(k, 0) for s in srcs])
                  for k, h in _CHANGE_COLUMNS if k in ("new", "updated", "deleted")]
        chart = svg.hbar_chart(pg.chart_id("changes by partner"), srcs, series, stacked=True,
                               title="Records new, updated and deleted in this delivery",
                               desc="Per partner: records new, updated and deleted in this delivery.")
        parts.append(_figure(chart, "Records per partner in this delivery.", table, wide=True))
    parts.append(_note(
        "An existing pace_id never changes meaning: a new record joins a person or founds one; when new evidence "
        "joins two persons the id created first survives and the other resolves to it; every change is in "
        "id_history.csv and the store's id_history table (keys, ids and reasons, never field values). Quality "
        "figures in this report cover every live record after this delivery."))
    return "".join(parts)


Renderer = Callable[[Mapping[str, Any], _Page], "str | None"]

# (anchor, heading, metrics keys it consumes, renderer), in page order. Add entries for new sections.
SECTIONS: list[tuple[str, str, tuple[str, ...], Renderer]] = [
    ("summary", "Key figures", (), _sec_summary),
    ("incremental", "What changed in this delivery", ("incremental",), _sec_incremental),
    ("run", "Run", ("run",), _sec_run),
    ("report-notes", "Notes on this linkage", ("report_notes",), _sec_notes),
    ("people-employers", "People and their employers", ("people_employers",), _sec_people_employers),
    ("sources-failed", "Sources that failed", ("sources_failed",), _sec_failed),
    ("counts", "Rows per source", ("counts",), _sec_counts),
    ("coverage", "Identifier coverage and validity", ("coverage",), _sec_coverage),
    ("holdings", "What each partner holds", ("holdings", "holdings_items", "holdings_rows", "holdings_warnings"),
     _sec_holdings),
    ("aggregates-withheld", "Clients without consent (aggregates only)", ("aggregates_withheld",),
     _sec_aggregates_withheld),
    ("pseudonymisation", "Pseudonymisation: encoding and hardening", ("pseudonymisation",), _sec_pseudonymisation),
    ("blocking", "Blocking", ("blocking",), _sec_blocking),
    ("model", "Model: match weights", ("model",), _sec_model),
    ("weights", "Match-weight distribution", ("weights_histogram",), _sec_weights),
    ("clusters", "Clusters", ("clusters",), _sec_clusters),
    ("explanations", "Why pairs link: explanations near the threshold", ("explanations",), _sec_explanations),
    ("quality", "Quality against truth", ("pairwise", "bcubed"), _sec_quality),
    ("confusion", "Confusion counts (candidate pairs, against truth)", ("confusion",), _sec_confusion),
    ("top-errors", "Top false positives and false negatives", ("top_errors",), _sec_top_errors),
    ("estimated", "Estimated quality (no truth)", ("estimated",), _sec_estimated),
    ("threshold", "Threshold", ("threshold_sweep", "recommended_threshold"), _sec_threshold),
    ("overlap", "Partner overlap", ("overlap",), _sec_overlap),
    ("linked-less", "Who gets linked less", ("linked_less",), _sec_linked_less),
    ("aggregates", "Aggregate-only sharing: what counts alone show", ("aggregates",), _sec_aggregates),
]


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    return resources.files("pace_linkage.report").joinpath(name).read_text(encoding="utf-8")


def render_report(metrics: Mapping[str, Any], *, title: str, small_count_threshold: int = 0) -> str:
    """One self-contained, deterministic HTML page of the run's aggregate metrics.

    Renders each known section present in ``metrics`` (see :data:`SECTIONS`) and every unknown key as
    a generic table; absent sections are skipped. ``small_count_threshold`` = k > 0 shows counts
    1..k-1 as ``*``. The page holds no record-level value: it only ever receives aggregates.
    """
    pg = _Page(metrics, small_count_threshold)
    body, toc = [], []
    known: set[str] = set()
    for anchor, heading, keys, fn in SECTIONS:
        known.update(keys)
        html = fn(metrics, pg)
        if html:
            body.append(f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">'
                        f"{escape(heading)}</h2>{html}</section>\n")
            toc.append(f'<li><a href="#{anchor}">{escape(heading)}</a></li>\n')
    for i, (key, value) in enumerate(metrics.items()):
        if key in known or value is None:
            continue
        anchor = f"extra-{i}-{re.sub(r'[^a-z0-9]+', '-', str(key).lower()).strip('-')}"
        heading = str(key).replace("_", " ").capitalize()
        body.append(f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{escape(heading)}'
                    f"</h2>{_generic(str(key), value, pg)}</section>\n")
        toc.append(f'<li><a href="#{anchor}">{escape(heading)}</a></li>\n')

    run = metrics.get("run") or {}
    sub = []
    if run.get("entity"):
        sub.append(f"Entity: {run['entity']}")
    if "threshold" in run:
        sub.append(f"threshold {run['threshold']}")
    if pg.k > 0:
        sub.append(f"counts from 1 to {pg.k - 1} are shown as {SUPPRESSED}")
    subtitle = f'<p class="subtitle">{escape("; ".join(sub))}.</p>' if sub else ""
    footer = "Generated by pace-linkage" + (f" {run['version']}" if run.get("version") else "")
    footer += ". Aggregate figures only: this report holds no record-level values."
    return Template(_asset("template.html")).substitute(
        title=escape(title), style=_asset("style.css"), subtitle=subtitle,
        toc=entity_wording("".join(toc), run.get("entity"), run.get("id_column")),
        body=entity_wording("".join(body), run.get("entity"), run.get("id_column")), footer=escape(footer),
    )


_TEXT_NODE = re.compile(r">([^<]+)<")
_PERSON_WORDS = re.compile(r"\b(persons|Persons|person|Person|people|People|pace_ids|pace_id)\b")


def entity_wording(html: str, entity: str | None, id_column: str | None = None) -> str:
    """The page's wording for the linked entity: for ``entity`` other than person, the words person(s) /
    people and ``pace_id`` in the text between tags (never in markup) become the entity's (``employer`` ->
    employer(s), ``pace_employer_id``). Section renderers are written for people; this keeps them shared."""
    if not entity or entity == "person":
        return html
    one, many = entity, entity + "s"
    words = {"person": one, "Person": one.capitalize(), "persons": many, "Persons": many.capitalize(),
             "people": many, "People": many.capitalize(), "pace_id": id_column or f"pace_{entity}_id",
             "pace_ids": f"{id_column or f'pace_{entity}_id'}s"}
    return _TEXT_NODE.sub(lambda m: ">" + _PERSON_WORDS.sub(lambda w: words[w.group(1)], m.group(1)) + "<", html)


def render_markdown_summary(metrics: Mapping[str, Any], *, small_count_threshold: int = 0) -> str:
    """A short markdown digest of the key figures (for a Prefect artifact); counts suppressed as in the report."""
    pg = _Page(metrics, small_count_threshold)
    run, counts = metrics.get("run") or {}, metrics.get("counts") or {}
    lines = ["## PACE linkage summary", ""]
    if run:
        bits = [f"{k} `{run[k]}`" for k in ("version", "seed", "threshold") if k in run]
        if run.get("config_hash"):
            bits.append(f"config `{str(run['config_hash'])[:12]}`")
        lines.append("Run: " + ", ".join(bits))
        lines.append("")
    rows: list[tuple[str, str]] = []
    for key, name in [("rows_in", "Rows in"), ("rows_accepted", "Rows accepted"),
                      ("rows_quarantined", "Rows quarantined"), ("rows_withheld", "Rows withheld")]:
        if key in counts:
            rows.append((name, pg.n(counts[key])))
    failed = metrics.get("sources_failed")
    if failed is not None:
        rows.append(("Sources failed", pg.n(len(failed))))
    b = metrics.get("blocking") or {}
    if "pairs" in b:
        rows.append(("Candidate pairs", pg.n(b["pairs"])))
    if "reduction_ratio" in b:
        rows.append(("Reduction ratio", _p(b["reduction_ratio"], 6)))
    c = _main_clustering(metrics)
    for key, name in [("clusters", "Clusters (persons)"), ("singletons", "Singletons"),
                      ("largest", "Largest cluster"), ("largest_cluster", "Largest cluster"),
                      ("conflicts", "Conflicts")]:
        if key in c:
            rows.append((name, pg.n(c[key])))
    pw, bc, est = metrics.get("pairwise") or {}, metrics.get("bcubed") or {}, metrics.get("estimated") or {}
    if pw:
        rows.append(("Pairwise P / R / F1", " / ".join(_p(pw.get(k)) for k in ("precision", "recall", "f1"))))
    if bc:
        rows.append(("B-cubed P / R / F1", " / ".join(_p(bc.get(k)) for k in ("precision", "recall", "f1"))))
    if est:
        rows.append(("Estimated P / R", " / ".join(_p(est.get(k)) for k in ("precision", "recall"))))
    rec = metrics.get("recommended_threshold") or {}
    if _is_num(rec.get("best_f1")):
        rows.append(("Best-F1 threshold", _p(rec["best_f1"])))
    if _is_num(rec.get("min_precision")):
        rows.append(("Precision-floor threshold", _p(rec["min_precision"])))
    if rows:
        lines += ["| Figure | Value |", "|---|---:|", *[f"| {k} | {v} |" for k, v in rows]]
    if failed:
        lines += ["", "**Sources that failed:** " + ", ".join(f"`{f.get('source', '?')}`" for f in failed)]
    if pg.k > 0:
        lines += ["", f"Counts from 1 to {pg.k - 1} are shown as `*`."]
    return "\n".join(lines) + "\n"
