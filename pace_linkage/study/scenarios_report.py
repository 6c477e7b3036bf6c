"""The sharing-scenarios comparison as one self-contained HTML page (``OUT/scenarios.html``).

Built from the ``scenarios.json`` document (flows/scenarios.py) with the run report's machinery: the same
template, CSS, Content-Security-Policy, inline SVG charts, escaping and small-count suppression
(:mod:`pace_linkage.report.page`, :func:`pace_linkage.report.render.render_page`). Aggregates only: the page
never receives a record-level value.

Sections: key figures; the comparison table with charts (precision / recall / F1 / recall of all true pairs
per scenario, F1 change against the baseline, persons seen by two or more partners); what each scenario
shares; pseudonymisation: quality cost and attack; aggregate-only: what can and cannot be learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report import charts
from pace_linkage.report.page import DASH, Page, cards, facts, figure, fixed, is_num, note, table
from pace_linkage.report.render import render_page
from pace_linkage.report.section import Section
from pace_linkage.schema import VERSION
from pace_linkage.study.aggregates_report import aggregates_body
from pace_linkage.study.pseudonymise import KNOWN_ATTACKS
from pace_linkage.study.pseudonymise_report import bloom_fields_table, hardening_on

NA = "n/a"


def _rate(v: Any) -> str:
    return fixed(v) if is_num(v) else escape(str(v)) if v not in (None, "") else DASH


def _points(v: Any) -> str:
    """An F1 change in points (1 point = 0.01), signed."""
    if not is_num(v):
        return escape(str(v)) if v not in (None, "") else DASH
    return f"{100 * v:+.2f}"


def _count(pg: Page, v: Any) -> str:
    return pg.n(v) if is_num(v) else escape(str(v)) if v not in (None, "") else DASH


def _num_or_none(v: Any) -> float | None:
    return float(v) if is_num(v) else None


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------
def _sec_summary(doc: Mapping[str, Any], pg: Page) -> str | None:
    rows = doc.get("rows") or []
    linked = [r for r in rows if is_num(r.get("f1"))]
    items = [("Scenarios", pg.n(len(rows))), ("Linked", pg.n(len(linked))),
             ("True pairs in truth", pg.n(doc.get("true_pairs_in_truth")))]
    base = next((r for r in rows if r.get("scenario") == doc.get("baseline")), None)
    if base and is_num(base.get("f1")):
        items.append((f"F1, {base.get('label')}", fixed(base["f1"])))
    for ps in (doc.get("pseudonymisation") or {}).values():
        if is_num(ps.get("f1_change")):
            items.append(("F1 change, pseudonymised (points)", _points(ps["f1_change"])))
    return cards(items)


def _sec_comparison(doc: Mapping[str, Any], pg: Page) -> str | None:
    rows = doc.get("rows") or []
    if not rows:
        return None
    headers = ["Scenario", "Partners", "Records linked", "Rows withheld", "Precision", "Recall", "F1",
               "Recall of all true pairs", "B-cubed F1", "Persons", "Persons seen by ≥2 partners",
               "F1 change vs baseline (points)"]
    body = [[escape(str(r.get("label") or r.get("scenario"))), _count(pg, r.get("partners")),
             _count(pg, r.get("records_linked")), _count(pg, r.get("rows_withheld")), _rate(r.get("precision")),
             _rate(r.get("recall")), _rate(r.get("f1")), _rate(r.get("recall_all_true_pairs")),
             _rate(r.get("bcubed_f1")), _count(pg, r.get("persons")), _count(pg, r.get("persons_2plus")),
             _points(r.get("f1_change"))] for r in rows]
    parts = [table("Sharing scenarios compared", headers, body)]
    notes = [f"{r.get('label')}: {r.get('note')}" for r in rows if r.get("note")]
    parts += [note(n) for n in notes]
    parts.append(note("Precision, recall and F1 are pairwise over the records each scenario linked. Recall of "
                       "all true pairs divides the true positives by every true pair in the truth file, so it also "
                       "counts the pairs a scenario could not find because their records were never shared. "
                       "1 point of F1 = 0.01."))

    linked = [r for r in rows if is_num(r.get("f1"))]
    if linked:
        cats = [str(r.get("label") or r.get("scenario")) for r in linked]
        series = [(name, [_num_or_none(r.get(key)) for r in linked]) for key, name in
                  (("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                   ("recall_all_true_pairs", "recall of all true pairs"))]
        chart = charts.hbar_chart(pg.chart_id("scenario quality"), cats, series,
                               title="Precision, recall and F1 per scenario",
                               desc="Grouped horizontal bars, one group per linked scenario: pairwise precision, "
                                    "recall, F1 and recall of all true pairs; the table above gives the figures.",
                               x_label="pairwise measure (0 to 1)")
        parts.append(figure(chart, "Linkage quality per scenario (aggregate-only has no linkage).", wide=True))
        change = {key: [_num_or_none(r.get(key)) for r in linked] for key in ("recall_all_change", "f1_change")}
        if any(v is not None for values in change.values() for v in values):
            series = [(name, [None if v is None else 100 * v for v in change[key]]) for key, name in
                      (("recall_all_change", "recall of all true pairs (points)"),
                       ("f1_change", "F1 over the records linked (points)"))]
            chart = charts.hbar_chart(pg.chart_id("scenario cost"), cats, series,
                                   title="What each scenario costs against the baseline, in points",
                                   desc="Per linked scenario: the change in the recall of all true pairs (the "
                                        "pairs it can no longer find, its records unshared) and in F1 over the "
                                        "records it linked, times 100; left of zero is a loss.",
                                   x_label="change against the baseline (points)")
            parts.append(figure(chart, "What each way of sharing costs: the pairs it loses (recall of all true "
                                       "pairs) beside the F1 over the records it still links.", wide=True))
        chart = charts.hbar_chart(pg.chart_id("persons seen by two or more partners"), cats,
                               [("persons", [pg.v(r.get("persons_2plus")) if is_num(r.get("persons_2plus"))
                                             else None for r in linked])],
                               title="Persons seen by two or more partners",
                               desc="Per linked scenario, the number of persons (pace ids) whose records are held "
                                    "by at least two partners: the partner overlap each scenario can show.",
                               x_label="persons")
        parts.append(figure(chart, "Partner overlap each scenario can show.", wide=True))
    return "".join(parts)


def _sec_shares(doc: Mapping[str, Any], pg: Page) -> str | None:
    scen = doc.get("scenarios") or {}
    if not scen:
        return None
    rows = []
    for name, s in scen.items():
        shared = s.get("shared_fields") or {}
        fields = sorted({f for fs in shared.values() for f in fs})
        consent = s.get("consent_columns") or {}
        rows.append([escape(str(s.get("label") or name)), escape(str(s.get("description") or "")),
                     escape(", ".join(shared) or DASH), escape(", ".join(fields) or DASH),
                     escape(f"{len(consent)} partner(s)" if consent else "as configured"),
                     f"<code>{escape(str(s.get('config') or ''))}</code>"])
    return table("What each scenario shares", ["Scenario", "Description", "Partners", "Fields shared (any partner)",
                                                "Consent column used", "Base config"], rows, numeric_from=99)


def _sec_pseudonymisation(doc: Mapping[str, Any], pg: Page) -> str | None:
    studies = doc.get("pseudonymisation") or {}
    if not studies:
        return None
    parts = []
    for name, ps in studies.items():
        label = ((doc.get("scenarios") or {}).get(name) or {}).get("label", name)
        key = ("ephemeral: a random 32-byte key made in memory for this run only and written nowhere (its key id "
               "is in the scenario's manifest)") if ps.get("key") == "ephemeral" else \
            "from the configured key source (its key id is in the scenario's manifest)"
        parts.append(f"<h3>{escape(str(label))}</h3>")
        parts.append(facts([
            ("F1, plaintext (" + escape(str(ps.get("plaintext_scenario"))) + ")", _rate(ps.get("f1_plaintext"))),
            ("F1, pseudonymised", _rate(ps.get("f1"))),
            ("F1 change (points)", _points(ps.get("f1_change"))),
            ("Bloom filters", escape(f"{ps.get('bloom_length')} bits")),
            ("Hardening on", escape(hardening_on(ps.get("hardening") or {}))),
            ("Key", escape(key)),
        ]))
        parts.append(bloom_fields_table((ps.get("encoding") or {}).get("bloom_fields") or {}, pg,
                                        "Share of Bloom-filter bits set per encoded field (target about 50%)"))
        attack_rows = []
        names = {"token_frequency": "frequency alignment on HMAC tokens",
                 "bloom_frequency": "frequency alignment on Bloom filters",
                 "bloom_pattern": "pattern mining on Bloom filters (q-gram positions)"}
        for field, res in (ps.get("fields") or {}).items():
            for k, desc in names.items():
                a = res.get(k)
                if a:
                    attack_rows.append([escape(field), escape(desc), pg.n(a.get("records")),
                                        pg.n(a.get("reidentified")),
                                        escape(f"{100 * float(a.get('share', 0)):.1f}%")])
        if attack_rows:
            parts.append(table("Records re-identified by an attacker without the key",
                                ["Encoded field", "Attack", "Records", "Re-identified", "Share"], attack_rows,
                                numeric_from=2))
            parts.append(note("The attacker ranks the distinct encodings by frequency and gives the i-th the i-th "
                               "most frequent value of a public list; here the list is the plaintext frequency list "
                               "of the whole data set (as a census-like list would be, and an exact fit: the "
                               "attacker's best case). The plaintext only scores the guesses; plaintext and "
                               "encodings were held together in memory at the study site and no pair of them was "
                               "written."))
    parts.append("<h3>Known attacks</h3><ul>" + "".join(f"<li>{escape(a)}</li>" for a in KNOWN_ATTACKS) + "</ul>")
    return "".join(parts)


def _sec_aggregates(doc: Mapping[str, Any], pg: Page) -> str | None:
    aggs = doc.get("aggregates") or {}
    if not aggs:
        return None
    parts = []
    for name, a in aggs.items():
        label = ((doc.get("scenarios") or {}).get(name) or {}).get("label", name)
        parts.append(f"<h3>{escape(str(label))}</h3>")
        parts.append(note(f"Linkage figures are n/a: {a.get('reason', '')}. The scenario's own report is "
                           f"{name}/report.html."))
        parts.append(aggregates_body(a, pg, withheld=False) or "")
    return "".join(parts)


SCENARIO_SECTIONS = (
    Section(10, "summary", "Key figures", (), _sec_summary),
    Section(20, "comparison", "Scenarios compared", ("rows",), _sec_comparison),
    Section(30, "shares", "What each scenario shares", ("scenarios",), _sec_shares),
    Section(40, "pseudonymisation", "Pseudonymisation: quality cost and attack", ("pseudonymisation",),
            _sec_pseudonymisation),
    Section(50, "aggregates", "Aggregate-only sharing: what can and cannot be learned", ("aggregates",),
            _sec_aggregates),
)


def render_scenarios(doc: Mapping[str, Any], *, title: str, small_count_threshold: int = 0) -> str:
    """One self-contained, deterministic HTML page comparing the sharing scenarios of ``doc`` (scenarios.json)."""
    sub = [f"baseline: {doc.get('baseline')}"]
    if (doc.get("key") or {}).get("ephemeral"):
        sub.append("pseudonymised with an ephemeral key made for this run only")
    footer = (f"Generated by pace-linkage {VERSION}. Aggregate figures only: this report holds no "
              "record-level values. Each scenario's full report is OUT/<scenario>/report.html.")
    return render_page(doc, SCENARIO_SECTIONS, title=title, subtitle=sub, footer=footer,
                       small_count_threshold=small_count_threshold, generic_tables=False)
