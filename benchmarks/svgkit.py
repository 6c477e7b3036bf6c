"""The few inline-SVG primitives the reference benchmark's chart (``reference.svg``, a file that opens on its own,
without a browser's JavaScript) is drawn with: text, rectangles, lines, an accessible ``<svg>`` root and round
axis ticks. Coordinates are rounded to one decimal; nothing depends on time or hashing. Palette: Okabe-Ito."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
FONT = 12


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


def attrs(**kw: object) -> str:
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
    a = attrs(x=fmt(x), y=fmt(y), text_anchor=anchor, font_size=size, class_=cls, transform=transform,
               font_weight=weight)
    return f"<text {a}>{escape(s)}</text>"


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str | None = None, cls: str | None = None) -> str:
    a = attrs(x=fmt(x), y=fmt(y), width=fmt(max(w, 0)), height=fmt(max(h, 0)), fill=fill, class_=cls)
    if tip:
        return f"<rect {a}><title>{escape(tip)}</title></rect>"
    return f"<rect {a}/>"


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = "#444", width: float = 1,
         dash: str | None = None, cls: str | None = None) -> str:
    a = attrs(x1=fmt(x1), y1=fmt(y1), x2=fmt(x2), y2=fmt(y2), stroke=stroke, stroke_width=fmt(width),
               stroke_dasharray=dash, class_=cls)
    return f"<line {a}/>"


def svg(chart_id: str, width: float, height: float, title: str, desc: str, body: Sequence[str]) -> str:
    """Wrap chart elements in an accessible, self-describing ``<svg>`` root."""
    w, h = fmt(width), fmt(height)
    head = (
        f'<svg {attrs(id=chart_id, class_="chart", width=w, height=h, viewBox=f"0 0 {w} {h}")} role="img" '
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


__all__ = ["PALETTE", "attrs", "fmt", "label", "line", "nice_ticks", "rect", "svg", "text"]
