"""metrics.json's label-free recall and calibration, from the session's flow run (``run_out``)."""

from __future__ import annotations

import json


def test_label_free_recall_in_metrics(run_out):
    out, _ = run_out
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    est = m["estimated"]
    assert est["recall_low"] <= est["recall"] <= est["recall_high"]
    assert est["missed_by_blocking_low"] <= est["missed_by_blocking"] <= est["missed_by_blocking_high"]
    assert "recall_among_compared" in est and est["looser_keys"]
    # the project's own data: the estimate is near the truth (the bar on unseen data is 1.5 points)
    assert abs(est["recall"] - m["pairwise"]["recall"]) < 0.015
    rules = {r["rule"] for r in m["blocking"]["rules"]}
    assert all(k["rule"] in rules for k in est["looser_keys"])  # named by rule and column names only
    cal = m["calibration"]
    assert sum(c["pairs"] for c in cal) == m["blocking"]["pairs"]
    assert all(c["low"] <= c["mean_probability"] <= c["high"] for c in cal)
