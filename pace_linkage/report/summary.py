"""The report's opening sections: key figures, the run's settings and the configured notes."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report.page import Page, bullets, cards, facts, fixed, is_num
from pace_linkage.report.section import Section

ROW_COUNTS = [("rows_in", "Rows in"), ("rows_accepted", "Rows accepted"),
              ("rows_quarantined", "Rows quarantined"), ("rows_withheld", "Rows withheld")]


def main_clustering(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """The cluster figures for the chosen id: the flat ``clusters`` dict, or its ``<id_column>`` entry."""
    c = m.get("clusters") or {}
    id_col = (m.get("run") or {}).get("id_column", "pace_id")
    sub = c.get(id_col) if isinstance(c, Mapping) else None
    return sub if isinstance(sub, Mapping) else c


def key_figures(m: Mapping[str, Any], pg: Page) -> str | None:
    """Cards: rows in and out, failed sources, candidate pairs, clusters and quality (measured or
    estimated)."""
    counts, clusters, blocking = m.get("counts") or {}, main_clustering(m), m.get("blocking") or {}
    items: list[tuple[str, str]] = [(name, pg.n(counts[key])) for key, name in ROW_COUNTS if key in counts]
    if "sources_failed" in m:
        items.append(("Sources failed", pg.n(len(m["sources_failed"] or []))))
    partial = m.get("partial")
    if isinstance(partial, Mapping):
        items.append(("Partners missing", escape(", ".join(map(str, partial.get("sources_missing") or [])))))
        items.append(("Rows missing", _rows_missing(partial, pg)))
    if "pairs" in blocking:
        items.append(("Candidate pairs", pg.n(blocking["pairs"])))
    if "clusters" in clusters:
        items.append((f"{pg.words.Persons} (clusters)", pg.n(clusters["clusters"])))
    pw, est = m.get("pairwise") or {}, m.get("estimated") or {}
    if "f1" in pw:
        items += [("Pairwise precision", fixed(pw.get("precision"))),
                  ("Pairwise recall", fixed(pw.get("recall"))), ("Pairwise F1", fixed(pw["f1"]))]
    elif est:
        items += [("Estimated precision", fixed(est.get("precision"))),
                  ("Estimated recall", fixed(est.get("recall")))]
    items += _weakest(m, pg)
    return cards(items) if items else None


def _weakest(m: Mapping[str, Any], pg: Page) -> list[tuple[str, str]]:
    """The worst-linked partner (lowest recall against truth, else lowest share of records linked to another)
    and the reason that quarantined the most rows."""
    out = []
    by_source = (m.get("counts") or {}).get("by_source") or {}
    rows = [r for r in ((m.get("linked_less") or {}).get("partner") or []) if isinstance(r, Mapping)]
    key = "recall" if rows and all(is_num(r.get("recall")) for r in rows) else "linkage_rate"
    rows = [r for r in rows if is_num(r.get(key))]
    if len(rows) > 1:
        worst = min(rows, key=lambda r: (float(r[key]), str(r.get("group"))))
        label = (by_source.get(worst.get("group")) or {}).get("label") or worst.get("group")
        what = "recall" if key == "recall" else "linked"
        out.append(("Worst-linked partner", f"{escape(str(label))} ({what} {fixed(worst[key], 3)})"))
    reasons: dict[str, int] = {}
    for counts in by_source.values():
        for reason, n in ((counts or {}).get("reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(n)
    if reasons:
        top = min(reasons, key=lambda r: (-reasons[r], r))
        out.append(("Largest quarantine reason", f"{escape(top)} ({pg.n(reasons[top])} rows)"))
    elif by_source:
        out.append(("Largest quarantine reason", "none: no row quarantined"))
    return out


def _rows_missing(partial: Mapping[str, Any], pg: Page) -> str:
    unknown = partial.get("rows_unknown") or []
    known = pg.n(partial.get("rows_missing", 0))
    if not unknown:
        return known
    return f"{known} + unknown" if partial.get("rows_missing") else "unknown"


def first_line(m: Mapping[str, Any], pg: Page) -> str | None:
    """The first thing on the page when a run is not complete: which partners are missing (a partial run) and
    how many rows that is (unknown for a file that could not be read), and which delivered no record."""
    parts = []
    partial = m.get("partial")
    if isinstance(partial, Mapping) and partial.get("sources_missing"):
        rows = {str(f.get("source")): f.get("rows") for f in (m.get("sources_failed") or []) if isinstance(f, Mapping)}
        missing = partial["sources_missing"]
        named = [f"{escape(str(s))} ({pg.n(rows[s])} rows)" if rows.get(s) is not None
                 else f"{escape(str(s))} (rows unknown: the file could not be read)" for s in missing]
        total = partial.get("sources_configured")
        of = f" of {pg.n(total)}" if total else ""
        parts.append(f"<strong>Partial run: {pg.n(len(missing))}{of} partner(s) missing, none of their records "
                     f"linked:</strong> {', '.join(named)}.")
    empty = m.get("sources_empty") or []
    if empty:
        parts.append(f"<strong>No records delivered by:</strong> {escape(', '.join(map(str, empty)))}.")
    if not parts:
        return None
    return f'<p class="warning" id="first-line" role="alert">{" ".join(parts)}</p>\n'


RUN_FACTS = {"entity": "Entity", "version": "Version", "seed": "Seed", "threshold": "Match threshold",
             "config_hash": "Configuration hash"}


def run_facts(m: Mapping[str, Any], pg: Page) -> str | None:
    """The run's settings (entity, version, seed, threshold, config hash, sources, any other plain value)."""
    run = m.get("run")
    if not isinstance(run, Mapping):
        return None
    items = []
    for key, name in RUN_FACTS.items():
        if key in run:
            val = run[key]
            shown = f"<code>{escape(str(val))}</code>" if key == "config_hash" else escape(str(val))
            items.append((name, shown))
    srcs = run.get("sources")
    if srcs:
        shown = [s.get("name", str(s)) if isinstance(s, Mapping) else str(s) for s in srcs]
        items.append((f"Sources ({len(shown)})", escape(", ".join(shown))))
    for key, val in run.items():
        if key not in RUN_FACTS and key != "sources" and not isinstance(val, Mapping | list):
            items.append((key.replace("_", " ").capitalize(), escape(str(val))))
    items.append(("Time per stage", "in <code>manifest.json</code> and the run's Prefect artifact (kept out "
                                    "of this page so that a rerun gives a byte-identical report)"))
    return facts(items)


def notes(m: Mapping[str, Any], pg: Page) -> str | None:
    """The config's ``report.notes``, as a list."""
    given = m.get("report_notes")
    return bullets(given) if given else None


SECTIONS = (
    Section(10, "summary", "Key figures", (), key_figures),
    Section(30, "run", "Run", ("run",), run_facts),
    Section(40, "report-notes", "Notes on this linkage", ("report_notes",), notes),
)

__all__ = ["RUN_FACTS", "ROW_COUNTS", "SECTIONS", "first_line", "key_figures", "main_clustering", "notes",
           "run_facts"]
