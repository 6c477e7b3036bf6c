"""report: one self-contained, deterministic HTML page (Vega-Lite charts drawn by the inlined vendored Vega, under a
Content-Security-Policy naming its scripts' digests) and a markdown summary."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.report import charts, render_markdown_summary, render_report
from pace_linkage.report.charts import hbar_chart, heatmap_chart, histogram_chart, line_chart


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


SPEC = re.compile(r'<div class="vl-chart" id="([^"]+)"[^>]*></div><script type="application/json" id="([^"]+)">(.*?)'
                  r"</script>", re.S)


def chart_specs(html: str) -> list[dict]:
    """Every chart's Vega-Lite spec on a page (each a div and its JSON block, the block named after the div)."""
    out = []
    for div, block, data in SPEC.findall(html):
        assert block == div + "-spec"
        out.append(json.loads(data))
    return out


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(sample_metrics(), title="PACE linkage quality report")


def test_report_is_deterministic_byte_for_byte():
    a = render_report(sample_metrics(), title="T")
    b = render_report(json.loads(json.dumps(sample_metrics())), title="T")
    assert a == b


def test_report_has_no_external_references(html):
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # the page without the vendored code
    assert "http://" not in markup and "https://" not in markup
    assert not re.search(r'\b(src|href)="(?!#)', markup), "only in-page anchors may be linked"
    assert "url(" not in markup and "sourceMappingURL" not in html
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    assert policy.startswith("default-src 'none';") and "unsafe-eval" not in policy
    script = re.search(r"script-src ([^;]+)", policy).group(1).split()
    assert script == charts.csp_hashes() and all(s.startswith("'sha256-") for s in script)


def test_every_executable_script_on_the_page_is_one_the_policy_names_by_its_digest(html):
    inline = re.findall(r"<script>(.*?)</script>", html, re.S)
    digests = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline]
    assert len(inline) == 5 and digests == charts.csp_hashes()
    assert len(re.findall(r"<script\b", html)) == len(inline) + len(chart_specs(html))  # the rest are JSON blocks


def test_report_draws_every_chart_as_a_vega_lite_spec_with_its_data_inline(html):
    specs = chart_specs(html)
    # rows per source, validity, blocking, weights per level, histogram, cluster sizes, sweep, PR curve, overlap
    assert len(specs) == 9
    for spec in specs:
        data = spec.get("data") or {}
        assert data.get("values"), "data inline"
        assert spec["config"]["axis"]["labelLimit"] == 0 and spec["config"]["legend"]["labelLimit"] == 0
        assert spec["width"] and spec["height"] and spec["description"]
    assert html.count('class="chart-title"') == 9 and html.count("<table>") >= 8


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
    assert "Rows per source" in html and "Partner overlap" not in html and chart_specs(html) == []


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
    def dwp_quarantined(page: str) -> list:
        return [v["value"] for spec in chart_specs(page) for v in spec["data"].get("values", [])
                if v.get("category") == "DWP / Jobcentre Plus (dwp)" and v.get("series") == "Quarantined"]
    assert dwp_quarantined(html) == [2.0] and dwp_quarantined(suppressed) == [None]  # no bar drawn
    assert "<dt>Rows withheld</dt><dd>*</dd>" in suppressed
    assert "<td class=num>*</td>" not in html  # nothing suppressed by default


def test_report_escapes_text_from_the_metrics():
    metrics = {"sources_failed": [{"source": "x", "file": "<b>.csv", "error": "<script>alert(1)</script>"}]}
    html = render_report(metrics, title="<i>T</i>")
    page = html[:html.index("</main>")]  # before the page's own scripts
    assert "<script>" not in page and "&lt;script&gt;" in page and "<i>T</i>" not in html


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
@pytest.mark.parametrize("chart", [
    lambda: hbar_chart("c1", ["a", "b"], [("x", [1, None]), ("y", [-2, 3])], title="t", desc="d"),
    lambda: hbar_chart("c2", [], [("x", [])], title="t", desc="d", stacked=True),
    lambda: histogram_chart("c3", [0, 1, 2], [5, None], title="t", desc="d", markers=[(1.5, "m")]),
    lambda: line_chart("c4", [0.5], [("p", [0.9])], title="t", desc="d", markers=[(0.9, "m")]),
    lambda: heatmap_chart("c5", ["r"], ["c"], [[None]], [["*"]], title="t", desc="d"),
])
def test_every_chart_is_one_described_spec_with_its_title_in_html(chart):
    out = chart()
    (spec,) = chart_specs(out)
    assert out.startswith('<p class="chart-title">t</p><div class="vl-chart"') and 'role="img" aria-label="t. d"' in out
    assert "title" not in spec and spec["description"] == "d"  # the title is HTML, where it wraps
    assert "NaN" not in out and "Infinity" not in out


def test_a_suppressed_or_missing_value_gets_no_mark_and_a_negative_weight_its_own_colour():
    (spec,) = chart_specs(hbar_chart("c", ["a", "b", "c"], [("w", [2.0, None, -1.5])], title="t", desc="d"))
    values = spec["data"]["values"]
    assert [v["value"] for v in values] == [2.0, None, -1.5]
    assert [v["fill"] for v in values] == [charts.PALETTE[0], charts.PALETTE[0], charts.NEGATIVE]
    assert spec["encoding"]["y"]["sort"] == ["a", "b", "c"]  # the categories in the order given


def test_chart_data_cannot_close_its_json_block():
    name = "</script><script>alert(1)</script> & <!--"
    out = hbar_chart("c", [name], [("w", [1])], title="t", desc="d")
    assert "</script><script>alert" not in out and "<!--" not in out
    assert chart_specs(out)[0]["data"]["values"][0]["category"] == name


def test_grouped_bars_sit_side_by_side_and_stacked_bars_stack():
    grouped = chart_specs(hbar_chart("g", ["a"], [("x", [1]), ("y", [2])], title="t", desc="d"))[0]
    stacked = chart_specs(hbar_chart("s", ["a"], [("x", [1]), ("y", [2])], title="t", desc="d", stacked=True))[0]
    assert grouped["encoding"]["yOffset"]["field"] == "series" and grouped["encoding"]["x"]["stack"] is None
    assert "yOffset" not in stacked and stacked["encoding"]["x"]["stack"] == "zero"


@given(st.lists(st.tuples(st.text(max_size=30), st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                                                          st.integers(-10**9, 10**9))), max_size=12))
@settings(max_examples=60, deadline=None)
def test_any_values_make_a_json_spec_the_same_twice(rows):
    cats, vals = [c for c, _ in rows], [v for _, v in rows]
    a = hbar_chart("c", cats, [("v", vals)], title="t", desc="d")
    assert a == hbar_chart("c", cats, [("v", vals)], title="t", desc="d")
    (spec,) = chart_specs(a)  # strict JSON: no NaN or Infinity
    assert [v["category"] for v in spec["data"]["values"]] == [str(c) for c in cats]


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
    assert len(chart_specs(html)) == 3  # blocking, overlap heatmap, partners per person
