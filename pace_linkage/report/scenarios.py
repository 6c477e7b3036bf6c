"""The sharing-scenarios comparison as one self-contained HTML page (``OUT/scenarios.html``).

Built from the ``scenarios.json`` document (flows/scenarios.py) with the run report's machinery: the same
template, CSS, Content-Security-Policy, inline SVG charts, escaping and small-count suppression
(:mod:`pace_linkage.report.render`). Aggregates only: the page never receives a record-level value.

Sections: key figures; the comparison table with charts (precision / recall / F1 / recall of all true pairs
per scenario, F1 change against the baseline, persons seen by two or more partners); what each scenario
shares; pseudonymisation: quality cost and attack; aggregate-only: what can and cannot be learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from string import Template
from typing import Any

import pace_linkage
from pace_linkage.report import svg
from pace_linkage.report.render import (
    DASH,
    SECTIONS,
    _asset,
    _cards,
    _facts,
    _figure,
    _is_num,
    _note,
    _p,
    _Page,
    _table,
)

NA = "n/a"

KNOWN_ATTACKS_FALLBACK = [
    "Frequency alignment: any deterministic token or filter of a field with a skewed public distribution "
    "(surnames, first names) can be matched to a public frequency list; hardening does not prevent it.",
    "Pattern mining (Christen et al. 2017): re-identified up to 20.7% of records from unhardened Bloom filters "
    "on North Carolina voter data by learning which bit positions each q-gram sets.",
]


def _rate(v: Any) -> str:
    return _p(v) if _is_num(v) else escape(str(v)) if v not in (None, "") else DASH


def _points(v: Any) -> str:
    """An F1 change in points (1 point = 0.01), signed."""
    if not _is_num(v):
        return escape(str(v)) if v not in (None, "") else DASH
    return f"{100 * v:+.2f}"


def _count(pg: _Page, v: Any) -> str:
    return pg.n(v) if _is_num(v) else escape(str(v)) if v not in (None, "") else DASH


def _num_or_none(v: Any) -> float | None:
    return float(v) if _is_num(v) else None


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------
def _sec_summary(doc: Mapping[str, Any], pg: _Page) -> str | None:
    rows = doc.get("rows") or []
    linked = [r for r in rows if _is_num(r.get("f1"))]
    items = [("Scenarios", pg.n(len(rows))), ("Linked", pg.n(len(linked))),
             ("True pairs in truth", pg.n(doc.get("true_pairs_in_truth")))]
    base = next((r for r in rows if r.get("scenario") == doc.get("baseline")), None)
    if base and _is_num(base.get("f1")):
        items.append((f"F1, {base.get('label')}", _p(base["f1"])))
    for ps in (doc.get("pseudonymisation") or {}).values():
        if _is_num(ps.get("f1_change")):
            items.append(("F1 change, pseudonymised (points)", _points(ps["f1_change"])))
    return _cards(items)


def _sec_comparison(doc: Mapping[str, Any], pg: _Page) -> str | None:
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
    parts = [_table("Sharing scenarios compared", headers, body)]
    notes = [f"{r.get('label')}: {r.get('note')}" for r in rows if r.get("note")]
    parts += [_note(n) for n in notes]
    parts.append(_note("Precision, recall and F1 are pairwise over the records each scenario linked. Recall of "
                       "all true pairs divides the true positives by every true pair in the truth file, so it also "
                       "counts the pairs a scenario could not find because their records were never shared. "
                       "1 point of F1 = 0.01."))

    linked = [r for r in rows if _is_num(r.get("f1"))]
    if linked:
        cats = [str(r.get("label") or r.get("scenario")) for r in linked]
        series = [(name, [_num_or_none(r.get(key)) for r in linked]) for key, name in
                  (("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                   ("recall_all_true_pairs", "recall of all true pairs"))]
        chart = svg.hbar_chart(pg.chart_id("scenario quality"), cats, series,
                               title="Precision, recall and F1 per scenario",
                               desc="Grouped horizontal bars, one group per linked scenario: pairwise precision, "
                                    "recall, F1 and recall of all true pairs; the table above gives the figures.",
                               x_label="pairwise measure (0 to 1)")
        parts.append(_figure(chart, "Linkage quality per scenario (aggregate-only has no linkage).", wide=True))
        change = [(str(r.get("label") or r.get("scenario")), _num_or_none(r.get("f1_change"))) for r in linked]
        if any(v is not None for _, v in change):
            chart = svg.hbar_chart(pg.chart_id("f1 change"), [c for c, _ in change],
                                   [("F1 change (points)", [None if v is None else 100 * v for _, v in change])],
                                   title="F1 change against the baseline, in points",
                                   desc="One bar per linked scenario: its F1 minus the baseline's F1, times 100; "
                                        "left of zero is a loss.", x_label="F1 change (points)")
            parts.append(_figure(chart, "What each way of sharing costs in F1.", wide=True))
        chart = svg.hbar_chart(pg.chart_id("persons seen by two or more partners"), cats,
                               [("persons", [pg.v(r.get("persons_2plus")) if _is_num(r.get("persons_2plus"))
                                             else None for r in linked])],
                               title="Persons seen by two or more partners",
                               desc="Per linked scenario, the number of persons (pace ids) whose records are held "
                                    "by at least two partners: the partner overlap each scenario can show.",
                               x_label="persons")
        parts.append(_figure(chart, "Partner overlap each scenario can show.", wide=True))
    return "".join(parts)


def _sec_shares(doc: Mapping[str, Any], pg: _Page) -> str | None:
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
    return _table("What each scenario shares", ["Scenario", "Description", "Partners", "Fields shared (any partner)",
                                                "Consent column used", "Base config"], rows, numeric_from=99)


def _sec_pseudonymisation(doc: Mapping[str, Any], pg: _Page) -> str | None:
    studies = doc.get("pseudonymisation") or {}
    if not studies:
        return None
    parts = []
    for name, ps in studies.items():
        label = ((doc.get("scenarios") or {}).get(name) or {}).get("label", name)
        hard = ps.get("hardening") or {}
        on = [n for n, k in (("balancing", "balance"), ("XOR-folding", "xor_fold")) if hard.get(k)]
        key = ("ephemeral: a random 32-byte key made in memory for this run only and written nowhere (its key id "
               "is in the scenario's manifest)") if ps.get("key") == "ephemeral" else \
            "from the configured key source (its key id is in the scenario's manifest)"
        parts.append(f"<h3>{escape(str(label))}</h3>")
        parts.append(_facts([
            ("F1, plaintext (" + escape(str(ps.get("plaintext_scenario"))) + ")", _rate(ps.get("f1_plaintext"))),
            ("F1, pseudonymised", _rate(ps.get("f1"))),
            ("F1 change (points)", _points(ps.get("f1_change"))),
            ("Bloom filters", escape(f"{ps.get('bloom_length')} bits")),
            ("Hardening on", escape(", ".join(on) if on else "none")),
            ("Key", escape(key)),
        ]))
        enc = (ps.get("encoding") or {}).get("bloom_fields") or {}
        if enc:
            rows = [[escape(f), escape(str(v.get("bits_per_feature"))), pg.n(v.get("filters")),
                     escape(f"{100 * float(v.get('bits_set_share', 0)):.1f}%")] for f, v in enc.items()]
            parts.append(_table("Share of Bloom-filter bits set per encoded field (target about 50%)",
                                ["Field", "Bits per feature", "Filters", "Bits set"], rows))
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
            parts.append(_table("Records re-identified by an attacker without the key",
                                ["Encoded field", "Attack", "Records", "Re-identified", "Share"], attack_rows,
                                numeric_from=2))
            parts.append(_note("The attacker ranks the distinct encodings by frequency and gives the i-th the i-th "
                               "most frequent value of a public list; here the list is the plaintext frequency list "
                               "of the whole data set (as a census-like list would be, and an exact fit: the "
                               "attacker's best case). The plaintext only scores the guesses; plaintext and "
                               "encodings were held together in memory at the study site and no pair of them was "
                               "written."))
    from pace_linkage.study import pseudonymise as pseud

    known = getattr(pseud, "KNOWN_ATTACKS", None) or KNOWN_ATTACKS_FALLBACK
    parts.append("<h3>Known attacks</h3><ul>" + "".join(f"<li>{escape(a)}</li>" for a in known) + "</ul>")
    return "".join(parts)


def _sec_aggregates(doc: Mapping[str, Any], pg: _Page) -> str | None:
    aggs = doc.get("aggregates") or {}
    if not aggs:
        return None
    renderer = next((fn for _, _, keys, fn in SECTIONS if "aggregates" in keys), None)
    parts = []
    for name, a in aggs.items():
        label = ((doc.get("scenarios") or {}).get(name) or {}).get("label", name)
        parts.append(f"<h3>{escape(str(label))}</h3>")
        parts.append(_note(f"Linkage figures are n/a: {a.get('reason', '')}. The scenario's own report is "
                           f"{name}/report.html."))
        html = renderer({"aggregates": a}, pg) if renderer else None
        if html:
            parts.append(html)
        else:  # the aggregates renderer is not there: the two lists, plainly
            for key, heading in (("what_can_be_learned", "What the partnership can learn"),
                                 ("what_cannot_be_learned", "What it cannot learn")):
                items = a.get(key) or []
                if items:
                    parts.append(f"<h4>{escape(heading)}</h4><ul>"
                                 + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>")
    return "".join(parts)


SCENARIO_SECTIONS = [
    ("summary", "Key figures", _sec_summary),
    ("comparison", "Scenarios compared", _sec_comparison),
    ("shares", "What each scenario shares", _sec_shares),
    ("pseudonymisation", "Pseudonymisation: quality cost and attack", _sec_pseudonymisation),
    ("aggregates", "Aggregate-only sharing: what can and cannot be learned", _sec_aggregates),
]


def render_scenarios(doc: Mapping[str, Any], *, title: str, small_count_threshold: int = 0) -> str:
    """One self-contained, deterministic HTML page comparing the sharing scenarios of ``doc`` (scenarios.json)."""
    pg = _Page(doc, small_count_threshold)
    body, toc = [], []
    for anchor, heading, fn in SCENARIO_SECTIONS:
        html = fn(doc, pg)
        if html:
            body.append(f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">'
                        f"{escape(heading)}</h2>{html}</section>\n")
            toc.append(f'<li><a href="#{anchor}">{escape(heading)}</a></li>\n')
    sub = [f"baseline: {doc.get('baseline')}"]
    if (doc.get("key") or {}).get("ephemeral"):
        sub.append("pseudonymised with an ephemeral key made for this run only")
    if pg.k > 0:
        sub.append(f"counts from 1 to {pg.k - 1} are shown as *")
    footer = (f"Generated by pace-linkage {pace_linkage.__version__}. Aggregate figures only: this report holds no "
              "record-level values. Each scenario's full report is OUT/<scenario>/report.html.")
    return Template(_asset("template.html")).substitute(
        title=escape(title), style=_asset("style.css"), subtitle=f'<p class="subtitle">{escape("; ".join(sub))}.</p>',
        toc="".join(toc), body="".join(body), footer=escape(footer))
