"""The workbench as an analyst uses it, in a real headless browser (Debian's chromium via Playwright): move the
threshold and see the figures change, open a cluster and a pair's waterfall, open a comparison pattern and explain
one of its pairs, label three pairs with the keyboard, restart the server (given the extracts now) and find the
labels kept and the records' values shown. Nothing is fetched from anywhere but 127.0.0.1."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from run_folder import bench_run, deliveries  # noqa: F401, F811 (the fixtures)

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


class Server:
    """The workbench served by uvicorn on 127.0.0.1 in a thread, as the command serves it."""

    def __init__(self, folder: Path, token: str, extracts: Path | None = None, store: str | None = None):
        import uvicorn

        from flows.api import free_port
        from pace_linkage.config import load_config
        from pace_linkage.pipeline import read_sources
        from pace_linkage.workbench.app import create_app

        cfg = load_config()
        values = (read_sources(cfg, extracts), cfg) if extracts is not None else ()
        self.port = free_port()
        config = uvicorn.Config(create_app(folder, token, self.port, *values, store=store), host="127.0.0.1", port=self.port,
                                access_log=False, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def open_a_pattern_and_explain_one_of_its_pairs(page) -> None:
    """The comparison viewer: patterns sorted by pairs, the largest opened, one of its pairs explained."""
    page.wait_for_selector("#pattern-table tbody tr button.pattern")
    page.wait_for_selector("#pattern-chart svg path")  # pairs by pattern weight, drawn like the curve
    columns = page.locator("#pattern-table thead th").all_text_contents()
    page.click(f"#pattern-table thead th:nth-child({columns.index('pairs') + 1})")
    counts = [int(v.replace(",", "")) for v in
              page.locator(f"#pattern-table tbody td:nth-child({columns.index('pairs') + 1})").all_text_contents()]
    assert len(counts) > 3 and counts == sorted(counts, reverse=True)
    pattern = page.text_content("#pattern-table tbody tr:first-child button.pattern")
    page.click("#pattern-table tbody tr:first-child button.pattern")
    page.wait_for_selector("#pattern-sample tbody tr button.pair")
    assert page.text_content("#pattern-pairs p").startswith(f"pattern {pattern}: {counts[0]:,} pair(s)")
    chosen = page.text_content("#pattern-sample tbody tr:first-child button.pair")
    page.click("#pattern-sample tbody tr:first-child button.pair")
    page.wait_for_function(f"() => (document.querySelector('#pair p') || {{}}).textContent?.startsWith('pair {chosen}:')")
    assert page.locator("#pair table.waterfall tbody tr").count() >= 3
    assert "--extracts" in page.text_content("#pair p.values-note")  # this workbench holds no values


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it as root)")
def test_an_analyst_moves_the_threshold_looks_inside_and_labels_pairs_that_stay_labelled(bench_run, synth_data, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    folder = shutil.copytree(bench_run, tmp_path / "run")
    token = "browser-test-token"
    server = Server(folder, token)
    requests: list[str] = []
    errors: list[str] = []
    failed: list[tuple[str, int]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda req: requests.append(req.url))
            page.on("response", lambda r: failed.append((r.url.split(str(server.port), 1)[1], r.status))
                    if r.status >= 400 else None)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            refused = page.goto(f"http://127.0.0.1:{server.port}/")
            assert refused.status == 403
            page.goto(f"http://127.0.0.1:{server.port}/?token={token}")
            page.wait_for_selector("body[data-ready=yes]")
            page.wait_for_selector("#curve-chart svg path")  # the curve drawn by the vendored Vega, no eval
            assert page.locator("#curve-chart svg text").count() > 5
            page.click("#partner-table thead th:nth-child(2)")  # sort by records, largest first
            records = [int(v.replace(",", "")) for v in page.locator("#partner-table tbody td:nth-child(2)").all_text_contents()]
            assert len(records) > 2 and records == sorted(records, reverse=True)
            before = {k: page.text_content(f'#figures dd[data-key="{k}"]') for k in ("clusters", "estimated precision")}
            page.eval_on_selector("#threshold", "el => { el.value = '0.05'; el.dispatchEvent(new Event('input')); }")
            page.wait_for_function("() => document.querySelector('#threshold-value').textContent === '0.050'")
            page.wait_for_function(f"() => document.querySelector('#figures dd[data-key=\"clusters\"]').textContent "
                                   f"!== {before['clusters']!r}")
            after = {k: page.text_content(f'#figures dd[data-key="{k}"]') for k in ("clusters", "estimated precision")}
            assert after["clusters"] != before["clusters"]
            assert after["estimated precision"] != before["estimated precision"]
            page.eval_on_selector("#threshold", "el => { el.value = '0.9'; el.dispatchEvent(new Event('input')); }")
            page.wait_for_function("() => document.querySelector('#threshold-value').textContent === '0.900'")
            record = page.eval_on_selector("#label-pair p", "el => el.textContent").split(": ")[1].split(" and ")[0]
            page.fill("#cluster-query", record)
            page.click("#cluster-form button")
            page.wait_for_selector("#cluster-records tbody tr")
            assert page.locator("#cluster-records tbody tr").count() >= 1
            if page.locator("#cluster-pairs button.pair").count():
                page.locator("#cluster-pairs button.pair").first.click()
            else:
                page.fill("#pair-number", "0")
                page.click("#pair-form button")
            page.wait_for_selector("#pair table.waterfall tbody tr")
            assert page.locator("#pair table.waterfall tbody tr").count() >= 3
            open_a_pattern_and_explain_one_of_its_pairs(page)
            labelled = []
            for key in ("m", "n", "u"):
                current = page.text_content("#label-pair p")
                labelled.append(current)
                page.locator("body").press(key)
                page.wait_for_function(f"() => document.querySelector('#label-pair p').textContent !== {current!r}")
            assert page.text_content("#label-counts") == "Labelled so far: match: 1, non-match: 1, unsure: 1"
            # the clerical estimate moves with the labels: two decided, an estimate with its interval
            page.wait_for_function("() => document.querySelector('#figures dd[data-key=\"labelled pairs decided\"]')"
                                   "?.textContent === '2'")
            page.wait_for_selector("#curve tbody tr")
            browser.close()
        server.stop()
        server = Server(folder, token, synth_data / "extracts")  # a new server over the same folder, with values
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.on("request", lambda req: requests.append(req.url))
            page.goto(f"http://127.0.0.1:{server.port}/?token={token}")
            page.wait_for_selector("body[data-ready=yes]")
            assert page.text_content("#label-counts") == "Labelled so far: match: 1, non-match: 1, unsure: 1"
            assert page.text_content("#label-pair p") not in labelled
            headings = page.locator("#label-pair table.waterfall thead th").all_text_contents()
            assert headings[-2:] == ["left value", "right value"]
            assert page.locator("#label-pair table.context tbody tr").count() >= 1
            browser.close()
    finally:
        server.stop()
    # the only failures: the page asked for without the token (and the browser's icon request beside it)
    assert {path for path, status in failed if status == 403} <= {"/", "/favicon.ico"} and ("/", 403) in failed
    assert all(status == 403 for _, status in failed)
    assert all("403" in e for e in errors), errors
    assert requests and all(u.startswith("http://127.0.0.1:") for u in requests)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it as root)")
def test_with_a_store_the_cluster_studio_draws_the_ids_history_as_tables(bench_run, deliveries, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    folder = shutil.copytree(bench_run, tmp_path / "run")
    db = shutil.copy(deliveries["db"], tmp_path / "pace.duckdb")
    a = deliveries["a"]
    server = Server(folder, "browser-test-token", store=str(db))
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"http://127.0.0.1:{server.port}/?token=browser-test-token")
            page.wait_for_selector("body[data-ready=yes]")
            page.fill("#cluster-query", f"{a['source']}/{a['record_id']}")
            page.click("#cluster-form button")
            page.wait_for_selector("#cluster-history tbody tr")
            events = page.locator("#cluster-history tbody td:nth-child(3)").all_text_contents()
            runs = page.locator("#cluster-history tbody td:nth-child(1)").all_text_contents()
            statuses = page.locator("#cluster-ids tbody td:nth-child(2)").all_text_contents()
            browser.close()
    finally:
        server.stop()
    assert "merged" in events and "created" in events and set(runs) == {"m1", "m2"}
    assert sorted(statuses) == ["active", "retired"] and not errors
