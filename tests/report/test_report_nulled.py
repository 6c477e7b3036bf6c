"""The report's section on values the normalisers nulled: counts by source, field and reason, and the warnings,
under small-count suppression."""

from pace_linkage.report.page import Page
from pace_linkage.report.sources import nulled_values

COVERAGE = {"p": {"dob": {"rows": 60, "valid": 0, "present": 60, "nulled": {"dob_before_earliest": 60}},
                  "surname": {"rows": 60, "valid": 60, "present": 60}}}
WARNINGS = [
    {"kind": "null_share", "source": "p", "field": "dob", "column": "Born on", "present": 60, "nulled": 60,
     "reasons": {"dob_before_earliest": 60}, "message": "..."},
    {"kind": "day_month_order", "source": "p", "field": "dob", "column": "Born on", "format": "%d/%m/%Y",
     "order": "day before month", "fit_order": 0, "fit_other": 37, "fit_both": 23, "present": 60, "message": "..."},
]


def test_the_section_lists_nulled_values_by_reason_and_each_warning():
    metrics = {"coverage": COVERAGE, "normalise_warnings": WARNINGS}
    html = nulled_values(metrics, Page(metrics, 0))
    assert html.count("Born on") == 2 and "dob_before_earliest" in html and "100.0%" in html
    assert "month before day" in html and "37" in html and "23" in html


def test_small_counts_are_suppressed_in_the_table_and_the_warnings():
    metrics = {"coverage": COVERAGE, "normalise_warnings": WARNINGS}
    html = nulled_values(metrics, Page(metrics, 100))
    assert "dob_before_earliest" in html and not any(str(n) in html for n in (60, 37, 23))


def test_nothing_nulled_and_nothing_warned_leaves_the_section_out():
    metrics = {"coverage": {"p": {"surname": COVERAGE["p"]["surname"]}}, "normalise_warnings": []}
    assert nulled_values(metrics, Page(metrics, 0)) is None
