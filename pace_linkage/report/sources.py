"""The report's sections on what came in: sources that failed, rows per source and outcome, and the coverage
and validity of each partner's identifiers."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report import charts
from pace_linkage.report.page import DASH, Page, bullets, facts, figure, note, percent, table
from pace_linkage.report.section import Section


def failed_sources(m: Mapping[str, Any], pg: Page) -> str | None:
    """The sources that could not be used (source, file, a value-free error), or a note that all were read."""
    failed = m.get("sources_failed")
    if failed is None:
        return None
    if not failed:
        return note("Every configured source was read.")
    rows = [[escape(str(f.get("source", ""))), escape(str(f.get("file", ""))),
             pg.n(f["rows"]) if f.get("rows") is not None else "unknown", escape(str(f.get("error", "")))]
            for f in failed]
    return ('<div class="warning"><p>These sources could not be used; the run went on without them, as it was '
            'asked to (a partial run: <code>--allow-partial</code>, or <code>required: false</code> on the '
            'source).</p>'
            + table("Sources that failed", ["Source", "File", "Rows", "Error"], rows, numeric_from=99) + "</div>")


def rows_per_source(m: Mapping[str, Any], pg: Page) -> str | None:
    """Rows accepted, quarantined and withheld per source (stacked bars and a table with totals), the readers'
    notes (a source that delivered no rows is named), and the quarantine and withholding reasons."""
    counts = m.get("counts")
    if not isinstance(counts, Mapping):
        return None
    by = counts.get("by_source") or {}
    parts = []
    kinds = [("rows_accepted", "Accepted"), ("rows_quarantined", "Quarantined"), ("rows_withheld", "Withheld")]
    kinds = [(k, n) for k, n in kinds if any(k in (v or {}) for v in by.values()) or k in counts]
    if not by:
        return facts([(n, pg.n(counts.get(k))) for k, n in [("rows_in", "Rows in"), *kinds] if k in counts])
    srcs = list(by)
    cats = [pg.label(s) + (" – failed" if (by[s] or {}).get("failed") else "") for s in srcs]
    series = [(name, [pg.v((by[s] or {}).get(key)) for s in srcs]) for key, name in kinds]
    chart = charts.hbar_chart(pg.chart_id("rows by source"), cats, series, stacked=True,
                           title="Rows accepted, quarantined and withheld per source",
                           desc="Stacked horizontal bars, one per source; the table beside gives the figures.",
                           x_label="rows")
    rows = [[escape(c), pg.n((by[s] or {}).get("rows_in")), *[pg.n((by[s] or {}).get(k)) for k, _ in kinds]]
            for s, c in zip(srcs, cats, strict=True)]
    total = ["Total", pg.n(counts.get("rows_in")), *[pg.n(counts.get(k)) for k, _ in kinds]]
    per_source = table("Rows per source", ["Source", "Rows in", *[n for _, n in kinds]], rows, total=total)
    parts.append(figure(chart, "Rows per source by outcome.", per_source))
    remarks = [f"{pg.label(s)}: {n}" for s in srcs for n in ((by[s] or {}).get("notes") or [])]
    if remarks:
        parts.append('<div class="warning"><p>Notes on what the sources delivered:</p>' + bullets(remarks)
                     + "</div>")
    reasons = [[escape(pg.label(s)), escape(str(code)), pg.n(n)]
               for s in srcs for code, n in ((by[s] or {}).get("reasons") or {}).items()]
    if reasons:
        parts.append("<h3>Quarantine and withholding reasons</h3>")
        parts.append(table("Rows by reason code", ["Source", "Reason", "Rows"], reasons, numeric_from=2))
    return "".join(parts)


def coverage(m: Mapping[str, Any], pg: Page) -> str | None:
    """Per partner and field: rows, values present and valid values (heatmap of the valid share, and a table)."""
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
            trow.append(DASH if not c.get("rows") else percent(r, 0))
            rows.append([escape(pg.label(s)), escape(str(f)), pg.n(c.get("rows")), pg.n(c.get("present")),
                         pg.n(c.get("valid")), DASH if not c.get("rows") else percent(r)])
        shade.append(srow)
        texts.append(trow)
    chart = charts.heatmap_chart(pg.chart_id("identifier validity"), [pg.label(s) for s in srcs], fields, shade, texts,
                        title="Identifier validity per partner",
                        desc="Share of each partner's rows holding a valid value of each field; darker is higher.")
    validity = table("Identifier coverage and validity", ["Source", "Field", "Rows", "Present", "Valid", "Valid %"],
                     rows, numeric_from=2)
    return figure(chart, "Valid values as a share of rows (– : field not supplied).", validity)


def _warning_line(w: Mapping[str, Any], pg: Page) -> str:
    """One warning of ``normalise_warnings`` from its counts (so small-count suppression applies)."""
    where = f"{pg.label(str(w.get('source')))}, column '{w.get('column')}' (field {w.get('field')})"
    present = w.get("present")
    if w.get("kind") == "day_month_order":
        order = str(w.get("order"))
        other = "month before day" if order == "day before month" else "day before month"
        fmt = f"format {w['format']}" if w.get("format") else "no format: read day before month"
        return (f"{where}: written {other}? Configured {order} ({fmt}); of {pg.n(present)} present values "
                f"{pg.n(w.get('fit_other'))} can only be {other}, {pg.n(w.get('fit_order'))} only {order}, "
                f"{pg.n(w.get('fit_both'))} either way (read {order}).")
    said = ", ".join(f"{code} {pg.n(n)} ({percent(pg.rate(n, present))})"
                     for code, n in (w.get("reasons") or {}).items())
    return f"{where}: {pg.n(w.get('nulled'))} of {pg.n(present)} present values nulled; {said}."


def nulled_values(m: Mapping[str, Any], pg: Page) -> str | None:
    """The values the normalisers nulled, by source, field and reason (counts and the share of the present
    values), under the run's warnings: a reason over the warning share, a date column read in the other
    day/month order than written. Absent when nothing was nulled and nothing warned."""
    cov = m.get("coverage")
    warnings = m.get("normalise_warnings") or []
    if not isinstance(cov, Mapping):
        return None
    rows = []
    for s, fields in cov.items():
        for f, c in (fields or {}).items():
            present = (c or {}).get("present")
            for code, n in sorted(((c or {}).get("nulled") or {}).items()):
                rows.append([escape(pg.label(s)), escape(str(f)), escape(str(code)), pg.n(n),
                             percent(pg.rate(n, present)) if present else DASH])
    if not rows and not warnings:
        return None
    parts = []
    if warnings:
        parts.append('<div class="warning"><p>The normalisers nulled or may have misread many values of these '
                     'columns (counts and settings only; check each column\'s format and limits):</p>'
                     + bullets(_warning_line(w, pg) for w in warnings) + "</div>")
    if rows:
        parts.append(table("Values nulled by reason", ["Source", "Field", "Reason", "Values", "Share of present"],
                           rows, numeric_from=3))
        parts.append(note("A value present in the extract but not usable is nulled with one reason: it takes no "
                          "part in blocking or comparison. Dates: a value that does not match the configured "
                          "format is never re-read with another; earliest, min_age, max_age and allow_future are "
                          "settings of the field."))
    return "".join(parts)


SECTIONS = (
    Section(60, "sources-failed", "Sources that failed", ("sources_failed",), failed_sources),
    Section(70, "counts", "Rows per source", ("counts",), rows_per_source),
    Section(80, "coverage", "Identifier coverage and validity", ("coverage",), coverage),
    Section(85, "nulled", "Values nulled by the normalisers", ("normalise_warnings",), nulled_values),
)

__all__ = ["SECTIONS", "coverage", "failed_sources", "nulled_values", "rows_per_source"]
