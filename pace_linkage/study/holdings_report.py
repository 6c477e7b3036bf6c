"""The report's "What each partner holds" section (metrics ``holdings`` and companions, from
:func:`pace_linkage.study.holdings.build_holdings`): completeness per partner and data item."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.redact import SUPPRESSED
from pace_linkage.report import charts
from pace_linkage.report.page import DASH, Page, figure, is_num, note, percent, table
from pace_linkage.report.section import Section


def _item_legend(items: list[str], srcs: list[str], hold: Mapping, desc: Mapping) -> str:
    """The data items: category, meaning and how many partners hold each."""
    held_by = {i: sum(1 for s in srcs if is_num((hold[s] or {}).get(i))) for i in items}
    legend = [[escape(str(i)), escape(str((desc.get(i) or {}).get("category", ""))),
               escape(str((desc.get(i) or {}).get("description", ""))), f"{held_by.get(i, 0)} of {len(srcs)}"]
              for i in items]
    return table("Data items", ["Item", "Category", "Meaning", "Partners holding it"], legend, numeric_from=3)


def holdings(m: Mapping[str, Any], pg: Page) -> str | None:
    """What each partner holds: completeness per partner and data item (heatmap, table, item legend). A partner
    whose row count is suppressed shows no rate."""
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
        hidden = pg.suppressed(rows_by.get(s))
        srow, trow = [], []
        for i in items:
            v = (hold[s] or {}).get(i)
            if v is None or not is_num(v):
                srow.append(None)
                trow.append(DASH)
            elif hidden:
                srow.append(None)
                trow.append(SUPPRESSED)
            else:
                srow.append(float(v))
                trow.append(percent(float(v), 0))
        shade.append(srow)
        texts.append(trow)
        rows.append([escape(pg.label(s)), pg.n(rows_by.get(s)) if s in rows_by else DASH, *trow])
    chart = charts.heatmap_chart(pg.chart_id("partner holdings"), [pg.label(s) for s in srcs], items, shade, texts,
                        title="What each partner holds",
                        desc="Share of each partner's accepted rows with a value for each data item; "
                             "darker is more complete, grey hatching means the partner does not record it.")
    completeness = table("Completeness per partner and data item (– : not held)", ["Partner", "Rows", *items], rows)
    parts = [figure(chart, "Completeness of the study's data items per partner (– : not held).", completeness,
                    wide=True)]
    if desc:
        parts.append(_item_legend(items, srcs, hold, desc))
    warnings = m.get("holdings_warnings") or []
    if warnings:
        lis = "".join(f"<li>{escape(str(w))}</li>" for w in warnings)
        parts.append(f'<div class="warning"><p>Data-item columns missing from a file (reported as not held):</p>'
                     f"<ul>{lis}</ul></div>")
    parts.append(note("Completeness is the share of a partner's accepted rows with a non-blank value in any of "
                      "the item's columns (values such as NULL or N/A count as blank); it says nothing of "
                      "whether the values are right."))
    return "".join(parts)


HOLDINGS = Section(90, "holdings", "What each partner holds",
                   ("holdings", "holdings_items", "holdings_rows", "holdings_warnings"), holdings)

__all__ = ["HOLDINGS", "holdings"]
