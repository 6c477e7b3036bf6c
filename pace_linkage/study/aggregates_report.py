"""The report's aggregate-only sections (:mod:`pace_linkage.study.aggregates`): ``aggregates`` (the
aggregate-only scenario: what counts alone show) and ``aggregates_withheld`` (clients kept out of linkage for
want of consent, counted only).

The tables arrive with primary and secondary suppression already applied (with their own threshold,
``aggregates.small_count_threshold``) and are shown as they are: the report's own threshold is not applied on
top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from pace_linkage.redact import SUPPRESSED
from pace_linkage.report import charts
from pace_linkage.report.page import DASH, Page, figure, is_num, note, table
from pace_linkage.report.section import Section


def published(v: Any) -> str:
    """A published aggregate cell: ``*`` as is, a count with separators, a dash when missing."""
    if v == SUPPRESSED:
        return SUPPRESSED
    return f"{int(v):,}" if is_num(v) and float(v).is_integer() else DASH


def _bar(v: Any) -> float | None:
    return float(v) if is_num(v) else None


def _intro(agg: Mapping[str, Any], pg: Page, lab: Callable[[str], str], withheld: bool) -> list[str]:
    """What the counts are, how they are suppressed, and the partners whose counts failed."""
    w = pg.words
    k = agg.get("threshold")
    hidden = (f"Cells from 1 to {int(k) - 1} are shown as {SUPPRESSED}, and further cells are hidden (secondary "
              "suppression) so that no hidden cell can be worked out from the row and column totals, nor from "
              "a partner total published in another table. These tables carry that suppression themselves; the "
              "report's own threshold is not applied on top." if is_num(k) and k > 1
              else "No small-count threshold is set for these tables (aggregates.small_count_threshold).")
    if withheld:
        names = ", ".join(lab(str(s)) for s in agg.get("sources") or [])
        parts = [f"<p>Rows without recorded consent from the partners whose agreement says "
                 f"<code>without_consent: aggregates</code> ({escape(names)}) were kept out of linkage and of "
                 "every record-level output. They were counted at ingest, and only these counts are kept; "
                 f"the clients are in none of the linked figures of this report ({w.persons}, overlap, repeat "
                 "clients). Their number per partner is public as the withheld column of Rows per source, "
                 "so a partner's total here is known even where it is shown as *.</p>"]
    else:
        parts = ["<p>Aggregate-only sharing: each partner counted its own clients and sent only the counts "
                 "below. No record left a partner, so nothing was linked: a client is one row of a partner's "
                 f"records (a contact), and a {w.person} seen by three partners is counted three times.</p>"]
    parts.append(note(hidden))
    failed = agg.get("sources_failed") or []
    if failed:
        rows = [[escape(str(f.get("source", ""))), escape(str(f.get("file", ""))), escape(str(f.get("error", "")))]
                for f in failed if isinstance(f, Mapping)]
        parts.append('<div class="warning"><p>These partners sent no counts:</p>'
                     + table("Partners whose counts failed", ["Partner", "File", "Error"], rows, numeric_from=99)
                     + "</div>")
    return parts


def _charts(month: Mapping[str, Any], pg: Page, lab: Callable[[str], str], withheld: bool) -> list[str]:
    """Clients per partner and, for the month table, clients per month (hidden totals drawn as no bar)."""
    parts = []
    partners = [str(p) for p in month.get("partners") or []]
    if partners:
        chart = charts.hbar_chart(pg.chart_id(f"aggregates partners {withheld}"), [lab(p) for p in partners],
                               [("clients", [_bar(v) for v in month.get("row_totals") or []])],
                               title=f"Clients per partner ({str(month.get('label', '')).lower()})",
                               desc="One bar per partner: its clients (contacts) in the table below; a hidden "
                                    "total (*) has no bar.", x_label="clients (contacts)")
        parts.append(figure(chart, "Clients per partner (hidden totals drawn as no bar)."))
    if month.get("kind") == "month" and month.get("categories"):
        chart = charts.hbar_chart(pg.chart_id(f"aggregates months {withheld}"), [str(c) for c in month["categories"]],
                               [("clients", [_bar(v) for v in month.get("column_totals") or []])],
                               title="Clients per month, all partners",
                               desc="One bar per month of first service or contact: clients counted by all "
                                    "partners together; a hidden total (*) has no bar.", x_label="clients (contacts)")
        parts.append(figure(chart, "Clients per month, all partners (hidden totals drawn as no bar)."))
    return parts


def _dimension(t: Mapping[str, Any], lab: Callable[[str], str]) -> list[str]:
    """One dimension's partner x category table, with its notes."""
    cats = [str(c) for c in t.get("categories") or []]
    rows = [[escape(lab(str(p))), *[published(v) for v in cells], published(tot)]
            for p, cells, tot in zip(t.get("partners") or [], t.get("cells") or [], t.get("row_totals") or [],
                                     strict=False)]
    total = ["Total", *[published(v) for v in t.get("column_totals") or []], published(t.get("total"))]
    name = str(t.get("label") or t.get("dimension"))
    parts = [f"<h3>{escape(name)}</h3>", table(name, ["Partner", *cats, "Total"], rows, total=total)]
    notes = [str(t["note"])] if t.get("note") else []
    if t.get("not_held"):
        notes.append("Not held by: " + ", ".join(lab(str(p)) for p in t["not_held"]) + ".")
    return parts + [note(n) for n in notes]


def aggregates_body(agg: Any, pg: Page, *, withheld: bool) -> str | None:
    """One table per dimension (partner rows, totals, ``*`` kept), charts of the month table, and (aggregate-only
    scenario) what the partnership can and cannot learn. Used for ``aggregates`` and ``aggregates_withheld``."""
    if not isinstance(agg, Mapping):
        return None
    labels = agg.get("labels") or {}

    def lab(p: str) -> str:
        name = labels.get(p)
        return f"{name} ({p})" if name and name != p else pg.label(p)

    tables = [t for t in agg.get("tables") or [] if isinstance(t, Mapping)]
    parts = _intro(agg, pg, lab, withheld)
    if not tables:
        parts.append(note("No client was counted." if not withheld else "No row was withheld for want of consent."))
        return "".join(parts)
    month = next((t for t in tables if t.get("kind") == "month"), tables[0])
    parts += _charts(month, pg, lab, withheld)
    for t in tables:
        parts += _dimension(t, lab)
    if not withheld:
        for key, heading in (("what_can_be_learned", "What the partnership can learn from counts alone"),
                             ("what_cannot_be_learned", "What it cannot learn without linkage")):
            items = agg.get(key) or []
            if items:
                lis = "".join(f"<li>{escape(str(x))}</li>" for x in items)
                parts.append(f"<h3>{escape(heading)}</h3><ul>{lis}</ul>")
    return "".join(parts)


def aggregates(m: Mapping[str, Any], pg: Page) -> str | None:
    """The aggregate-only scenario's counts."""
    return aggregates_body(m.get("aggregates"), pg, withheld=False)


def aggregates_withheld(m: Mapping[str, Any], pg: Page) -> str | None:
    """The counts of rows withheld for want of consent."""
    return aggregates_body(m.get("aggregates_withheld"), pg, withheld=True)


AGGREGATES_WITHHELD = Section(100, "aggregates-withheld", "Clients without consent (aggregates only)",
                              ("aggregates_withheld",), aggregates_withheld)
AGGREGATES = Section(109, "aggregates", "Aggregate-only sharing: what counts alone show", ("aggregates",),
                     aggregates)

__all__ = ["AGGREGATES", "AGGREGATES_WITHHELD", "aggregates", "aggregates_body", "aggregates_withheld", "published"]
