"""Key figures name the worst-linked partner and the reason that quarantined the most rows."""

from __future__ import annotations

from pace_linkage.report.page import Page
from pace_linkage.report.summary import key_figures


def metrics(recall: bool, reasons: dict[str, dict[str, int]]) -> dict:
    rows = [{"group": "sds", "records": 10, "linkage_rate": 0.9, **({"recall": 0.97} if recall else {})},
            {"group": "dwp", "records": 10, "linkage_rate": 0.8, **({"recall": 0.99} if recall else {})}]
    by_source = {"sds": {"label": "Skills <Development> Scotland", "reasons": reasons.get("sds", {})},
                 "dwp": {"label": "DWP", "reasons": reasons.get("dwp", {})}}
    return {"counts": {"rows_in": 20, "by_source": by_source}, "linked_less": {"partner": rows}}


def test_with_truth_the_worst_partner_is_the_one_with_the_lowest_recall_and_its_label_is_escaped():
    html = key_figures(metrics(True, {}), Page({}, 0))
    assert "Worst-linked partner" in html and "Skills &lt;Development&gt; Scotland (recall 0.970)" in html
    assert "none: no row quarantined" in html


def test_without_truth_the_worst_partner_is_the_one_least_linked_and_reasons_are_summed_over_partners():
    m = metrics(False, {"sds": {"dob_invalid": 3, "name_missing": 4}, "dwp": {"dob_invalid": 2}})
    html = key_figures(m, Page({}, 0))
    assert "DWP (linked 0.800)" in html
    assert "dob_invalid (5 rows)" in html
