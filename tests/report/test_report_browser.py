"""The report as a person sees it: opened in a real headless browser (Debian's chromium via Playwright).

`make test` installs chromium when it is missing and the tests run as root (as in CI); elsewhere, without
chromium, this test is skipped with a reason. A PNG screenshot is saved next to the test's output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it as root)")
def test_report_renders_its_charts_in_a_browser_without_console_errors(run_out, tmp_path):
    from playwright.sync_api import sync_playwright

    out, _ = run_out
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto((out / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); "
                   "return [r.width, r.height, e.querySelectorAll('rect,path,line,circle').length]; })")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []  # nothing fetched from anywhere
    assert len(sizes) >= 5
    for w, h, marks in sizes:
        assert w >= 200 and h >= 60 and marks > 0
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
