"""report: one self-contained, deterministic HTML page (inline SVG charts) and a markdown summary."""

from __future__ import annotations

import copy
import json
import re

import pytest

from pace_linkage.report import render_markdown_summary, render_report
from pace_linkage.report.svg import hbar_chart, heatmap, histogram, line_chart, nice_ticks


def sample_metrics() -> dict:
    sources = ["sds", "dwp", "glasgow_cc", "cab"]
    by_source = {
        "sds": {"label": "Skills Development Scotland", "rows_in": 1200, "rows_accepted": 1150,
                "rows_quarantined": 47, "rows_withheld": 3, "reasons": {"invalid_dob": 30, "no_identifying_fields": 17,
                                                                      "withheld_no_consent": 3}},
        "dwp": {"label": "DWP / Jobcentre Plus", "rows_in": 900, "rows_accepted": 898, "rows_quarantined": 2,
                "rows_withheld": 0, "reasons": {"invalid_nino": 2}},
        "glasgow_cc": {"label": "Glasgow City Council", "rows_in": 400, "rows_accepted": 400, "rows_quarantined": 0,
                       "rows_withheld": 0, "reasons": {}},
        "cab": {"label": "Citizens Advice", "rows_in": 300, "rows_accepted": 290, "rows_quarantined": 10,
                "rows_withheld": 0, "reasons": {"bad_encoding": 10}},
    }
    fields = ["nino", "surname", "dob", "postcode"]
    coverage = {s: {f: {"present": 280 + 10 * i, "valid": 270 + 9 * i, "rows": 300 + 10 * i}
                    for i, f in enumerate(fields)} for s in sources}
    coverage["cab"]["nino"] = {"present": 4, "valid": 3, "rows": 290}
    sweep = [{"threshold": t, "precision": 0.80 + 0.2 * t, "recall": 1.0 - 0.3 * t ** 4, "f1": 0.0,
              "links": int(5000 * (1.1 - t)), "clusters": int(2000 + 1500 * t)} for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)]
    for r in sweep:
        r["f1"] = 2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"])
    return {
        "run": {"config_hash": "ab" * 32, "version": "0.1.0", "seed": 42, "threshold": 0.9, "sources": sources,
                "entity": "person"},
        "counts": {"rows_in": 2800, "rows_accepted": 2738, "rows_quarantined": 59, "rows_withheld": 3,
                   "by_source": by_source},
        "sources_failed": [{"source": "fife_college", "file": "fife_college.csv", "error": "line 3: invalid UTF-8"}],
        "coverage": coverage,
        "blocking": {"rules": [{"name": "nino", "pairs_generated": 900, "pairs_added": 900},
                               {"name": "dob_surname_sound", "pairs_generated": 1500, "pairs_added": 700},
                               {"name": "names_canon", "pairs_generated": 3000, "pairs_added": 2}],
                     "pairs": 1602, "reduction_ratio": 0.99959},
        "model": {"lambda": 0.00031, "comparisons": [
            {"name": "nino", "levels": [{"label": "exact", "m": 0.9, "u": 0.0001, "weight": 13.1},
                                        {"label": "one digit or transposition", "m": 0.05, "u": 0.001, "weight": 5.6},
                                        {"label": "else", "m": 0.05, "u": 0.9989, "weight": -4.3}]},
            {"name": "surname", "levels": [{"label": "exact", "m": 0.85, "u": 0.01, "weight": 6.4},
                                           {"label": "else", "m": 0.15, "u": 0.99, "weight": -2.7}]},
        ]},
        "weights_histogram": {"bins": list(range(-10, 21, 2)), "counts": [5, 40, 300, 500, 200, 60, 20, 4, 2, 10,
                                                                           30, 80, 200, 400, 150]},
        "clusters": {"records": 2738, "clusters": 2100, "singletons": 1700, "largest": 6, "conflicts": 3,
                     "size_distribution": {"1": 1700, "2": 300, "3": 90, "10": 2, "4": 8}},
        "pairwise": {"precision": 0.991, "recall": 0.973, "f1": 0.982, "tp": 1400, "fp": 13, "fn": 39},
        "bcubed": {"precision": 0.995, "recall": 0.987, "f1": 0.991},
        "estimated": {"precision": 0.988, "recall": 0.97},
        "threshold_sweep": sweep,
        "recommended_threshold": {"best_f1": 0.8, "min_precision": 0.95},
        "overlap": {"partners": sources, "matrix": [[1100, 420, 80, 2], [420, 850, 60, 40], [80, 60, 390, 0],
                                                    [2, 40, 0, 280]]},
    }


SVG = re.compile(r"<svg\b[^>]*>")


def svg_sizes(html: str) -> list[tuple[float, float]]:
    out = []
    for tag in SVG.findall(html):
        w = float(re.search(r'\bwidth="([\d.]+)"', tag).group(1))
        h = float(re.search(r'\bheight="([\d.]+)"', tag).group(1))
        out.append((w, h))
    return out


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(sample_metrics(), title="PACE linkage quality report")


def test_report_is_deterministic_byte_for_byte():
    a = render_report(sample_metrics(), title="T")
    b = render_report(json.loads(json.dumps(sample_metrics())), title="T")
    assert a == b


def test_report_has_no_external_references(html):
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert not re.search(r'\b(src|href)="(?!#)', html), "only in-page anchors may be linked"
    assert "url(" not in html


def test_report_draws_every_chart_as_inline_svg_with_a_size(html):
    sizes = svg_sizes(html)
    # rows per source, validity, blocking, weights per level, histogram, cluster sizes, sweep, PR curve, overlap
    assert len(sizes) == 9
    assert all(w > 0 and h > 0 for w, h in sizes)
    assert html.count("<title id=") == 9 and html.count("<table>") >= 8


def test_report_shows_each_section_heading(html):
    for heading in ["Rows per source", "Identifier coverage", "Blocking", "Model", "Match-weight distribution",
                    "Clusters", "Quality against truth", "Estimated quality", "Threshold", "Partner overlap",
                    "Sources that failed"]:
        assert heading in html
    assert "Skills Development Scotland" in html and "line 3: invalid UTF-8" in html


def test_report_marks_chosen_and_recommended_thresholds_on_the_sweep(html):
    assert "chosen (0.9)" in html and "best F1 (0.8)" in html and "precision floor (0.95)" in html


def test_report_renders_an_empty_or_partial_metrics_dict():
    assert "<html" in render_report({}, title="Empty")
    partial = {"run": {"seed": 1}, "counts": {"rows_in": 10, "rows_accepted": 10, "rows_quarantined": 0}}
    html = render_report(partial, title="Partial")
    assert "Rows per source" in html and "Partner overlap" not in html and "<svg" not in html


@pytest.mark.parametrize("drop", list(sample_metrics()))
def test_report_renders_with_any_one_section_missing(drop):
    metrics = sample_metrics()
    del metrics[drop]
    assert "</html>" in render_report(metrics, title="T")


def test_report_renders_unknown_sections_as_generic_tables():
    metrics = {"sharing": {"agreements": 3, "expired": 0, "by_partner": {"sds": "ok"}}, "notes": [{"a": 1, "b": "x"}]}
    html = render_report(metrics, title="T")
    assert "Sharing" in html and "by_partner.sds" in html and ">b</th>" in html


def test_report_suppresses_small_counts_everywhere(html):
    suppressed = render_report(sample_metrics(), title="T", small_count_threshold=10)
    assert "counts from 1 to 9 are shown as *" in suppressed
    # dwp quarantined 2, withheld 3, blocking added 2, largest cluster 6, overlap cab-sds 2
    dwp_row = re.search(r"DWP / Jobcentre Plus \(dwp\)</th>(.*?)</tr>", suppressed).group(1)
    assert "<td class=num>*</td>" in dwp_row and ">2<" not in dwp_row
    assert "<dt>Largest cluster (records)</dt><dd>*</dd>" in suppressed
    assert '<th scope="row">names_canon</th><td class=num>3,000</td><td class=num>*</td>' in suppressed
    sds_overlap = re.search(r"Skills Development Scotland \(sds\)</th>(<td class=num>[^<]*</td>){4}</tr>", suppressed)
    assert sds_overlap.group(0).endswith("<td class=num>*</td></tr>")
    assert "(dwp) – Quarantined: 2" in html and "(dwp) – Quarantined" not in suppressed  # no bar drawn
    assert "<dt>Rows withheld</dt><dd>*</dd>" in suppressed
    assert "<td class=num>*</td>" not in html  # nothing suppressed by default


def test_report_escapes_text_from_the_metrics():
    metrics = {"sources_failed": [{"source": "x", "file": "<b>.csv", "error": "<script>alert(1)</script>"}]}
    html = render_report(metrics, title="<i>T</i>")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<i>T</i>" not in html


def test_report_does_not_mutate_the_metrics():
    metrics = sample_metrics()
    before = copy.deepcopy(metrics)
    render_report(metrics, title="T", small_count_threshold=5)
    assert metrics == before


def test_markdown_summary_lists_key_figures():
    md = render_markdown_summary(sample_metrics())
    assert md.startswith("## PACE linkage summary")
    assert "| Rows in | 2,800 |" in md and "Pairwise P / R / F1 | 0.9910 / 0.9730 / 0.9820" in md
    assert "`fife_college`" in md
    assert render_markdown_summary({}).startswith("## PACE linkage summary")
    assert "| Rows quarantined | * |" in render_markdown_summary(
        {"counts": {"rows_quarantined": 3}}, small_count_threshold=5)


# --------------------------------------------------------------------------------------------------
# the chart kit
# --------------------------------------------------------------------------------------------------
def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 1234) == [0, 500, 1000, 1500]
    assert nice_ticks(-4.3, 13.1) == [-5, 0, 5, 10, 15]
    assert nice_ticks(0.5, 0.99, cover=False) == [0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.mark.parametrize("chart", [
    lambda: hbar_chart("c1", ["a", "b"], [("x", [1, None]), ("y", [-2, 3])], title="t", desc="d"),
    lambda: hbar_chart("c2", [], [("x", [])], title="t", desc="d", stacked=True),
    lambda: histogram("c3", [0, 1, 2], [5, None], title="t", desc="d", markers=[(1.5, "m")]),
    lambda: line_chart("c4", [0.5], [("p", [0.9])], title="t", desc="d", markers=[(0.9, "m")]),
    lambda: heatmap("c5", ["r"], ["c"], [[None]], [["*"]], title="t", desc="d"),
])
def test_every_chart_is_one_accessible_svg_with_positive_size(chart):
    out = chart()
    assert out.startswith("<svg") and out.endswith("</svg>") and out.count("<svg") == 1
    assert 'role="img"' in out and "<title id=" in out and "<desc id=" in out
    (w, h), = svg_sizes(out)
    assert w > 0 and h > 0
    assert "nan" not in out.lower().replace("nan;", "")


def test_report_reads_engine_cluster_stats_per_id_column_and_overlap_extras():
    metrics = {
        "run": {"id_column": "pace_id", "threshold": 0.9},
        "clusters": {"records": 500, "candidate_pairs": 900,
                     "pace_id": {"threshold": 0.9, "edges": 300, "clusters": 260, "singletons": 200,
                                 "largest_cluster": 5, "conflicts": 1, "edges_cut": 2},
                     "pace_id_strict": {"threshold": 0.99, "edges": 250, "clusters": 280, "singletons": 230,
                                        "largest_cluster": 4, "conflicts": 0, "edges_cut": 0}},
        "blocking": {"rules": [{"rule": "nino", "pairs_generated": 40, "pairs_added": 40}], "pairs": 40,
                     "true_pairs": 38, "pairs_completeness": 0.95, "true_pairs_added_by_rule": {"nino": 36}},
        "overlap": {"partners": ["a", "b"], "matrix": [[100, 20], [20, 50]],
                    "partners_per_person": {"1": 110, "2": 20}, "repeat_client_rate": {"a": 0.05, "b": 0.0}},
    }
    html = render_report(metrics, title="T")
    assert "<dt>Persons (clusters)</dt><dd>260</dd>" in html
    assert "<code>pace_id_strict</code>" in html and "Clusterings" in html
    assert '<th scope="row">nino</th><td class=num>40</td><td class=num>40</td><td class=num>36</td>' in html
    assert "Persons by number of partners" in html and "5.0%" in html
    assert len(svg_sizes(html)) == 3  # blocking, overlap heatmap, partners per person
