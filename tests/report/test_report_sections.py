"""Report sections: what each partner holds, who gets linked less, confusion counts and the
top false positives / negatives (masked), and the pointer to clerical review."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import library_run

from pace_linkage.config import load_config
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.pipeline import evaluate_run
from pace_linkage.pipeline import report_page as render_report


def section(html: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}".*?</section>', html, re.S)
    assert m, anchor
    return m.group(0)


def group_rows(truth: bool) -> list[dict]:
    rows = [{"group": "16-24", "records": 400, "linked": 300, "linkage_rate": 0.75, "estimated_missed_links": 12.34},
            {"group": "65+", "records": 3, "linked": 1, "linkage_rate": 0.333333, "estimated_missed_links": 0.5}]
    if truth:
        rows[0].update(true_pairs=200, found_pairs=180, recall=0.9, missed_links=20)
        rows[1].update(true_pairs=0, found_pairs=0, recall=None, missed_links=0)
    return rows


def metrics(truth: bool = True) -> dict:
    m = {
        "run": {"threshold": 0.9, "entity": "person", "id_column": "pace_id"},
        "counts": {"by_source": {"sds": {"label": "Skills Development Scotland"}, "tiny": {"label": "Tiny"}}},
        "holdings": {"sds": {"nino": 0.87, "consent": 1.0, "outcome": None},
                     "tiny": {"nino": None, "consent": 0.5, "outcome": 0.25}},
        "holdings_items": [{"item": "nino", "category": "identifiers", "description": "NI number"},
                           {"item": "consent", "category": "consent", "description": "consent to share"},
                           {"item": "outcome", "category": "outcomes", "description": "outcome"}],
        "holdings_rows": {"sds": 1000, "tiny": 4},
        "holdings_warnings": ["partners/sds.yaml: items.outcome: column 'Outcome' not found in sds.csv; not held"],
        "linked_less": {"partner": [{**group_rows(truth)[0], "group": "sds"}], "age_band": group_rows(truth)},
        "estimated": {"precision": 0.99, "recall": 0.95, "links": 10},
    }
    if truth:
        m["confusion"] = {"tp": 90, "fp": 3, "fn": 7, "tn": 900, "candidate_pairs": 1000, "true_pairs": 99,
                          "missed_by_blocking": 2}
        ex = {"title": "false positive: linked, different persons", "sources": ["sds", "dwp"], "match_weight": 9.5,
              "match_probability": 0.998, "rows": [
                  {"comparison": "prior", "level": "prior match probability", "weight": -10.0},
                  {"comparison": "surname", "left": "S****", "right": "S****", "level": "exact", "weight": 12.0},
                  {"comparison": "nino", "left": "AB****56C", "right": "", "level": "null", "weight": 0.0}]}
        m["top_errors"] = {"false_positives": [ex], "false_negatives": []}
    return m


def test_holdings_show_a_heatmap_a_table_the_item_legend_and_the_warnings():
    html = section(render_report(metrics(), title="t"), "holdings")
    assert 'class="vl-chart"' in html and "What each partner holds" in html
    assert "87%" in html and "100%" in html and "–" in html  # not held shown as a dash
    assert "Skills Development Scotland (sds)" in html
    assert "identifiers" in html and "1 of 2" in html  # nino held by one partner of two
    assert "column &#x27;Outcome&#x27; not found" in html


def test_a_partner_with_a_small_row_count_shows_no_completeness():
    html = section(render_report(metrics(), title="t", small_count_threshold=5), "holdings")
    tiny_row = re.search(r"<tr><th scope=\"row\">Tiny \(tiny\)</th>(.*?)</tr>", html).group(1)
    assert "50%" not in tiny_row and "*" in tiny_row


def test_who_gets_linked_less_has_a_chart_and_table_per_group_kind_with_recall_when_truth_is_given():
    html = section(render_report(metrics(), title="t"), "linked-less")
    assert html.count('class="vl-chart"') == 2 and "By partner" in html and "By age band" in html
    assert "75.0%" in html and "90.0%" in html and "12.3" in html  # linkage rate, recall, estimated missed
    assert "Recall" in html and "Missed links" in html
    no_truth = section(render_report(metrics(truth=False), title="t"), "linked-less")
    assert "Recall" not in no_truth and "Est. missed links" in no_truth


def test_small_groups_are_suppressed_in_the_linked_less_tables():
    html = section(render_report(metrics(), title="t", small_count_threshold=5), "linked-less")
    row = re.search(r"<tr><th scope=\"row\">65\+</th>(.*?)</tr>", html).group(1)
    assert "33.3%" not in row and "0.5" not in row and row.count(">*<") >= 3


def test_confusion_counts_and_top_errors_render_with_masked_values_only():
    html = render_report(metrics(), title="t")
    conf = section(html, "confusion")
    assert "True pairs never proposed by blocking" in conf and "900" in conf
    top = section(html, "top-errors")
    assert "Highest-weighted false positives" in top and "AB****56C" in top and top.count('class="vl-chart"') == 1
    assert "No true candidate pair was left unlinked." in top


def test_the_estimated_quality_section_points_to_clerical_review():
    html = section(render_report(metrics(truth=False), title="t"), "estimated")
    assert "pace-linkage review export" in html and "pace-linkage review import" in html


def test_new_sections_render_deterministically_and_without_external_references():
    a, b = render_report(metrics(), title="t"), render_report(metrics(), title="t")
    assert a == b
    assert not re.search(r"(src|href)=\"(https?:)?//", a)
    assert "<script" not in a[:a.index("</main>")].replace('<script type="application/json"', "")


# --------------------------------------------------------------------------------------------------
# The metrics behind the sections, from a real (small) run of the library stages
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run(synth_data):
    cfg = load_config()
    cfg.report.top_errors = 3
    run = library_run(synth_data / "extracts", cfg)
    truth = load_truth(synth_data / "truth.csv")
    return run, truth, evaluate_run(run, truth)


def test_a_run_reports_holdings_for_every_partner(small_run):
    run, _, m = small_run
    assert sorted(m["holdings"]) == sorted(b.source for b in run.batches)
    assert m["holdings"]["dwp"]["nino"] > 0.5 and m["holdings"]["citizens_advice"]["nino"] is None
    assert m["holdings_warnings"] == []


def test_a_run_reports_linked_less_by_every_group_kind_and_records_add_up(small_run):
    run, _, m = small_run
    assert set(m["linked_less"]) == {"partner", "sex", "age_band", "council_area", "moved"}
    for kind, rows in m["linked_less"].items():
        assert sum(r["records"] for r in rows) == len(run.records), kind
        assert all(0 <= r["linkage_rate"] <= 1 for r in rows)
    overall_missed = m["pairwise"]["fn"]
    assert sum(r["missed_links"] for r in m["linked_less"]["partner"]) >= overall_missed


def test_confusion_counts_add_up_to_the_true_and_candidate_pairs(small_run):
    _, _, m = small_run
    c = m["confusion"]
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == c["candidate_pairs"] == m["blocking"]["pairs"]
    assert c["tp"] + c["fn"] + c["missed_by_blocking"] == c["true_pairs"]


def test_top_errors_are_truly_wrong_highest_weighted_first_and_masked(small_run):
    run, truth, m = small_run
    person = run.records[["source", "record_id"]].merge(truth, how="left")["person_id"].to_numpy()
    for key, same in [("false_positives", False), ("false_negatives", True)]:
        items = m["top_errors"][key]
        assert len(items) <= 3
        weights = [ex["match_weight"] for ex in items]
        assert weights == sorted(weights, reverse=True)
        for ex in items:
            assert (ex["match_probability"] >= run.threshold) != same
    # truth confirms the first false positive joins two different people
    fp = m["top_errors"]["false_positives"]
    if fp:
        w = run.scored["match_weight"].to_numpy()
        pos = np.flatnonzero(np.isclose(w, fp[0]["match_weight"], atol=1e-4))
        l_, r_ = run.blocking.pairs["l"].to_numpy()[pos], run.blocking.pairs["r"].to_numpy()[pos]
        assert (person[l_] != person[r_]).any()
    raw_surnames = set(run.records["surname"].dropna())
    shown = {r.get("left") for key in m["top_errors"] for ex in m["top_errors"][key] for r in ex["rows"]}
    assert shown and not (shown & raw_surnames - {""})
