"""The report's "People and their employers" section (metrics key ``people_employers``, written by
:func:`pace_linkage.study.employers.people_employers_metrics`).

Shows how person records were linked to employers (by match level), how many persons carry an employer, the
accuracy against truth when there is one, the affected people each partner saw per employer (ids only, counts
already suppressed by the producer with its own threshold) and which partners worked with the same employers.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report.render import _cards, _facts, _is_num, _note, _p, _Page, _table

HOW_LABELS = {
    "exact_name": "Same business name",
    "trading_name": "Trading name agrees with the name",
    "core_name": "Same core name (legal form and generic words aside)",
    "similar_name": "Similar core name (same first word)",
    "ambiguous": "Ambiguous: two employers equally good (not linked)",
    "no_match": "No employer matched",
    "no_employer_recorded": "No employer recorded",
}


def _shown(v: Any, pg: _Page) -> str:
    """A count already suppressed by the producer (``*``) or a number to format."""
    return escape(str(v)) if not _is_num(v) else pg.n(v)


def people_employers_section(m: Mapping[str, Any], pg: _Page) -> str | None:
    pe = m.get("people_employers")
    if not isinstance(pe, Mapping):
        return None
    labels = pe.get("labels") or {}

    def lab(src: str) -> str:
        return escape(str(labels.get(src) or src))

    parts = []
    rec, per, emp = pe.get("records") or {}, pe.get("persons") or {}, pe.get("employers") or {}
    by_how = rec.get("by_how") or {}
    linked = sum(
        v for k, v in by_how.items() if k in ("exact_name", "trading_name", "core_name", "similar_name")
    )
    parts.append(
        _cards(
            [
                ("Person records", pg.n(rec.get("person_records"))),
                ("Linked to an employer", pg.n(linked)),
                ("Persons with an employer", pg.n(per.get("with_employer"))),
                ("Employers", pg.n(emp.get("employers"))),
                ("Employers with affected people", pg.n(emp.get("with_people"))),
            ]
        )
    )
    s = pe.get("settings") or {}
    parts.append(
        _note(
            "Each person record's employer, as the partner wrote it, is read as a business name (legal "
            "form and 't/a' trading name kept apart) and matched to the linked employers: the same name, a "
            "trading name or the same core name (generic words aside), else a similar core name (token-sort "
            f"similarity >= {_p(s.get('similarity_threshold'), 2)} with the first word agreeing). The same "
            "name with the same legal form wins; then the same legal form, then the same postcode area. Two "
            "equally good employers link neither. A person carries every employer any of its records links "
            "to."
        )
    )
    rows = [[escape(HOW_LABELS.get(k, k)), pg.n(v)] for k, v in by_how.items()]
    parts.append(_table("Person records by how their employer was matched", ["Match", "Records"], rows))
    parts.append(
        _facts(
            [
                ("Persons (pace_id)", pg.n(per.get("persons"))),
                ("with one or more employers", pg.n(per.get("with_employer"))),
                ("with more than one employer", pg.n(per.get("with_several_employers"))),
            ]
        )
    )

    acc = pe.get("accuracy")
    if isinstance(acc, Mapping):
        r, q = acc.get("records") or {}, acc.get("persons") or {}
        rows = [
            [name, _p(r.get(key)), _p(q.get(key))]
            for key, name in [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]
        ]
        parts.append("<h3>Accuracy against the truth</h3>")
        parts.append(
            _table("People -> employer links against truth", ["Metric", "Person records", "Persons"], rows)
        )
        parts.append(
            _facts(
                [
                    ("Records naming an employer held by a partner (linkable)", pg.n(r.get("linkable"))),
                    ("Records linked", pg.n(r.get("linked"))),
                    ("linked rightly", pg.n(r.get("right"))),
                    ("linked wrongly", pg.n(r.get("wrong"))),
                    ("Person-employer links", pg.n(q.get("links"))),
                    ("Linkable persons found", pg.n(q.get("persons_found"))),
                ]
            )
        )
        parts.append(
            _note(
                "A linked record is right when its employer cluster stands for the true employer of most "
                "of that cluster's records; a record whose employer no partner holds should link to "
                "nothing."
            )
        )

    table = pe.get("per_employer") or {}
    cols, rows_in = table.get("columns") or [], table.get("rows") or []
    if cols and rows_in:
        k = s.get("small_count_threshold") or 0
        heads = []
        for c in cols:
            if c == "pace_employer_id":
                heads.append("Employer (pace_employer_id)")
            elif c == "employer_partners":
                heads.append("Partners holding the employer")
            elif c == "people_sum_over_partners":
                heads.append("People, summed over partners")
            elif c == "people_distinct":
                heads.append("Distinct people")
            elif c.startswith("people_"):
                heads.append(f"People seen by {labels.get(c[7:], c[7:])}")
            else:
                heads.append(c)
        body = []
        for row in rows_in:
            cells = []
            for c, v in zip(cols, row, strict=True):
                if c == "pace_employer_id":
                    cells.append(f"<code>{escape(str(v))}</code>")
                elif c == "employer_partners":
                    cells.append(escape(", ".join(str(v).split(";")) if v else "–"))
                else:
                    cells.append(_shown(v, pg))
            body.append(cells)
        parts.append("<h3>Affected people per employer, by partner</h3>")
        parts.append(
            _table(
                f"Employers by affected people (first {len(rows_in)} of {table.get('total_rows')})",
                heads,
                body,
                numeric_from=2,
            )
        )
        parts.append(
            _note(
                "People are distinct persons (pace_id) whose records link to the employer. "
                + (
                    f"Counts from 1 to {k - 1} are shown as *, with further cells hidden where the sum over "
                    "partners "
                    "would give them away; "
                    if k > 1
                    else ""
                )
                + "employer_people.csv holds every employer."
            )
        )

    tog = pe.get("partners_together") or {}
    parts_ = tog.get("partners") or []
    if parts_:
        rows = [
            [lab(a), *[_shown(v, pg) for v in row]]
            for a, row in zip(parts_, tog.get("matrix") or [], strict=True)
        ]
        parts.append("<h3>Which partners worked with the same employers</h3>")
        parts.append(
            _table(
                "Employers both partners worked with (diagonal: employers the partner worked with)",
                ["Partner", *[labels.get(p, p) for p in parts_]],
                rows,
            )
        )
        parts.append(
            _note(
                "A partner with employer records works with an employer when it holds a record of it; a "
                "partner with client records when at least one of its clients' records names it."
            )
        )
    return "".join(parts)
