"""A report section: where it goes on the page, its heading, the metrics keys it shows and its renderer.

A page is rendered from a list of sections (:func:`pace_linkage.report.render.render_report`), sorted by
:attr:`Section.order`. The core sections are listed in :data:`pace_linkage.report.render.CORE_SECTIONS`; a
study feature adds its own through :meth:`pace_linkage.features.Feature.sections`. A renderer returns the
section's inner HTML, or None to leave the section out (its metrics are absent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pace_linkage.report.page import Page

Renderer = Callable[[Mapping[str, Any], Page], "str | None"]


@dataclass(frozen=True)
class Section:
    """One section of a report page."""

    order: int  # place on the page; sections are rendered sorted by it
    anchor: str  # the section's HTML id (and the table of contents' link)
    heading: str
    keys: tuple[str, ...]  # metrics keys it renders (other keys get the generic tables)
    render: Renderer


__all__ = ["Renderer", "Section"]
