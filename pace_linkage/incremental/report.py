"""The report's "What changed in this delivery" section (metrics key ``incremental``, from
:func:`pace_linkage.incremental.persist.change_metrics`), plugged into a run's page as a feature."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.features import Feature
from pace_linkage.report import charts
from pace_linkage.report.page import EntityWords, Page, facts, figure, note, table
from pace_linkage.report.section import Section


def change_facts(w: EntityWords) -> list[tuple[str, str]]:
    """Names of the delivery's totals (metrics key, label)."""
    return [("records_before", "Records before this delivery"), ("records_after", "Records after"),
            ("persons_before", f"{w.Persons} before"), ("persons_after", f"{w.Persons} after"),
            ("new", "New records"), ("updated", "Updated records (replaced their previous version)"),
            ("unchanged", "Re-sent unchanged (ignored)"), ("deleted", "Deleted or consent withdrawn"),
            ("joined_existing", f"New records joining an existing {w.person}"),
            ("new_persons", f"New {w.persons}"),
            ("merges", f"Merges (two existing {w.persons} joined; the retired id resolves to the survivor)"),
            ("splits", f"Splits (a {w.person} divided by a correction)"),
            ("persons_emptied", f"{w.Persons} left empty"),
            ("candidate_pairs", "Candidate pairs (new x new and new x existing only)"),
            ("clerical_active", "Clerical decisions honoured"),
            ("clerical_conflicts", "Clerical decisions that contradict each other")]


def change_columns(w: EntityWords) -> list[tuple[str, str]]:
    """Columns of the per-partner table (metrics key, heading)."""
    return [("new", "New"), ("updated", "Updated"), ("unchanged", "Unchanged"), ("deleted", "Deleted"),
            ("joined_existing", f"Joined an existing {w.person}"), ("new_persons", f"New {w.persons}")]


def changes(m: Mapping[str, Any], pg: Page) -> str | None:
    """The delivery's totals, what changed per partner (table and stacked bars), and what an id promises."""
    inc = m.get("incremental")
    if not isinstance(inc, Mapping):
        return None
    w = pg.words
    tot = inc.get("totals") or {}
    parts = [facts([(name, pg.n(tot[k])) for k, name in change_facts(w) if k in tot])]
    by = inc.get("by_source") or {}
    if by:
        columns = change_columns(w)
        srcs = sorted(by)
        rows = [[escape(s)] + [pg.n(by[s].get(k, 0)) for k, _ in columns] for s in srcs]
        per_partner = table("What changed, per partner", ["Partner"] + [h for _, h in columns], rows)
        series = [(h, [0 if pg.suppressed(by[s].get(k, 0)) else by[s].get(k, 0) for s in srcs])
                  for k, h in columns if k in ("new", "updated", "deleted")]
        chart = charts.hbar_chart(pg.chart_id("changes by partner"), srcs, series, stacked=True,
                               title="Records new, updated and deleted in this delivery",
                               desc="Per partner: records new, updated and deleted in this delivery.")
        parts.append(figure(chart, "Records per partner in this delivery.", per_partner, wide=True))
    parts.append(note(
        f"An existing {w.id} never changes meaning: a new record joins a {w.person} or founds one; when "
        f"new evidence joins two {w.persons} the id created first survives and the other resolves to it; "
        "every change is in id_history.csv and the store's id_history table (keys, ids and reasons, never "
        "field values). Quality figures in this report cover every live record after this delivery."))
    return "".join(parts)


class IncrementalReport(Feature):
    """An incremental run's report section (the delivery's changes)."""

    name = "incremental"
    sections = (Section(20, "incremental", "What changed in this delivery", ("incremental",), changes),)


INCREMENTAL = IncrementalReport()

__all__ = ["INCREMENTAL", "IncrementalReport", "change_columns", "change_facts", "changes"]
