"""The report's sections across partners: how many persons partners share, and which groups of records
(by partner, sex, age band, council area, moving house) are linked less."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pace_linkage.redact import SUPPRESSED
from pace_linkage.report import charts
from pace_linkage.report.page import DASH, EntityWords, Page, figure, humanise, is_num, percent, table
from pace_linkage.report.section import Section


def _partners_per_person(ppp: Mapping[str, Any], pg: Page) -> str:
    w = pg.words
    ks = sorted(ppp, key=lambda s: (float(s) if re.fullmatch(r"\d+", str(s)) else math.inf, str(s)))
    chart = charts.hbar_chart(pg.chart_id("partners per person"), [f"{k} partner(s)" for k in ks],
                           [(w.persons, [pg.v(ppp[k]) for k in ks])], log=True,
                           title=f"{w.Persons} by number of partners holding them",
                           desc=f"How many {w.persons} are known to one, two or more partners (log scale).",
                           x_label=f"{w.persons} (log scale)")
    rows = [[escape(str(k)), pg.n(ppp[k])] for k in ks]
    return figure(chart, f"{w.Persons} by number of partners.",
                  table(f"{w.Persons} by number of partners", ["Partners", w.Persons], rows))


def overlap(m: Mapping[str, Any], pg: Page) -> str | None:
    """Persons shared by each pair of partners (heatmap on a log scale, and a table), persons by number of
    partners, and each partner's repeat-client rate."""
    ov = m.get("overlap")
    if not isinstance(ov, Mapping) or not ov.get("partners"):
        return None
    w = pg.words
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
    chart = charts.heatmap_chart(pg.chart_id("partner overlap"), labels, partners, shade, texts,
                        title=f"{w.Persons} shared by each pair of partners",
                        desc=f"Number of {w.persons} ({w.ids}) with records at both partners; the diagonal (grey) is "
                             f"the number of {w.persons} each partner holds. Colour is on a log scale.")
    rows = [[escape(lab), *[pg.n(v) for v in matrix[i]]] for i, lab in enumerate(labels)]
    shared = table(f"{w.Persons} shared by partner pairs", ["Partner", *partners], rows)
    parts = [figure(chart, "Partner overlap.", shared, wide=True)]
    ppp = ov.get("partners_per_person") or {}
    if ppp:
        parts.append(_partners_per_person(ppp, pg))
    repeat = ov.get("repeat_client_rate") or {}
    if repeat:
        rows = [[escape(pg.label(src)), percent(r) if is_num(r) else DASH] for src, r in repeat.items()]
        parts.append(table("Repeat-client rate per partner (share of a partner's records that repeat a "
                           f"{w.person} it already holds)", ["Partner", "Repeat rate"], rows))
    return "".join(parts)


def group_headings(w: EntityWords) -> dict[str, str]:
    """Headings of the group kinds of :mod:`pace_linkage.evaluate.groups`."""
    return {"partner": "By partner", "sex": "By sex", "age_band": "By age band",
            "council_area": "By council area (approximate, from postcode district)",
            "moved": f"By whether the {w.person} moved (truth: records at different postcodes)"}


LINKED_LESS_INTRO = (
    "<p>The linkage rate is the share of a group's records linked to at least one other record. "
    "Estimated missed links are the model's expected true matches among candidate pairs below the "
    "threshold (summed match probabilities, credited to the groups of both records). With truth, "
    "recall is the share of the group's true matching pairs (at least one record in the group) "
    "that ended up in one cluster. A group linked less than others may be under-served by a "
    "centralised PACE id; a low linkage rate alone can also mean fewer repeat clients.</p>")


def _group_rows(kind: str, rows: Sequence[Mapping[str, Any]], has_truth: bool, pg: Page):
    """(categories, % not linked, % of true pairs missed, table rows) of one group kind."""
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
                 percent(rate)]
        if has_truth:
            tp = r.get("true_pairs")
            cells += [SUPPRESSED if hidden else pg.n(tp),
                      DASH if not tp and not hidden else percent(rec),
                      SUPPRESSED if hidden else pg.n(r.get("missed_links"))]
        cells.append(SUPPRESSED if hidden else (f"{est:,.1f}" if is_num(est) else DASH))
        trows.append(cells)
    return cats, rate_v, recall_v, trows


def linked_less(m: Mapping[str, Any], pg: Page) -> str | None:
    """Who gets linked less: per group kind a bar chart of records not linked (and true pairs missed) and a
    table."""
    ll = m.get("linked_less")
    if not isinstance(ll, Mapping) or not ll:
        return None
    headings = group_headings(pg.words)
    parts = [LINKED_LESS_INTRO]
    for kind, rows in ll.items():
        if not isinstance(rows, Sequence) or not rows:
            continue
        has_truth = any("recall" in r for r in rows)
        cats, rate_v, recall_v, trows = _group_rows(kind, rows, has_truth, pg)
        series = [("records not linked %", rate_v)] + ([("true pairs missed %", recall_v)] if has_truth else [])
        heading = headings.get(kind, humanise(kind))
        what = "Records not linked" + (" and true pairs missed" if has_truth else "")
        chart = charts.hbar_chart(pg.chart_id(f"linked less {kind}"), cats, series,
                               title=f"{what}: {heading.lower()}",
                               desc="Per group, the percentage of records not linked to any other record"
                                    + (" and the percentage of true matching pairs missed (1 - recall)"
                                       if has_truth else "") + "; longer bars mean linked less. The table "
                                    "below gives the figures.", x_label="% (longer = linked less)")
        headers = ["Group", "Records", "Linked", "Linkage rate",
                   *(["True pairs", "Recall", "Missed links"] if has_truth else []), "Est. missed links"]
        parts.append(f"<h3>{escape(heading)}</h3>")
        parts.append(figure(chart, f"{what} {heading.lower()} (longer bars: linked less).",
                            table(heading, headers, trows), wide=True))
    return "".join(parts)


SECTIONS = (
    Section(108, "overlap", "Partner overlap", ("overlap",), overlap),
    Section(52, "linked-less", "Who gets linked less", ("linked_less",), linked_less),
)

__all__ = ["LINKED_LESS_INTRO", "SECTIONS", "group_headings", "linked_less", "overlap"]
