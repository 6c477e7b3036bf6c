"""Charts as Vega-Lite specs, drawn in the reader's browser by the vendored Vega (``report/vendor/``).

A spec is a plain dict with its data inline (``values``), built in a fixed key order with nothing random in
it, so a page holding it is byte-identical across reruns. :func:`embed` places one chart on a page (a ``div``
and its spec in a JSON block, which no browser executes); :func:`scripts` gives the vendored libraries and the
page's one small loader, once per page, as inline scripts whose sha256 digests :func:`csp_hashes` lists for the
page's Content-Security-Policy. Vega's expressions run through its interpreter (``ast: true``), so no page
needs 'unsafe-eval'. The loader also makes every table with more than a few rows sortable by its headings.

Labels are never cut: every axis and legend has ``labelLimit: 0`` and charts are padded to fit their text (a
wide chart is scaled down by the page, never clipped). Titles are not drawn inside the chart: the page puts
them in HTML, where they wrap. A value of ``None`` (a suppressed small count, say) gets no mark.

The spec builders (:func:`bar`, :func:`line`, :func:`histogram`, :func:`heatmap`) take rows (a list of
mappings); the report's own charts use the helpers below them (:func:`hbar_chart`, :func:`line_chart`,
:func:`histogram_chart`, :func:`heatmap_chart`), which return a chart's HTML. Palette: Okabe-Ito.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
NEGATIVE = "#D55E00"  # a bar of evidence against a match
WIDTH = 420  # the plot area's width in pixels; axes and legends are added around it
VENDOR = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "vega-interpreter.js")
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
Number = float | int | None
Rows = Sequence[Mapping[str, Any]]

LOADER = """(function () {
"use strict";
var opts = {mode: "vega-lite", ast: true, expr: vegaInterpreter.expressionInterpreter, renderer: "svg",
  actions: false};
var jobs = Array.prototype.map.call(document.querySelectorAll("div.vl-chart"), function (el) {
  var spec = JSON.parse(document.getElementById(el.id + "-spec").textContent);
  return vegaEmbed(el, spec, opts).catch(function (err) {
    el.textContent = "This chart could not be drawn (" + err.message + "); the table beside it has its figures.";
    throw err;
  });
});
Promise.allSettled(jobs).then(function () { document.documentElement.setAttribute("data-charts", "drawn"); });
function key(cell) {
  var t = cell.textContent.trim();
  var n = t.replace(/[,%\\s]/g, "");
  return (/^[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?$/i).test(n) ? [0, parseFloat(n), t] : [t === "*" || t === "\\u2013" ? 2 : 1, 0, t];
}
function compare(a, b) {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[0] === 0 && a[1] !== b[1]) return a[1] - b[1];
  return a[2].localeCompare(b[2], undefined, {numeric: true});
}
function sortable(table) {
  var body = table.tBodies[0];
  var head = table.tHead && table.tHead.rows[0];
  if (!body || !head || body.rows.length <= 5) return;
  Array.prototype.forEach.call(head.cells, function (th, col) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    while (th.firstChild) button.appendChild(th.firstChild);
    th.appendChild(button);
    button.addEventListener("click", function () {
      var down = th.getAttribute("aria-sort") === "ascending";
      Array.prototype.forEach.call(head.cells, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      var rows = Array.prototype.filter.call(body.rows, function (r) { return !r.classList.contains("total"); });
      var keyed = rows.map(function (r, i) { return [key(r.cells[col] || r.cells[0]), i, r]; });
      keyed.sort(function (a, b) { return (down ? -1 : 1) * compare(a[0], b[0]) || a[1] - b[1]; });
      var total = Array.prototype.filter.call(body.rows, function (r) { return r.classList.contains("total"); });
      keyed.forEach(function (k) { body.appendChild(k[2]); });
      total.forEach(function (r) { body.appendChild(r); });
    });
  });
}
Array.prototype.forEach.call(document.querySelectorAll("table"), sortable);
})();
"""


# --------------------------------------------------------------------------------------------------
# The page's scripts and their digests
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _sources() -> tuple[str, ...]:
    """The inline scripts, in load order: the vendored libraries (their source-map comments dropped: nothing
    to fetch) and the loader."""
    folder = resources.files("pace_linkage.report").joinpath("vendor")
    out = []
    for name in VENDOR:
        text = folder.joinpath(name).read_text(encoding="utf-8").rstrip()
        last = text.rfind("\n")
        if text[last + 1:].startswith("//# sourceMappingURL="):
            text = text[:last]
        out.append(text + "\n")
    return (*out, LOADER)


def scripts() -> str:
    """The vendored Vega libraries and the loader as inline ``<script>`` elements, once per page (after the
    charts: the loader draws every chart :func:`embed` placed, and makes long tables sortable)."""
    return "".join(f"<script>{s}</script>\n" for s in _sources())


def csp_hashes() -> list[str]:
    """The CSP source expressions (``'sha256-...'``) of the scripts :func:`scripts` inlines."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in _sources()]


def content_security_policy() -> str:
    """A page's policy: nothing loaded from anywhere, inline styles, and only the scripts of :func:`scripts`."""
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src "
            + " ".join(csp_hashes()))


def embed(spec: Mapping[str, Any], chart_id: str, *, description: str = "") -> str:
    """The HTML of one chart: a ``div`` the loader draws into, and the spec as a JSON block (``<``, ``>`` and
    ``&`` escaped, so no text in the data can end the block)."""
    data = json.dumps(spec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    data = data.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    cid = escape(chart_id)
    label = f' role="img" aria-label="{escape(description)}"' if description else ""
    return (f'<div class="vl-chart" id="{cid}"{label}></div>'
            f'<script type="application/json" id="{cid}-spec">{data}</script>')


# --------------------------------------------------------------------------------------------------
# Spec builders
# --------------------------------------------------------------------------------------------------
def _config() -> dict[str, Any]:
    guide = {"labelLimit": 0, "titleLimit": 0, "labelFontSize": 11, "titleFontSize": 12, "labelFont": FONT,
             "titleFont": FONT}
    return {"font": FONT, "padding": 8, "view": {"stroke": None}, "range": {"category": PALETTE},
            "axis": {**guide, "titleFontWeight": "normal", "labelOverlap": True},
            "legend": {**guide, "orient": "top", "direction": "horizontal", "columns": 3, "title": None,
                       "symbolLimit": 0}}


def _spec(description: str, width: Any, height: Any, **body: Any) -> dict[str, Any]:
    return {"description": description, "width": width, "height": height, "autosize": {"type": "pad"},
            "config": _config(), **body}


def _clean(v: Any) -> Any:
    """A JSON-safe value: non-finite floats as None, numpy-free."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def _values(rows: Rows) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in r.items()} for r in rows]


def _zoom(*encodings: str) -> list[dict[str, Any]]:
    """Drag to pan, wheel to zoom, double-click to reset (along ``encodings`` only, when named)."""
    select: Any = {"type": "interval", "encodings": list(encodings)} if encodings else "interval"
    return [{"name": "zoom", "select": select, "bind": "scales"}]


def _marker_layer(markers: Sequence[tuple[float | None, str]], field: str) -> list[dict[str, Any]]:
    """Dashed vertical rules at the markers' x, named in a legend of their own (names never overlap)."""
    vals = [{field: float(x), "marker": f"{name} ({label(x)})"} for x, name in markers
            if x is not None and math.isfinite(float(x))]
    if not vals:
        return []
    return [{"data": {"values": vals}, "mark": {"type": "rule", "strokeWidth": 1.5, "color": "#000000"},
             "encoding": {"x": {"field": field, "type": "quantitative"},
                          "strokeDash": {"field": "marker", "type": "nominal", "sort": None,
                                         "legend": {"orient": "bottom", "columns": 1}},
                          "tooltip": [{"field": "marker", "type": "nominal", "title": "marker"}]}}]


def _log_scale(rows: Rows, field: str) -> dict[str, Any]:
    """A symmetric log scale (zeros allowed) with ticks at 0 and the powers of ten up to the largest value."""
    top = max([float(r[field]) for r in rows if isinstance(r.get(field), int | float)] or [1.0])
    ticks = [0, *(10 ** k for k in range(int(math.log10(max(top, 1.0))) + 1))]
    return {"scale": {"type": "symlog"}, "axis": {"values": ticks, "format": ",.0f", "formatType": "number"}}


def bar(rows: Rows, x: str, y: str, *, color: str | None = None, stack: bool = False, log: bool = False,
        fill: str | None = None, x_title: str | None = None, y_title: str | None = None, width: int = WIDTH,
        description: str = "") -> dict[str, Any]:
    """Horizontal bars: ``x`` the quantitative field (length), ``y`` the category (one band per value, in
    the rows' order; long names are laid out whole). ``color`` names the series field: bars side by side, or
    stacked with ``stack``. ``fill`` names a field holding each bar's colour (a single series). ``log`` uses a
    symmetric log scale (counts over decades, zeros allowed)."""
    cats = list(dict.fromkeys(str(r[y]) for r in rows))
    series = list(dict.fromkeys(str(r[color]) for r in rows)) if color else []
    per = 1 if stack or not series else len(series)
    enc: dict[str, Any] = {
        "y": {"field": y, "type": "nominal", "sort": cats, "title": y_title, "axis": {"labelOverlap": False}},
        "x": {"field": x, "type": "quantitative", "title": x_title, "stack": "zero" if stack else None,
              **(_log_scale(rows, x) if log else {})},
        "tooltip": [{"field": y, "type": "nominal"}, *([{"field": color, "type": "nominal"}] if color else []),
                    {"field": x, "type": "quantitative", "format": ",.4~g"}],
    }
    if color:
        enc["color"] = {"field": color, "type": "nominal", "sort": series}
        if not stack:
            enc["yOffset"] = {"field": color, "type": "nominal", "sort": series}
    elif fill:
        enc["color"] = {"field": fill, "type": "nominal", "scale": None}
    height = max(len(cats), 1) * (per * 12 + 8)
    return _spec(description, width, height, data={"values": _values(rows)},
                 mark={"type": "bar", "tooltip": True}, encoding=enc)


def line(rows: Rows, x: str, y: str, *, color: str | None = None, markers: Sequence[tuple[float | None, str]] = (),
         y_domain: tuple[float, float] | None = None, x_title: str | None = None, y_title: str | None = None,
         width: int = WIDTH, height: int = 240, zoom: bool = True, description: str = "") -> dict[str, Any]:
    """Lines with points of ``y`` against ``x``, one per value of ``color``; dashed ``markers`` (x, name);
    ``y_domain`` fixes the y scale (e.g. zoomed to the top of 0..1); ``zoom`` lets the reader zoom and pan."""
    series = list(dict.fromkeys(str(r[color]) for r in rows)) if color else []
    enc: dict[str, Any] = {
        "x": {"field": x, "type": "quantitative", "title": x_title, "scale": {"zero": False}},
        "y": {"field": y, "type": "quantitative", "title": y_title,
              "scale": {"domain": list(y_domain), "clamp": True} if y_domain else {"zero": False}},
        "tooltip": [*([{"field": color, "type": "nominal"}] if color else []),
                    {"field": x, "type": "quantitative", "format": ",.4~g"},
                    {"field": y, "type": "quantitative", "format": ",.4~g"}],
    }
    if color:
        enc["color"] = {"field": color, "type": "nominal", "sort": series}
    main = {"mark": {"type": "line", "point": True, "clip": True}, "encoding": enc,
            **({"params": _zoom()} if zoom else {})}
    return _spec(description, width, height, data={"values": _values(rows)},
                 layer=[main, *_marker_layer(markers, x)])


def histogram(rows: Rows, start: str, end: str, count: str, *, markers: Sequence[tuple[float | None, str]] = (),
              x_title: str | None = None, y_title: str | None = None, width: int = WIDTH, height: int = 220,
              zoom: bool = True, description: str = "") -> dict[str, Any]:
    """Bars over numeric bins ``start``..``end`` of height ``count``, with dashed ``markers``; zoomable."""
    enc = {"x": {"field": start, "type": "quantitative", "title": x_title, "scale": {"zero": False}},
           "x2": {"field": end},
           "y": {"field": count, "type": "quantitative", "title": y_title, "stack": None, "scale": {"zero": True}},
           "y2": {"datum": 0},
           "tooltip": [{"field": start, "type": "quantitative", "format": ",.4~g", "title": "from"},
                       {"field": end, "type": "quantitative", "format": ",.4~g", "title": "to"},
                       {"field": count, "type": "quantitative", "format": ","}]}
    main = {"mark": {"type": "bar", "binSpacing": 1, "clip": True, "color": PALETTE[0]}, "encoding": enc,
            **({"params": _zoom("x")} if zoom else {})}
    return _spec(description, width, height, data={"values": _values(rows)},
                 layer=[main, *_marker_layer(markers, start)])


def heatmap(rows: Rows, x: str, y: str, *, fill: str, ink: str, text: str, cell: int = 30,
            cell_width: int | None = None, description: str = "") -> dict[str, Any]:
    """A grid: ``x`` the column, ``y`` the row (both in the rows' order), each cell coloured by the colour in
    ``fill`` and printed with ``text`` in the colour ``ink``. Column names are angled, never cut."""
    cols = list(dict.fromkeys(str(r[x]) for r in rows))
    lines_ = list(dict.fromkeys(str(r[y]) for r in rows))
    wide = cell_width or max(cell, 10 + max((len(str(r[text])) for r in rows), default=2) * 6)
    enc = {"x": {"field": x, "type": "nominal", "sort": cols, "title": None,
                 "axis": {"orient": "top", "labelAngle": -45, "labelOverlap": False, "domain": False, "ticks": False}},
           "y": {"field": y, "type": "nominal", "sort": lines_, "title": None,
                 "axis": {"labelOverlap": False, "domain": False, "ticks": False}}}
    tip = [{"field": y, "type": "nominal"}, {"field": x, "type": "nominal"}, {"field": text, "type": "nominal"}]
    return _spec(description, {"step": wide}, {"step": cell}, data={"values": _values(rows)}, encoding=enc,
                 layer=[{"mark": {"type": "rect", "stroke": "#ffffff"},
                         "encoding": {"color": {"field": fill, "type": "nominal", "scale": None}, "tooltip": tip}},
                        {"mark": {"type": "text", "fontSize": 10},
                         "encoding": {"text": {"field": text, "type": "nominal"},
                                      "color": {"field": ink, "type": "nominal", "scale": None},
                                      "tooltip": tip}}])


# --------------------------------------------------------------------------------------------------
# The report's charts: each returns the chart's HTML (its title in HTML, the chart, drawn by the loader)
# --------------------------------------------------------------------------------------------------
def label(x: float) -> str:
    """A human number (thousands separators, up to 4 significant decimals)."""
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def chart_html(spec: Mapping[str, Any], chart_id: str, title: str, desc: str) -> str:
    """A chart's title (HTML, so it wraps), then the chart, described for screen readers."""
    return f'<p class="chart-title">{escape(title)}</p>{embed(spec, chart_id, description=f"{title}. {desc}")}'


def _num(v: Number) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def hbar_chart(chart_id: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[Number]]], *,
               title: str, desc: str, stacked: bool = False, x_label: str = "", log: bool = False,
               width: int = WIDTH) -> str:
    """Horizontal bars, one band per category: grouped (one bar per series) or stacked. A single series may be
    negative (drawn in a contrasting colour: evidence against a match); ``log`` for counts over decades."""
    many = len(series) > 1
    rows = []
    for i, cat in enumerate(categories):
        for name, vals in series:
            v = _num(vals[i])
            row: dict[str, Any] = {"category": str(cat), "value": v}
            if many:
                row["series"] = str(name)
            else:
                row["fill"] = NEGATIVE if v is not None and v < 0 else PALETTE[0]
            rows.append(row)
    spec = bar(rows, "value", "category", color="series" if many else None, fill=None if many else "fill",
               stack=stacked, log=log, x_title=x_label or None, width=width, description=desc)
    return chart_html(spec, chart_id, title, desc)


def line_chart(chart_id: str, x: Sequence[float], series: Sequence[tuple[str, Sequence[Number]]], *, title: str,
               desc: str, x_label: str = "", y_label: str = "", y_range: tuple[float, float] | None = (0.0, 1.0),
               markers: Sequence[tuple[float | None, str]] = (), width: int = WIDTH, height: int = 240) -> str:
    """Lines (with points) of each series against ``x``; dashed ``markers`` named in a legend."""
    rows = [{"x": float(xv), "y": _num(v), "series": str(name)}
            for name, vals in series for xv, v in zip(x, vals, strict=False) if _num(v) is not None]
    spec = line(rows, "x", "y", color="series", markers=markers, y_domain=y_range, x_title=x_label or None,
                y_title=y_label or None, width=width, height=height, description=desc)
    return chart_html(spec, chart_id, title, desc)


def histogram_chart(chart_id: str, edges: Sequence[float], counts: Sequence[Number], *, title: str, desc: str,
                    x_label: str = "", y_label: str = "", markers: Sequence[tuple[float | None, str]] = (),
                    width: int = WIDTH, height: int = 220) -> str:
    """Bars over the bins ``edges[i]..edges[i+1]`` (a suppressed count: no bar), zoomable, with markers."""
    rows = [{"from": float(a), "to": float(b), "count": _num(c)}
            for a, b, c in zip(edges[:-1], edges[1:], counts, strict=False)]
    spec = histogram(rows, "from", "to", "count", markers=markers, x_title=x_label or None,
                     y_title=y_label or None, width=width, height=height, description=desc)
    return chart_html(spec, chart_id, title, desc)


def blend(t: float) -> str:
    """White (t=0) to dark blue (t=1)."""
    t = min(max(t, 0.0), 1.0)
    lo, hi = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(a + (z - a) * t) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_chart(chart_id: str, rows: Sequence[str], cols: Sequence[str], shade: Sequence[Sequence[float | None]],
                  cell_text: Sequence[Sequence[str]], *, title: str, desc: str, cell: int = 30) -> str:
    """A grid of cells; ``shade`` in [0, 1] sets the colour (None: grey, e.g. suppressed or not applicable) and
    ``cell_text`` is printed in each cell and its tooltip."""
    values = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            s = shade[i][j]
            values.append({"row": str(r), "column": str(c), "text": str(cell_text[i][j]),
                           "fill": "#eeeeee" if s is None else blend(s),
                           "ink": "#ffffff" if s is not None and s > 0.55 else "#222222"})
    spec = heatmap(values, "column", "row", fill="fill", ink="ink", text="text", cell=cell, description=desc)
    return chart_html(spec, chart_id, title, desc)


__all__ = ["NEGATIVE", "PALETTE", "VENDOR", "WIDTH", "bar", "blend", "chart_html", "content_security_policy",
           "csp_hashes", "embed", "hbar_chart", "heatmap", "heatmap_chart", "histogram", "histogram_chart", "label",
           "line", "line_chart", "scripts"]
