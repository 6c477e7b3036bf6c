"""Render the run's metrics (aggregates only) as one self-contained HTML page and a markdown summary.

The HTML has no external reference at all: CSS is inlined from ``style.css``, charts are Vega-Lite specs
(:mod:`pace_linkage.report.charts`) drawn by the vendored Vega inlined in the page, and a
Content-Security-Policy meta tag forbids loading anything and runs only those scripts (by their sha256). Every
chart's figures are also in a table, for readers without JavaScript. Output is deterministic: the same metrics dict gives byte-identical HTML
(no timestamps; mappings are shown in the order given, or sorted where the order is numeric).

A page is a list of :class:`~pace_linkage.report.section.Section` s, rendered in their ``order``: the core
sections (:data:`CORE_SECTIONS`, one module per family: :mod:`.summary`, :mod:`.sources`, :mod:`.linkage`,
:mod:`.quality`, :mod:`.advisor`, :mod:`.partners`) and whatever sections the study features add. A section whose metrics
are absent is skipped, and a metrics key no section names is shown as a generic table, so later features
can add metrics without a renderer.

Small-count suppression: with ``small_count_threshold`` = k > 0 every displayed count in 1..k-1 is
shown as ``*`` (tables, cards, tooltips) and drawn as no mark in charts; a rate whose numerator or
denominator is suppressed is suppressed too (:class:`~pace_linkage.report.page.Page`). In these tables
suppression is primary only: a suppressed cell may still be derivable from a total and the other cells.
Tables that arrive with primary and secondary suppression already applied (the study's aggregate tables) are
shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from string import Template
from typing import Any

from pace_linkage.redact import SUPPRESSED
from pace_linkage.report import advisor, charts, linkage, partners, quality, sources, summary, training
from pace_linkage.report.page import DASH, Page, asset, facts, fixed, is_num, short, table
from pace_linkage.report.section import Section

PRF = ("precision", "recall", "f1")
CORE_SECTIONS: tuple[Section, ...] = tuple(sorted(
    (*summary.SECTIONS, *sources.SECTIONS, *linkage.SECTIONS, *training.SECTIONS, *quality.SECTIONS,
     *advisor.SECTIONS, *partners.SECTIONS),
    key=lambda s: s.order))


# --------------------------------------------------------------------------------------------------
# Metrics no section knows
# --------------------------------------------------------------------------------------------------
def _generic_value(v: Any, pg: Page) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return escape(str(v)) if v is not None else DASH
    if isinstance(v, int):
        return pg.n(v)
    if isinstance(v, float):
        return short(v)
    if isinstance(v, list) and all(not isinstance(x, Mapping | list) for x in v):
        return ", ".join(_generic_value(x, pg) for x in v)
    return escape(type(v).__name__)


def generic(key: str, value: Any, pg: Page) -> str:
    """Any metrics entry without a section: mappings as key/value rows, lists of mappings as tables."""
    if isinstance(value, list) and value and all(isinstance(x, Mapping) for x in value):
        cols: list[str] = []
        for x in value:
            cols += [c for c in x if c not in cols]
        rows = [[_generic_value(x.get(c), pg) for c in cols] for x in value]
        return table(key, cols, rows)
    if isinstance(value, Mapping):
        flat: list[list[str]] = []

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, Mapping):
                for k2, v2 in v.items():
                    walk(f"{prefix}.{k2}" if prefix else str(k2), v2)
            else:
                flat.append([escape(prefix), _generic_value(v, pg)])

        walk("", value)
        return table(key, ["Item", "Value"], flat)
    return facts([(key, _generic_value(value, pg))])


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------
def _section(anchor: str, heading: str, html: str) -> tuple[str, str]:
    """(the section's HTML, its table-of-contents entry)."""
    return (f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{escape(heading)}</h2>'
            f"{html}</section>\n", f'<li><a href="#{anchor}">{escape(heading)}</a></li>\n')


def render_page(doc: Mapping[str, Any], sections: Sequence[Section], *, title: str,
                subtitle: Sequence[str] = (), footer: str, small_count_threshold: int = 0,
                generic_tables: bool = True) -> str:
    """One self-contained, deterministic HTML page of ``doc``: each of ``sections`` (in their order) that has
    something to show, then (with ``generic_tables``) every key of ``doc`` no section names, as a generic
    table. The subtitle lists ``subtitle`` and the small-count rule; ``footer`` closes the page. A run that is not
    complete (partners missing, or delivering nothing) says so first, before the title
    (:func:`pace_linkage.report.summary.first_line`)."""
    pg = Page(doc, small_count_threshold)
    body, toc = [], []
    known: set[str] = set()
    for sec in sorted(sections, key=lambda s: s.order):
        known.update(sec.keys)
        html = sec.render(doc, pg)
        if html:
            part, entry = _section(sec.anchor, sec.heading, html)
            body.append(part)
            toc.append(entry)
    for i, (key, value) in enumerate(doc.items() if generic_tables else ()):
        if key in known or value is None:
            continue
        anchor = f"extra-{i}-{re.sub(r'[^a-z0-9]+', '-', str(key).lower()).strip('-')}"
        part, entry = _section(anchor, str(key).replace("_", " ").capitalize(), generic(str(key), value, pg))
        body.append(part)
        toc.append(entry)
    sub = [*subtitle, *([f"counts from 1 to {pg.k - 1} are shown as {SUPPRESSED}"] if pg.k > 0 else [])]
    return Template(asset("template.html")).substitute(
        alert=summary.first_line(doc, pg) or "", title=escape(title), style=asset("style.css"),
        subtitle=f'<p class="subtitle">{escape("; ".join(sub))}.</p>' if sub else "", toc="".join(toc),
        body="".join(body), footer=escape(footer), csp=charts.content_security_policy(), scripts=charts.scripts(),
    )


def render_report(metrics: Mapping[str, Any], *, title: str, small_count_threshold: int = 0,
                  sections: Sequence[Section] = CORE_SECTIONS) -> str:
    """One self-contained, deterministic HTML page of a run's aggregate metrics.

    Renders each of ``sections`` (in their order) whose metrics are present, then every metrics key no
    section names as a generic table. ``small_count_threshold`` = k > 0 shows counts 1..k-1 as ``*``. The page
    holds no record-level value: it only ever receives aggregates.
    """
    run = metrics.get("run") or {}
    sub = []
    if run.get("entity"):
        sub.append(f"Entity: {run['entity']}")
    if "threshold" in run:
        sub.append(f"threshold {run['threshold']}")
    footer = "Generated by pace-linkage" + (f" {run['version']}" if run.get("version") else "")
    footer += ". Aggregate figures only: this report holds no record-level values."
    return render_page(metrics, sections, title=title, subtitle=sub, footer=footer,
                       small_count_threshold=small_count_threshold)


def render_markdown_summary(metrics: Mapping[str, Any], *, small_count_threshold: int = 0) -> str:
    """A short markdown digest of the key figures (for a Prefect artifact); counts suppressed as in the
    report."""
    pg = Page(metrics, small_count_threshold)
    run, counts = metrics.get("run") or {}, metrics.get("counts") or {}
    lines = ["## PACE linkage summary", ""]
    if run:
        bits = [f"{k} `{run[k]}`" for k in ("version", "seed", "threshold") if k in run]
        if run.get("config_hash"):
            bits.append(f"config `{str(run['config_hash'])[:12]}`")
        lines.append("Run: " + ", ".join(bits))
        lines.append("")
    rows = [(name, pg.n(counts[key])) for key, name in summary.ROW_COUNTS if key in counts]
    failed = metrics.get("sources_failed")
    if failed is not None:
        rows.append(("Sources failed", pg.n(len(failed))))
    b = metrics.get("blocking") or {}
    if "pairs" in b:
        rows.append(("Candidate pairs", pg.n(b["pairs"])))
    if "reduction_ratio" in b:
        rows.append(("Reduction ratio", fixed(b["reduction_ratio"], 6)))
    c = summary.main_clustering(metrics)
    for key, name in [("clusters", "Clusters (persons)"), ("singletons", "Singletons"),
                      ("largest", "Largest cluster"), ("largest_cluster", "Largest cluster"),
                      ("conflicts", "Conflicts")]:
        if key in c:
            rows.append((name, pg.n(c[key])))
    pw, bc, est = metrics.get("pairwise") or {}, metrics.get("bcubed") or {}, metrics.get("estimated") or {}
    if pw:
        rows.append(("Pairwise P / R / F1", " / ".join(fixed(pw.get(k)) for k in PRF)))
    if bc:
        rows.append(("B-cubed P / R / F1", " / ".join(fixed(bc.get(k)) for k in PRF)))
    if est:
        rows.append(("Estimated P / R", " / ".join(fixed(est.get(k)) for k in ("precision", "recall"))))
    rec = metrics.get("recommended_threshold") or {}
    if is_num(rec.get("best_f1")):
        rows.append(("Best-F1 threshold", fixed(rec["best_f1"])))
    if is_num(rec.get("min_precision")):
        rows.append(("Precision-floor threshold", fixed(rec["min_precision"])))
    if rows:
        lines += ["| Figure | Value |", "|---|---:|", *[f"| {k} | {v} |" for k, v in rows]]
    if failed:
        lines += ["", "**Sources that failed:** " + ", ".join(f"`{f.get('source', '?')}`" for f in failed)]
    if pg.k > 0:
        lines += ["", f"Counts from 1 to {pg.k - 1} are shown as `*`."]
    return "\n".join(lines) + "\n"


__all__ = ["CORE_SECTIONS", "generic", "render_markdown_summary", "render_page", "render_report"]
