"""The report's "People and their employers" section (metrics key ``people_employers``, written by
:func:`pace_linkage.study.employers.people_employers_metrics`).

Shows how person records were linked to employers (by match level), how many persons carry an employer, the
accuracy against truth when there is one, the affected people each partner saw per employer (ids only, counts
already suppressed by the producer with its own threshold) and which partners worked with the same employers.
The section is about people, whatever the page's entity: its wording is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from pace_linkage.report.page import Page, cards, facts, fixed, is_num, note, table
from pace_linkage.report.section import Section

HOW_LABELS = {
    "exact_name": "Same business name",
    "trading_name": "Trading name agrees with the name",
    "core_name": "Same core name (legal form and generic words aside)",
    "similar_name": "Similar core name (same first word)",
    "ambiguous": "Ambiguous: two employers equally good (not linked)",
    "no_match": "No employer matched",
    "no_employer_recorded": "No employer recorded",
}
LINKED = ("exact_name", "trading_name", "core_name", "similar_name")


def shown(v: Any, pg: Page) -> str:
    """A count already suppressed by the producer (``*``) or a number to format."""
    return escape(str(v)) if not is_num(v) else pg.n(v)


def _how_linked(pe: Mapping[str, Any], pg: Page) -> list[str]:
    """Key figures, how the matching works, and records by how their employer was matched."""
    rec, per, emp = pe.get("records") or {}, pe.get("persons") or {}, pe.get("employers") or {}
    by_how = rec.get("by_how") or {}
    linked = sum(v for k, v in by_how.items() if k in LINKED)
    s = pe.get("settings") or {}
    return [
        cards([("Person records", pg.n(rec.get("person_records"))), ("Linked to an employer", pg.n(linked)),
               ("Persons with an employer", pg.n(per.get("with_employer"))),
               ("Employers", pg.n(emp.get("employers"))),
               ("Employers with affected people", pg.n(emp.get("with_people")))]),
        note("Each person record's employer, as the partner wrote it, is read as a business name (legal "
             "form and 't/a' trading name kept apart) and matched to the linked employers: the same name, a "
             "trading name or the same core name (generic words aside), else a similar core name (token-sort "
             f"similarity >= {fixed(s.get('similarity_threshold'), 2)} with the first word agreeing). The same "
             "name with the same legal form wins; then the same legal form, then the same postcode area. Two "
             "equally good employers link neither. A person carries every employer any of its records links "
             "to."),
        table("Person records by how their employer was matched", ["Match", "Records"],
              [[escape(HOW_LABELS.get(k, k)), pg.n(v)] for k, v in by_how.items()]),
        facts([("Persons (pace_id)", pg.n(per.get("persons"))),
               ("with one or more employers", pg.n(per.get("with_employer"))),
               ("with more than one employer", pg.n(per.get("with_several_employers")))]),
    ]


def _accuracy(acc: Mapping[str, Any], pg: Page) -> list[str]:
    """Precision, recall and F1 of the links against truth, for records and persons."""
    r, q = acc.get("records") or {}, acc.get("persons") or {}
    rows = [[name, fixed(r.get(key)), fixed(q.get(key))]
            for key, name in [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]]
    return [
        "<h3>Accuracy against the truth</h3>",
        table("People -> employer links against truth", ["Metric", "Person records", "Persons"], rows),
        facts([("Records naming an employer held by a partner (linkable)", pg.n(r.get("linkable"))),
               ("Records linked", pg.n(r.get("linked"))), ("linked rightly", pg.n(r.get("right"))),
               ("linked wrongly", pg.n(r.get("wrong"))), ("Person-employer links", pg.n(q.get("links"))),
               ("Linkable persons found", pg.n(q.get("persons_found")))]),
        note("A linked record is right when its employer cluster stands for the true employer of most "
             "of that cluster's records; a record whose employer no partner holds should link to "
             "nothing."),
    ]


def _column_heading(c: str, labels: Mapping[str, str]) -> str:
    names = {"pace_employer_id": "Employer (pace_employer_id)", "employer_partners": "Partners holding the employer",
             "people_sum_over_partners": "People, summed over partners", "people_distinct": "Distinct people"}
    if c in names:
        return names[c]
    return f"People seen by {labels.get(c[7:], c[7:])}" if c.startswith("people_") else c


def _per_employer(pe: Mapping[str, Any], pg: Page, labels: Mapping[str, str]) -> list[str]:
    """The affected people per employer, by partner (the producer's suppression kept)."""
    tab = pe.get("per_employer") or {}
    cols, rows_in = tab.get("columns") or [], tab.get("rows") or []
    if not (cols and rows_in):
        return []
    k = (pe.get("settings") or {}).get("small_count_threshold") or 0
    body = []
    for row in rows_in:
        cells = []
        for c, v in zip(cols, row, strict=True):
            if c == "pace_employer_id":
                cells.append(f"<code>{escape(str(v))}</code>")
            elif c == "employer_partners":
                cells.append(escape(", ".join(str(v).split(";")) if v else "–"))
            else:
                cells.append(shown(v, pg))
        body.append(cells)
    hidden = (f"Counts from 1 to {k - 1} are shown as *, with further cells hidden where the sum over partners "
              "would give them away; " if k > 1 else "")
    return [
        "<h3>Affected people per employer, by partner</h3>",
        table(f"Employers by affected people (first {len(rows_in)} of {tab.get('total_rows')})",
              [_column_heading(c, labels) for c in cols], body, numeric_from=2),
        note("People are distinct persons (pace_id) whose records link to the employer. " + hidden
             + "employer_people.csv holds every employer."),
    ]


def _together(pe: Mapping[str, Any], pg: Page, lab: Callable[[str], str], labels: Mapping[str, str]) -> list[str]:
    """Employers each pair of partners both worked with."""
    tog = pe.get("partners_together") or {}
    partners = tog.get("partners") or []
    if not partners:
        return []
    rows = [[lab(a), *[shown(v, pg) for v in row]] for a, row in zip(partners, tog.get("matrix") or [], strict=True)]
    return [
        "<h3>Which partners worked with the same employers</h3>",
        table("Employers both partners worked with (diagonal: employers the partner worked with)",
              ["Partner", *[labels.get(p, p) for p in partners]], rows),
        note("A partner with employer records works with an employer when it holds a record of it; a "
             "partner with client records when at least one of its clients' records names it."),
    ]


def people_employers(m: Mapping[str, Any], pg: Page) -> str | None:
    """The people -> employers section: how records were linked, accuracy, people per employer, partners."""
    pe = m.get("people_employers")
    if not isinstance(pe, Mapping):
        return None
    labels = pe.get("labels") or {}

    def lab(src: str) -> str:
        return escape(str(labels.get(src) or src))

    parts = _how_linked(pe, pg)
    acc = pe.get("accuracy")
    if isinstance(acc, Mapping):
        parts += _accuracy(acc, pg)
    parts += _per_employer(pe, pg, labels)
    parts += _together(pe, pg, lab, labels)
    return "".join(parts)


PEOPLE_EMPLOYERS = Section(50, "people-employers", "People and their employers", ("people_employers",),
                           people_employers)

__all__ = ["HOW_LABELS", "PEOPLE_EMPLOYERS", "people_employers", "shown"]
