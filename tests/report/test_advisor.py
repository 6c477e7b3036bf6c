"""The blocking advisor and calibration sections (pace_linkage.report.advisor) from metrics alone."""

from __future__ import annotations

from pace_linkage.pipeline import report_page

EST = {"precision": 0.99, "recall": 0.93, "recall_low": 0.91, "recall_high": 0.94, "recall_among_compared": 0.99,
       "missed_by_blocking": 812.4, "missed_by_blocking_low": 700.0, "missed_by_blocking_high": 990.0,
       "recovered_by_clustering": 17.0, "links": 100,
       "looser_keys": [
           {"name": "dob", "rule": "dob_surname_sound", "pairs": 5000, "sampled": 5000, "exact": True,
            "new_pairs": 4000.0, "matches": 30.0, "se": 0.0},
           {"name": "surname_canon+first_name_canon", "rule": "names_area", "pairs": 90000, "sampled": 2000,
            "exact": False, "new_pairs": 60000.0, "matches": 780.0, "se": 40.0},
           {"name": "first_name_initial", "rule": "postcode_first_initial", "pairs": 10**8, "skipped": "too many pairs"}]}


def test_advisor_names_the_lost_matches_and_the_key_that_finds_them_first():
    html = report_page({"estimated": EST}, title="t")
    section = html[html.index('id="blocking-advisor"'):]
    assert "812" in section and "700 to 990" in section
    # the key that would add most matches comes first, with its extra pairs and its yield per 1,000 pairs
    assert section.index("surname_canon+first_name_canon") < section.index(">dob<")
    assert "60,000" in section and "13.00" in section
    assert "not sampled" in section
    est = html[html.index('id="estimated"'):html.index('id="blocking-advisor"')]
    assert "0.9300" in est and "0.9100 to 0.9400" in est and "0.9900" in est


def test_without_the_label_free_estimate_no_advisor_and_the_old_wording():
    html = report_page({"estimated": {"precision": 0.99, "recall": 0.98, "links": 3}}, title="t")
    assert 'id="blocking-advisor"' not in html
    assert "cannot see true matches" in html


def test_calibration_table_with_truth():
    cal = [{"low": 0.5, "high": 0.9, "pairs": 56, "mean_probability": 0.68, "true_share": 0.79}]
    html = report_page({"calibration": cal}, title="t")
    section = html[html.index('id="calibration"'):]
    assert "0.6800" in section and "0.7900" in section and "56" in section
