"""The scenarios page shows what each scenario costs: the recall of all true pairs it loses against the
baseline, beside the change in F1 over the records it still links."""

from __future__ import annotations

import json
import re

import pytest

from pace_linkage.study.scenarios import comparison_rows
from pace_linkage.study.scenarios_report import render_scenarios

ROWS = [
    {"scenario": "baseline", "label": "All partners", "f1": 0.99, "precision": 0.99, "recall": 0.99,
     "recall_all_true_pairs": 0.98},
    {"scenario": "sds_dwp", "label": "SDS + DWP only", "f1": 0.995, "precision": 0.996, "recall": 0.994,
     "recall_all_true_pairs": 0.25},
    {"scenario": "aggregates", "label": "Aggregates only", "f1": "n/a", "recall_all_true_pairs": "n/a"},
]


def test_each_linked_scenario_gets_its_change_in_recall_of_all_true_pairs():
    rows = comparison_rows(ROWS, "baseline")
    assert rows[0]["recall_all_change"] == 0.0
    assert rows[1]["recall_all_change"] == pytest.approx(0.25 - 0.98)
    assert rows[1]["f1_change"] == pytest.approx(0.005)
    assert "recall_all_change" not in rows[2]
    assert comparison_rows(ROWS[1:], "baseline")[0]["recall_all_change"] is None  # no baseline run


def test_the_page_charts_the_cost_beside_f1():
    html = render_scenarios({"rows": comparison_rows(ROWS, "baseline")}, title="Scenarios")
    assert "What each scenario costs against the baseline, in points" in html
    assert "recall of all true pairs (points)" in html and "F1 over the records linked (points)" in html
    values = [v for spec in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html)
              for v in json.loads(spec)["data"]["values"]]
    lost = [v["value"] for v in values if v.get("category") == "SDS + DWP only"
            and v.get("series") == "recall of all true pairs (points)"]
    assert lost == [pytest.approx(-73)]  # the pairs it can no longer find
