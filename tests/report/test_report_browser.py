"""The report as a person sees it: opened in a real headless browser (Debian's chromium via Playwright).

Every chart is drawn by the vendored Vega inlined in the page, under the page's Content-Security-Policy; no text
of any chart is cut (each SVG text element's box lies inside its chart's SVG box, and no label ends in an
ellipsis); nothing is requested from anywhere; long tables sort by a heading. `make test` installs chromium when
it is missing and the tests run as root (as in CI); elsewhere, without chromium, these tests are skipped with a
reason. A PNG screenshot of the top of the run's report is saved next to the test's output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from pace_linkage.report import render_report

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not Path(shutil.which("chromium") or "/usr/bin/chromium").exists(),
    reason="chromium is not installed (make test installs it as root)")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]
WATCH = "document.addEventListener('securitypolicyviolation', e => (window.cspViolations = window.cspViolations " \
        "|| []).push(e.violatedDirective));"
CHARTS = """() => Array.from(document.querySelectorAll('div.vl-chart')).map(div => {
  const svg = div.querySelector('svg');
  if (!svg) return {id: div.id, drawn: false, text: div.textContent, cut: []};
  const box = svg.getBoundingClientRect(), cut = [];
  svg.querySelectorAll('text').forEach(t => {
    const r = t.getBoundingClientRect(), s = t.textContent;
    if (s.trim() === '') return;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5
        || s.endsWith('\u2026') || s.endsWith('...')) cut.push(s);
  });
  return {id: div.id, drawn: true, width: box.width, height: box.height, texts: svg.querySelectorAll('text').length,
          marks: svg.querySelectorAll('path,line,rect,circle').length, cut: cut};
})"""

LONG = "Citizens Advice Scotland and the Money Advice Service, West of Scotland region"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def open_page(browser, path: Path, screenshot: Path | None = None) -> tuple[list, dict]:
    """Open ``path``; wait for its charts; (each chart's measurements, what else happened on the page)."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    seen: dict = {"errors": [], "requests": []}
    page.on("console", lambda msg: seen["errors"].append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("request", lambda req: seen["requests"].append(req.url))
    page.add_init_script(WATCH)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("html[data-charts=drawn]", timeout=30_000)
    charts = page.evaluate(CHARTS)
    seen["csp"] = page.evaluate("() => window.cspViolations || []")
    seen["page"] = page
    if screenshot:
        page.screenshot(path=str(screenshot))  # the top of the page (a full-page shot costs seconds)
    return charts, seen


def assert_drawn_whole(charts: list, seen: dict, at_least: int) -> None:
    assert seen["errors"] == [] and seen["csp"] == []
    assert [u for u in seen["requests"] if not u.startswith("file:")] == []  # nothing fetched from anywhere
    assert len(charts) >= at_least
    for c in charts:
        assert c["drawn"], f"{c['id']}: {c['text']}"
        assert c["width"] >= 150 and c["height"] >= 40 and c["texts"] > 0 and c["marks"] > 0, c["id"]
        assert c["cut"] == [], f"{c['id']}: text outside its chart or cut: {c['cut']}"


def test_report_draws_every_chart_whole_under_its_policy_without_fetching(browser, run_out, tmp_path):
    out, _ = run_out
    shot = tmp_path / "report.png"
    charts, seen = open_page(browser, out / "report.html", shot)
    seen["page"].close()
    assert_drawn_whole(charts, seen, at_least=10)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def long_names_metrics() -> dict:
    """A report's metrics whose partner, rule and level names are long enough to be cut if anything cut them."""
    partners = {f"p{i}": {"label": f"{LONG} {i}", "rows_in": 100 * i, "rows_accepted": 90 * i,
                          "rows_quarantined": 10 * i, "reasons": {"invalid_dob_because_of_a_long_reason": 10 * i}}
                for i in range(1, 9)}
    levels = [{"label": "exact after term-frequency adjustment of the surname's commonness", "m": 0.9, "u": 0.001,
               "weight": 9.8}, {"label": "else (any other surname, or one of them missing)", "m": 0.1, "u": 0.999,
                                "weight": -3.3}]
    return {
        "run": {"threshold": 0.9},
        "counts": {"rows_in": 3600, "rows_accepted": 3240, "rows_quarantined": 360, "by_source": partners},
        "coverage": {s: {"a_very_long_field_name_for_a_column": {"present": 80, "valid": 70, "rows": 90}}
                     for s in partners},
        "blocking": {"rules": [{"name": "date_of_birth_and_surname_soundex_and_postcode_district",
                                "pairs_generated": 900, "pairs_added": 900}], "pairs": 900},
        "model": {"lambda": 0.001, "comparisons": [{"name": "surname", "levels": levels}]},
        "overlap": {"partners": list(partners), "matrix": [[50 if i == j else 5 for j in range(8)] for i in range(8)]},
    }


def test_no_label_is_cut_however_long_the_names_and_long_tables_sort(browser, tmp_path):
    page_file = tmp_path / "long.html"
    page_file.write_text(render_report(long_names_metrics(), title="Long names"), encoding="utf-8")
    charts, seen = open_page(browser, page_file)
    page = seen["page"]
    texts = page.evaluate("() => Array.from(document.querySelectorAll('div.vl-chart svg text'), t => t.textContent)")
    table = page.locator("table", has_text="Rows in").first  # the rows per source: eight partners and a total
    before = table.locator("tbody th").all_inner_texts()
    table.locator("thead th").nth(1).locator("button").click()
    table.locator("thead th").nth(1).locator("button").click()
    after = table.locator("tbody th").all_inner_texts()
    sort_state = table.locator("thead th").nth(1).get_attribute("aria-sort")
    page.close()
    assert_drawn_whole(charts, seen, at_least=4)
    assert f"{LONG} 8 (p8)" in texts  # a whole partner name, as a label
    assert any(t.startswith("surname: exact after term-frequency") and t.endswith("commonness") for t in texts)
    assert sort_state == "descending" and after[0] == f"{LONG} 8 (p8)" and after[-1] == before[-1]  # total last


def test_tune_and_scenario_pages_draw_their_charts_whole(browser, tmp_path):
    from pace_linkage.evaluate.tune import render_html
    from pace_linkage.study.scenarios_report import render_scenarios

    ts = [0.01, 0.1, 0.5, 0.9, 0.99]
    sweep = pd.DataFrame({"threshold": ts, "match_weight": [-6.6, -3.2, 0.0, 3.2, 6.6],
                          "precision": [0.97, 0.99, 0.995, 0.998, 0.999], "recall": [0.999, 0.998, 0.99, 0.98, 0.95],
                          "f1": [0.984, 0.994, 0.992, 0.989, 0.974], "links": [900, 880, 860, 850, 800],
                          "clusters": [100, 110, 120, 125, 140]})
    rec = {"min_precision_target": 0.99, "note": "a note", "best_f1": sweep.iloc[1].to_dict(), "min_precision": None,
           "run_threshold": sweep.iloc[3].to_dict()}
    (tmp_path / "tune.html").write_text(render_html(sweep, rec), encoding="utf-8")
    rows = [{"scenario": s, "label": f"{LONG}: {s}", "mode": "linkage", "partners": 2, "records_linked": 10,
             "rows_withheld": 0, "precision": 1.0, "recall": r, "f1": 0.9, "recall_all_true_pairs": r / 2,
             "recall_all_change": -r / 3, "bcubed_f1": 0.95, "persons": 6, "persons_2plus": 3, "f1_change": -0.01,
             "note": ""} for s, r in (("full", 0.9), ("consent", 0.8))]
    (tmp_path / "scen.html").write_text(render_scenarios({"baseline": "full", "rows": rows, "true_pairs_in_truth": 10},
                                                         title="t"), encoding="utf-8")
    for name, expected in (("tune.html", 2), ("scen.html", 3)):
        charts, seen = open_page(browser, tmp_path / name)
        seen["page"].close()
        assert_drawn_whole(charts, seen, at_least=expected)
