"""The building blocks of a report page: the per-render :class:`Page`, number formatting and small-count
suppression, and HTML pieces (tables, figures, facts, cards, notes).

Every piece escapes the dynamic text it is given, except table cells and fact values, which arrive as
already formatted and escaped HTML (the formatters below return escaped text). A section renderer
(:class:`pace_linkage.report.section.Section`) builds its HTML from these pieces only.

Small-count suppression: with ``small_count_threshold`` = k > 0, :meth:`Page.n` shows every count in
1..k-1 as ``*``, :meth:`Page.v` gives no chart mark for it, and :meth:`Page.rate` gives no rate whose
numerator or denominator is suppressed.

Wording: a page's sections speak of the linked entity through :attr:`Page.words` (person / persons / people
and ``pace_id`` for people; employer / employers and ``pace_employer_id`` for employers), taken from the
metrics' ``run.entity`` and ``run.id_column``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from pace_linkage.redact import SUPPRESSED, suppress_small

DASH = "–"


def is_num(v: Any) -> bool:
    """A number to format (int or float, not bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass(frozen=True)
class EntityWords:
    """The nouns a page uses for the linked entity and its id column. For people ``people`` is the plural used
    in prose ("people per employer"); for other entities it is the plain plural."""

    person: str = "person"
    persons: str = "persons"
    people: str = "people"
    id: str = "pace_id"

    @property
    def Person(self) -> str:  # noqa: N802 - the capitalised word, as written at the start of a sentence
        return self.person.capitalize()

    @property
    def Persons(self) -> str:  # noqa: N802
        return self.persons.capitalize()

    @property
    def People(self) -> str:  # noqa: N802
        return self.people.capitalize()

    @property
    def ids(self) -> str:
        return self.id + "s"


def entity_words(entity: str | None, id_column: str | None = None) -> EntityWords:
    """The words for ``entity``: people (the default, and always ``pace_id``), or e.g. ``employer`` ->
    employer / employers and ``id_column`` (default ``pace_<entity>_id``)."""
    if not entity or entity == "person":
        return EntityWords()
    many = entity + "s"
    return EntityWords(entity, many, many, id_column or f"pace_{entity}_id")


class Page:
    """Per-render state: the metrics, the suppression threshold ``k``, the entity's :class:`EntityWords` and a
    deterministic chart-id counter (the n-th chart of a page always gets the same id)."""

    def __init__(self, metrics: Mapping[str, Any], small_count_threshold: int) -> None:
        self.m = metrics
        self.k = int(small_count_threshold or 0)
        run = metrics.get("run")
        run = run if isinstance(run, Mapping) else {}
        self.words = entity_words(run.get("entity"), run.get("id_column"))
        self._charts = 0

    def chart_id(self, name: str) -> str:
        """A unique, stable id for the page's next chart: ``chart-<n>-<name as a slug>``."""
        self._charts += 1
        return f"chart-{self._charts}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"

    def suppressed(self, v: Any) -> bool:
        """Whether a count is hidden by the small-count threshold."""
        return suppress_small(int(v), self.k) == SUPPRESSED if is_num(v) and float(v).is_integer() else False

    def n(self, v: Any) -> str:
        """A count for display: ``1,234``, ``*`` when suppressed, a dash when missing."""
        if v is None or not is_num(v) or (isinstance(v, float) and not math.isfinite(v)):
            return DASH if v is None else escape(str(v))
        if self.suppressed(v):
            return SUPPRESSED
        return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"

    def v(self, v: Any) -> float | None:
        """A count for chart geometry: None (no mark) when suppressed or missing."""
        if v is None or not is_num(v) or self.suppressed(v):
            return None
        return float(v)

    def rate(self, num: Any, den: Any) -> float | None:
        """``num / den``, or None when either is missing or suppressed, or ``den`` is zero."""
        if not (is_num(num) and is_num(den)) or not den or self.suppressed(num) or self.suppressed(den):
            return None
        return float(num) / float(den)

    def label(self, source: str) -> str:
        """A source as shown: ``Label (name)`` when the counts give it a label, else its name."""
        by = ((self.m.get("counts") or {}).get("by_source") or {})
        lab = (by.get(source) or {}).get("label") if isinstance(by.get(source), Mapping) else None
        return f"{lab} ({source})" if lab and lab != source else str(source)


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------
def fixed(x: Any, digits: int = 4) -> str:
    """A probability or proportion with fixed decimals; a dash when missing or not finite."""
    if not is_num(x) or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return f"{x:.{digits}f}"


def percent(x: float | None, digits: int = 1) -> str:
    """A share as a percentage; ``*`` for None (a suppressed rate)."""
    return SUPPRESSED if x is None else f"{100 * x:.{digits}f}%"


def short(x: Any) -> str:
    """A number with four significant digits (``0.0003100``, ``1.234e+04``); text escaped as it is."""
    if not is_num(x):
        return DASH if x is None else escape(str(x))
    if isinstance(x, float) and not math.isfinite(x):
        return escape(str(x))
    return f"{x:.4g}"


def humanise(key: str) -> str:
    """A metrics key as a heading: ``largest_cluster`` -> ``Largest cluster``."""
    return str(key).replace("_", " ").capitalize()


# --------------------------------------------------------------------------------------------------
# HTML building blocks
# --------------------------------------------------------------------------------------------------
def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int = 1,
          total: Sequence[str] | None = None) -> str:
    """A data table. Cells are formatted, *escaped* HTML; the first column is a row header; columns from
    ``numeric_from`` on are right-aligned numbers; ``total`` is a last row set apart."""
    head = "".join(
        f'<th scope="col"{" class=num" if i >= numeric_from else ""}>{escape(h)}</th>' for i, h in enumerate(headers)
    )

    def tr(cells: Sequence[str], cls: str = "") -> str:
        out = [f'<th scope="row">{cells[0]}</th>']
        out += [f'<td{" class=num" if i >= numeric_from else ""}>{c}</td>' for i, c in enumerate(cells[1:], 1)]
        return f"<tr{cls}>{''.join(out)}</tr>"

    body = "".join(tr(r) for r in rows)
    if total is not None:
        body += tr(total, ' class="total"')
    return (f'<div class="table-wrap"><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


SIDE_COLUMNS = 3  # a table with more columns goes below its chart, where every column has room


def figure(chart: str, caption: str, table_html: str = "", wide: bool = False) -> str:
    """A chart (:mod:`pace_linkage.report.charts`) with its caption, and the table giving its figures beside it,
    or below it when ``wide`` or when the table has more than :data:`SIDE_COLUMNS` columns (a narrow column
    would hide some behind a horizontal scroll)."""
    wide = wide or table_html.count('<th scope="col"') > SIDE_COLUMNS
    cls = "figure wide" if wide else "figure"
    return (f'<div class="{cls}"><figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>'
            f"{table_html}</div>")


def facts(items: Iterable[tuple[str, str]], cls: str = "facts") -> str:
    """A definition list of (name, formatted value) pairs."""
    inner = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f'<dl class="{cls}">{inner}</dl>'


def cards(items: Iterable[tuple[str, str]]) -> str:
    """Key figures as cards: (name, formatted value) pairs."""
    inner = "".join(f'<div class="card"><dt>{escape(k)}</dt><dd>{v}</dd></div>' for k, v in items)
    return f'<dl class="cards">{inner}</dl>'


def note(text: str) -> str:
    """A paragraph of explanation under a figure or table."""
    return f'<p class="note">{escape(text)}</p>'


def bullets(items: Iterable[Any]) -> str:
    """A bulleted list of plain text items."""
    return "<ul>" + "".join(f"<li>{escape(str(x))}</li>" for x in items) + "</ul>"


def asset(name: str) -> str:
    """A file shipped with the report package (``template.html``, ``style.css``)."""
    return resources.files("pace_linkage.report").joinpath(name).read_text(encoding="utf-8")


__all__ = ["DASH", "EntityWords", "Page", "asset", "bullets", "cards", "entity_words", "facts", "figure",
           "fixed", "humanise", "is_num", "note", "percent", "short", "table"]
