"""The HTML quality report: aggregates in, one self-contained HTML file out (see :mod:`.render`)."""

from pace_linkage.report.render import SECTIONS, render_markdown_summary, render_report

__all__ = ["SECTIONS", "render_markdown_summary", "render_report"]
