"""A small inline-SVG chart kit: the report's charts drawn in Python, no JavaScript, no external files.

Every function returns one ``<svg>`` element as a string, with explicit ``width``/``height`` and a
``viewBox``, ``role="img"`` and a ``<title>``/``<desc>`` pair referenced by ``aria-labelledby``, so a
screen reader announces what the chart is (the report also puts a data table beside each chart).
Output is deterministic: coordinates are rounded to one decimal and nothing depends on time or
hashing. A value of ``None`` means "not shown" (e.g. a suppressed small count): no mark is drawn
and its tooltip reads ``*``.

The palette is Okabe-Ito (distinguishable with the common colour-vision deficiencies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MARKER_STYLES = [("#000000", "6 3"), ("#CC79A7", "2 2"), ("#666666", "8 3 2 3")]  # distinct from the lines
FONT = 12
CHAR_W = 7.2  # approximate width of one character at FONT px, for layout
WIDTH = 720

Number = float | int | None


# --------------------------------------------------------------------------------------------------
# Primitives
# --------------------------------------------------------------------------------------------------
def fmt(x: float) -> str:
    """A coordinate: one decimal, no trailing ``.0``, no ``-0``."""
    s = f"{x:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def label(x: float) -> str:
    """A human number for ticks and tooltips (thousands separators, up to 4 significant decimals)."""
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def _attrs(**kw: object) -> str:
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        name = k.rstrip("_").replace("_", "-")
        parts.append(f'{name}="{escape(str(v))}"')
    return " ".join(parts)


def text(x: float, y: float, s: str, *, anchor: str = "start", size: int = FONT, cls: str | None = None,
         rotate: float | None = None, weight: str | None = None) -> str:
    transform = f"rotate({fmt(rotate)} {fmt(x)} {fmt(y)})" if rotate else None
    a = _attrs(x=fmt(x), y=fmt(y), text_anchor=anchor, font_size=size, class_=cls, transform=transform,
               font_weight=weight)
    return f"<text {a}>{escape(s)}</text>"


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str | None = None, cls: str | None = None) -> str:
    a = _attrs(x=fmt(x), y=fmt(y), width=fmt(max(w, 0)), height=fmt(max(h, 0)), fill=fill, class_=cls)
    if tip:
        return f"<rect {a}><title>{escape(tip)}</title></rect>"
    return f"<rect {a}/>"


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = "#444", width: float = 1,
         dash: str | None = None, cls: str | None = None) -> str:
    a = _attrs(x1=fmt(x1), y1=fmt(y1), x2=fmt(x2), y2=fmt(y2), stroke=stroke, stroke_width=fmt(width),
               stroke_dasharray=dash, class_=cls)
    return f"<line {a}/>"


def svg(chart_id: str, width: float, height: float, title: str, desc: str, body: Sequence[str]) -> str:
    """Wrap chart elements in an accessible, self-describing ``<svg>`` root."""
    w, h = fmt(width), fmt(height)
    head = (
        f'<svg {_attrs(id=chart_id, class_="chart", width=w, height=h, viewBox=f"0 0 {w} {h}")} role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" font-family="system-ui, sans-serif">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc id="{escape(chart_id)}-d">{escape(desc)}</desc>'
    )
    return head + "".join(body) + "</svg>"


def nice_ticks(lo: float, hi: float, n: int = 5, cover: bool = True) -> list[float]:
    """About ``n`` round tick values (steps of 1, 2 or 5 x 10^k) for [lo, hi].

    With ``cover`` the ticks reach just beyond both ends (an axis is then extended to them);
    without, only ticks inside [lo, hi] are returned.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    eps = step * 1e-9
    first = math.floor((lo + eps) / step) if cover else math.ceil((lo - eps) / step)
    last = math.ceil((hi - eps) / step) if cover else math.floor((hi + eps) / step)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _extent(values: Sequence[Number], include_zero: bool = True) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def _truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out, cx = [], x
    for i, name in enumerate(names):
        out.append(rect(cx, y - 9, 10, 10, PALETTE[i % len(PALETTE)]))
        out.append(text(cx + 14, y, name))
        cx += 14 + len(name) * CHAR_W + 16
    return out


def _tip(category: str, series: str | None, v: Number) -> str:
    shown = "*" if v is None else label(v)
    return f"{category} – {series}: {shown}" if series else f"{category}: {shown}"


# --------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------
def hbar_chart(
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number]]],
    *,
    title: str,
    desc: str,
    stacked: bool = False,
    x_label: str = "",
    log: bool = False,
    width: float = WIDTH,
) -> str:
    """Horizontal bars, one band per category: grouped (one bar per series) or stacked.

    Unstacked bars may be negative (drawn left of the zero line), which suits match weights. With
    ``log`` (non-negative, unstacked values) the axis is log10(1 + v), for counts spanning decades.
    """
    n_series = max(len(series), 1)
    label_chars = min(max((len(c) for c in categories), default=4), 36)
    left = 12 + label_chars * CHAR_W
    top = 28 if n_series > 1 else 10
    bar_h = 14 if stacked or n_series == 1 else 10
    band = (bar_h if stacked else bar_h * n_series) + 8
    plot_h = max(band * len(categories), band)
    height = top + plot_h + 40
    plot_w = width - left - 24

    if stacked:
        totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(categories))]
        lo, hi = _extent(totals)
    else:
        lo, hi = _extent([v for _, vals in series for v in vals])
    if log:
        lo, hi = 0.0, max(hi, 1.0)
        ticks = [0.0] + [10.0**k for k in range(0, math.floor(math.log10(hi)) + 1)]
        hi = 10 ** (math.log10(1 + hi) * 1.04) - 1  # a little headroom past the longest bar

        def sx(v: float) -> float:
            return left + math.log10(1 + max(v, 0.0)) / math.log10(1 + hi) * plot_w
    else:
        ticks = nice_ticks(lo, hi)
        lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

        def sx(v: float) -> float:
            return left + (v - lo) / (hi - lo) * plot_w

    body: list[str] = []
    if n_series > 1:
        body += _legend([name for name, _ in series], left, 16)
    for t in ticks:
        body.append(line(sx(t), top, sx(t), top + plot_h, stroke="#ddd"))
        body.append(text(sx(t), top + plot_h + 14, label(t), anchor="middle", size=10))
    body.append(line(sx(0), top, sx(0), top + plot_h, stroke="#444"))
    for i, cat in enumerate(categories):
        y0 = top + i * band + 4
        body.append(text(left - 6, y0 + (band - 8) / 2 + 4, _truncate(cat, 36), anchor="end"))
        acc = 0.0
        for j, (name, vals) in enumerate(series):
            v = vals[i]
            colour = PALETTE[j % len(PALETTE)]
            tip = _tip(cat, name if n_series > 1 else None, v)
            if v is None or not math.isfinite(float(v)):
                continue
            v = float(v)
            if stacked:
                body.append(rect(sx(acc), y0, sx(acc + v) - sx(acc), bar_h, colour, tip))
                acc += v
            else:
                y = y0 + j * bar_h
                x0, x1 = sorted((sx(0), sx(v)))
                if v < 0 and n_series == 1:
                    colour = PALETTE[5]  # negative evidence in a contrasting colour
                body.append(rect(x0, y, x1 - x0, bar_h - 1, colour, tip))
    if x_label:
        body.append(text(left + plot_w / 2, height - 6, x_label, anchor="middle", size=11))
    return svg(chart_id, width, height, title, desc, body)


def histogram(
    chart_id: str,
    edges: Sequence[float],
    counts: Sequence[Number],
    *,
    title: str,
    desc: str,
    x_label: str = "",
    y_label: str = "",
    markers: Sequence[tuple[float, str]] = (),
    width: float = WIDTH,
    height: float = 300,
) -> str:
    """Vertical bars over numeric bins ``edges[i]..edges[i+1]``, with optional vertical markers."""
    left, right, top, bottom = 64, 20, 16 + 14 * len(markers), 44
    plot_w, plot_h = width - left - right, height - top - bottom
    x_lo, x_hi = (float(edges[0]), float(edges[-1])) if len(edges) >= 2 else (0.0, 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    _, y_hi = _extent(counts)
    yt = nice_ticks(0, y_hi)
    y_hi = max(y_hi, yt[-1])

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - v / y_hi * plot_h

    body: list[str] = []
    for t in yt:
        body.append(line(left, sy(t), left + plot_w, sy(t), stroke="#ddd"))
        body.append(text(left - 6, sy(t) + 4, label(t), anchor="end", size=10))
    for t in nice_ticks(x_lo, x_hi, 8, cover=False):
        body.append(text(sx(t), top + plot_h + 14, label(t), anchor="middle", size=10))
    for i, c in enumerate(counts):
        if i + 1 >= len(edges):
            break
        a, b = float(edges[i]), float(edges[i + 1])
        tip = f"{label(a)} to {label(b)}: {'*' if c is None else label(c)}"
        if c is None:
            continue
        body.append(rect(sx(a) + 0.5, sy(float(c)), max(sx(b) - sx(a) - 1, 0.5), sy(0) - sy(float(c)),
                         PALETTE[0], tip))
    body.append(line(left, sy(0), left + plot_w, sy(0)))
    body += _markers(markers, sx, x_lo, x_hi, top, plot_h)
    if x_label:
        body.append(text(left + plot_w / 2, height - 8, x_label, anchor="middle", size=11))
    if y_label:
        body.append(text(14, top + plot_h / 2, y_label, anchor="middle", size=11, rotate=-90))
    return svg(chart_id, width, height, title, desc, body)


def _markers(markers: Sequence[tuple[float, str]], sx, lo: float, hi: float, top: float, plot_h: float) -> list[str]:
    """Vertical dashed lines at ``x`` with a label above; labels stack so they never overlap."""
    out = []
    mid = sx(lo + 0.7 * (hi - lo))
    for k, (x, name) in enumerate(markers):
        if x is None or not (lo <= x <= hi):
            continue
        colour, dash = MARKER_STYLES[k % len(MARKER_STYLES)]
        px = sx(x)
        out.append(line(px, top, px, top + plot_h, stroke=colour, width=1.5, dash=dash))
        y = top - 4 - 14 * (len(markers) - 1 - k)
        right = px > mid  # near the right edge: label to the left of the line
        out.append(text(px - 3 if right else px + 3, y, f"{name} ({label(x)})", size=11,
                        anchor="end" if right else "start"))
        out.append(line(px, y + 2, px, top, stroke=colour, width=0.75))
    return out


def line_chart(
    chart_id: str,
    x: Sequence[float],
    series: Sequence[tuple[str, Sequence[Number]]],
    *,
    title: str,
    desc: str,
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = (0.0, 1.0),
    markers: Sequence[tuple[float, str]] = (),
    width: float = WIDTH,
    height: float = 340,
) -> str:
    """Lines (with point marks) of each series against ``x``; vertical dashed ``markers`` labelled."""
    left, right, bottom = 56, 20, 44
    top = 34 + 14 * len(markers)
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [float(v) for v in x]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    for mx, _ in markers:
        if mx is not None:
            x_lo, x_hi = min(x_lo, mx), max(x_hi, mx)
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 0.05, x_hi + 0.05
    y_lo, y_hi = y_range if y_range else _extent([v for _, vals in series for v in vals], include_zero=False)
    if y_hi <= y_lo:  # e.g. every score 1.0: give the flat line some room
        y_lo = y_hi - 0.1

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y_lo) / (y_hi - y_lo) * plot_h

    body: list[str] = _legend([name for name, _ in series], left, 16)
    for t in nice_ticks(y_lo, y_hi):
        body.append(line(left, sy(t), left + plot_w, sy(t), stroke="#ddd"))
        body.append(text(left - 6, sy(t) + 4, label(t), anchor="end", size=10))
    for t in nice_ticks(x_lo, x_hi, 8, cover=False):
        body.append(line(sx(t), top + plot_h, sx(t), top + plot_h + 4))
        body.append(text(sx(t), top + plot_h + 16, label(t), anchor="middle", size=10))
    body.append(line(left, top + plot_h, left + plot_w, top + plot_h))
    body.append(line(left, top, left, top + plot_h))
    for j, (name, vals) in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        pts = [(sx(xv), sy(float(v)), xv, v) for xv, v in zip(xs, vals, strict=False)
               if v is not None and math.isfinite(float(v))]
        if len(pts) > 1:
            d = " ".join(f"{fmt(px)},{fmt(py)}" for px, py, _, _ in pts)
            body.append(f'<polyline {_attrs(points=d, fill="none", stroke=colour, stroke_width=2)}/>')
        for px, py, xv, v in pts:
            body.append(f'<circle {_attrs(cx=fmt(px), cy=fmt(py), r=3, fill=colour)}>'
                        f"<title>{escape(f'{name} at {label(xv)}: {label(v)}')}</title></circle>")
    body += _markers(markers, sx, x_lo, x_hi, top, plot_h)
    if x_label:
        body.append(text(left + plot_w / 2, height - 8, x_label, anchor="middle", size=11))
    if y_label:
        body.append(text(14, top + plot_h / 2, y_label, anchor="middle", size=11, rotate=-90))
    return svg(chart_id, width, height, title, desc, body)


def _blend(t: float) -> str:
    """White (t=0) to dark blue (t=1)."""
    t = min(max(t, 0.0), 1.0)
    lo, hi = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    chart_id: str,
    rows: Sequence[str],
    cols: Sequence[str],
    shade: Sequence[Sequence[float | None]],
    cell_text: Sequence[Sequence[str]],
    *,
    title: str,
    desc: str,
    cell: float = 34,
) -> str:
    """A grid of cells; ``shade`` in [0, 1] sets the colour (None: hatched grey, e.g. suppressed or
    not applicable) and ``cell_text`` is printed in each cell and in its tooltip."""
    row_chars = min(max((len(r) for r in rows), default=4), 36)
    col_chars = min(max((len(c) for c in cols), default=4), 24)
    cell_w = max(cell, 8 + max((len(t) for r in cell_text for t in r), default=2) * 6.2)
    left = 12 + row_chars * CHAR_W
    top = 14 + col_chars * CHAR_W * 0.72
    width = left + cell_w * len(cols) + 20
    height = top + cell * len(rows) + 12
    body: list[str] = []
    for j, c in enumerate(cols):
        cx = left + cell_w * j + cell_w / 2
        body.append(text(cx, top - 6, _truncate(c, 24), rotate=-45, size=11))
    for i, r in enumerate(rows):
        y = top + cell * i
        body.append(text(left - 6, y + cell / 2 + 4, _truncate(r, 36), anchor="end"))
        for j, c in enumerate(cols):
            x = left + cell_w * j
            s = shade[i][j]
            t = cell_text[i][j]
            fill = "#eeeeee" if s is None else _blend(s)
            body.append(rect(x, y, cell_w - 1, cell - 1, fill, f"{r} – {c}: {t}"))
            ink = "#ffffff" if s is not None and s > 0.55 else "#222222"
            body.append(f'<text {_attrs(x=fmt(x + cell_w / 2), y=fmt(y + cell / 2 + 4), text_anchor="middle", font_size=10, fill=ink)}>{escape(t)}</text>')
    return svg(chart_id, width, height, title, desc, body)
