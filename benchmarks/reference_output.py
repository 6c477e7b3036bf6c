"""The reference benchmark's outputs: the markdown table (with the 'target met?' verdicts) and the SVG chart of
F1 and wall time per dataset and tool (``benchmarks/bench_reference.py`` writes them; counts and timings only)."""

from __future__ import annotations

import math

TOOLS = ["ours", "toolkit", "splink"]
TOOL_LABEL = {"ours": "pace-linkage", "toolkit": "recordlinkage ECM", "splink": "Splink 5 (DuckDB)"}
MEMORY_TARGET_GB = 8.0


def _f(v, nd: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def target_verdict(row_ours: dict, row_splink: dict | None, dataset: dict) -> tuple[str, list[str]]:
    """The 'target met?' cell for ours and the list of misses: F1 >= Splink's, wall time <= Splink's,
    and at 1M records peak memory under 8 GB."""
    if "error" in row_ours:
        return "not run", ["ours did not run"]
    parts, misses = [], []
    if row_splink is not None and "error" not in row_splink:
        f1_ok = row_ours["f1"] >= row_splink["f1"]
        t_ok = row_ours["wall_s"] <= row_splink["wall_s"]
        parts += [f"F1 {'yes' if f1_ok else 'NO'}", f"time {'yes' if t_ok else 'NO'}"]
        misses += [] if f1_ok else ["F1 below Splink's"]
        misses += [] if t_ok else ["wall time above Splink's"]
    else:
        parts.append("vs Splink: n/a")
    if dataset.get("target_records", 0) >= 1_000_000:
        m_ok = row_ours["peak_gb"] < MEMORY_TARGET_GB
        parts.append(f"memory {'yes' if m_ok else 'NO'}")
        misses += [] if m_ok else [f"peak memory {row_ours['peak_gb']:.1f} GB >= {MEMORY_TARGET_GB:.0f} GB"]
    return ", ".join(parts), misses


def ordered(results: dict) -> list[dict]:
    """Datasets in table order: synthetic by size, then FEBRL 1-4 (whatever order they ran in)."""
    return sorted(results["datasets"], key=lambda d: (d["kind"] != "synthetic", d.get("target_records", 0),
                                                      d["dataset"]))


def _label_free(r: dict) -> str:
    """The tool's own recall estimate without truth, with its interval (ours only)."""
    lf = r.get("label_free")
    if not lf:
        return ""
    return f"{_f(lf['recall'])} ({_f(lf['recall_low'])}-{_f(lf['recall_high'])})"


def markdown(results: dict) -> str:
    lines = [
        "| dataset | records | tool | wall s | ratio to ours | peak GB | precision | recall | label-free recall (95%) "
        "| F1 | B-cubed F1 | target met? |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for ds in ordered(results):
        tools = ds["tools"]
        ours = tools.get("ours", {})
        for tool, r in tools.items():
            label = TOOL_LABEL[tool]
            if "error" in r or "skipped" in r:
                why = r.get("error") or r.get("skipped")
                lines.append(f"| {ds['dataset']} | {ds['records']:,} | {label} | not run: {why} | | | | | | | | |")
                continue
            ratio = (f"{r['wall_s'] / ours['wall_s']:.2f}" if "wall_s" in ours and ours["wall_s"] else "n/a")
            verdict = ""
            if tool == "ours":
                verdict, misses = target_verdict(r, tools.get("splink"), ds)
                notes += [f"{ds['dataset']}: {m}" for m in misses]
            lines.append(f"| {ds['dataset']} | {ds['records']:,} | {label} | {r['wall_s']:,.1f} | {ratio} | "
                         f"{r['peak_gb']:.2f} | {_f(r['precision'])} | {_f(r['recall'])} | {_label_free(r)} | {_f(r['f1'])} | "
                         f"{_f(r['bcubed_f1'])} | {verdict} |")
    m = results["machine"]
    head = (f"Measured {results['date']} on {m['cpus']} cores, {m['memory_gb']:.0f} GB, Python {m['python']}; "
            f"command: `{results['command']}`. Wall time is linkage only (normalised records in memory -> "
            "clusters); peak GB is the step's process tree; ratio is the tool's wall time over ours in "
            "the same run. 'label-free recall' is ours' own estimate without truth (counting the matches blocking never "
            "compared, `metrics.json` `estimated.recall`), beside the true recall. 'target met?' (on ours' row): F1 >= Splink's, wall time <= Splink's, and at "
            f"1M records peak memory < {MEMORY_TARGET_GB:.0f} GB.")
    loads = ", ".join(f"{d['dataset']} {d['load_before']}" for d in ordered(results) if "load_before" in d)
    if loads:
        head += (f" Machine load (1-minute load average, {m['cpus']} cores) when each dataset started: {loads};"
                 " above the core count other work was competing for the CPUs and wall times are inflated.")
    body = [head, "", *lines, ""]
    if notes:
        body += ["Targets missed:", "", *[f"- {n}" for n in notes], ""]
    if results.get("notes"):
        body += ["Notes:", "", *[f"- {n}" for n in results["notes"]], ""]
    return "\n".join(body)


def chart(results: dict) -> str:
    """Two panels, one row per dataset and one bar per tool: pairwise F1 (axis from the lowest F1 shown,
    rounded down, to 1) and wall time in seconds (log scale)."""
    from benchmarks.svgkit import PALETTE, line, nice_ticks, rect, svg, text

    rows = ordered(results)
    tools = [t for t in TOOLS if any(t in ds["tools"] for ds in rows)]
    bar_h, top, left, panel_w, gap = 10, 44, 80, 300, 40
    band = bar_h * len(tools) + 10
    height = top + band * len(rows) + 40
    width = left + 2 * panel_w + gap + 20

    def ok(ds, t):
        r = ds["tools"].get(t)
        return r if r and "error" not in r and "skipped" not in r else None

    f1s = [ok(ds, t)["f1"] for ds in rows for t in tools if ok(ds, t)]
    walls = [ok(ds, t)["wall_s"] for ds in rows for t in tools if ok(ds, t)]
    f_lo = math.floor(min(f1s, default=0.9) * 20) / 20 if f1s else 0.9
    f_lo = min(f_lo, 0.95)
    w_lo = 10 ** math.floor(math.log10(max(min(walls, default=0.1), 1e-3)))
    w_hi = 10 ** math.ceil(math.log10(max(max(walls, default=1.0), w_lo * 10)))
    x1 = left
    x2 = left + panel_w + gap

    def sx_f1(v: float) -> float:
        return x1 + (v - f_lo) / (1 - f_lo) * panel_w

    def sx_wall(v: float) -> float:
        return x2 + (math.log10(max(v, w_lo)) - math.log10(w_lo)) / (math.log10(w_hi) - math.log10(w_lo)) * panel_w

    body = [rect(0, 0, width, height, "#ffffff")]
    lx = left
    for i, t in enumerate(tools):
        body.append(rect(lx, 8, 10, 10, PALETTE[i]))
        body.append(text(lx + 14, 17, TOOL_LABEL[t]))
        lx += 14 + len(TOOL_LABEL[t]) * 7.2 + 16
    body.append(text(x1, top - 8, f"pairwise F1 (axis from {f_lo:g})", weight="bold"))
    body.append(text(x2, top - 8, "wall time, s (log scale)", weight="bold"))
    plot_bottom = top + band * len(rows)
    for t in [t for t in nice_ticks(f_lo, 1.0, 5) if f_lo - 1e-9 <= t <= 1.0 + 1e-9]:
        body.append(line(sx_f1(t), top, sx_f1(t), plot_bottom, stroke="#ddd"))
        body.append(text(sx_f1(t), plot_bottom + 14, f"{t:g}", anchor="middle", size=10))
    k = math.log10(w_lo)
    while 10**k <= w_hi * 1.0001:
        body.append(line(sx_wall(10**k), top, sx_wall(10**k), plot_bottom, stroke="#ddd"))
        body.append(text(sx_wall(10**k), plot_bottom + 14, f"{10**k:g}", anchor="middle", size=10))
        k += 1
    for i, ds in enumerate(rows):
        y0 = top + i * band + 5
        body.append(text(left - 6, y0 + band / 2, ds["dataset"], anchor="end"))
        for j, t in enumerate(tools):
            r = ok(ds, t)
            y = y0 + j * bar_h
            if r is None:
                body.append(text(x1 + 2, y + bar_h - 1, "not run", size=9))
                continue
            tip = f"{ds['dataset']} – {TOOL_LABEL[t]}"
            body.append(rect(x1, y, sx_f1(max(r["f1"], f_lo)) - x1, bar_h - 1, PALETTE[j],
                             f"{tip}: F1 {r['f1']:.4f}"))
            body.append(rect(x2, y, sx_wall(r["wall_s"]) - x2, bar_h - 1, PALETTE[j],
                             f"{tip}: {r['wall_s']:,.1f} s"))
    body.append(line(x1, top, x1, plot_bottom))
    body.append(line(x2, top, x2, plot_bottom))
    desc = "; ".join(f"{ds['dataset']}: " + ", ".join(
        f"{TOOL_LABEL[t]} F1 {ok(ds, t)['f1']:.4f} in {ok(ds, t)['wall_s']:.1f} s" if ok(ds, t) else f"{TOOL_LABEL[t]} not run"
        for t in tools) for ds in rows)
    return svg("reference-benchmark", width, height, "pace-linkage vs recordlinkage ECM vs Splink: F1 and wall time",
               desc, body) + "\n"
