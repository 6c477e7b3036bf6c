"""The HTML quality report: aggregates in, one self-contained HTML page out (see :mod:`.render`).

:mod:`.page` holds the building blocks a section renderer uses, :mod:`.section` the :class:`Section`
record, and one module per family of core sections (:mod:`.summary`, :mod:`.sources`, :mod:`.linkage`,
:mod:`.quality`, :mod:`.partners`); :mod:`.charts` builds the charts (Vega-Lite specs drawn by the vendored Vega).
"""

from pace_linkage.report.render import CORE_SECTIONS, render_markdown_summary, render_report
from pace_linkage.report.section import Section

__all__ = ["CORE_SECTIONS", "Section", "render_markdown_summary", "render_report"]
