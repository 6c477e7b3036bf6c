"""Example pairs on the report carry their records' ids (source and record id, as clusters.csv names them)."""

from __future__ import annotations

from conftest import library_run

from pace_linkage.evaluate import metrics
from pace_linkage.report import render_report
from pace_linkage.schema import LEFT, RECORD_ID, RIGHT, SOURCE


def test_each_explained_pair_names_its_two_records_and_the_report_shows_them(synth_data):
    run = library_run(synth_data / "extracts")
    positions, titles = metrics.near_threshold(run, 2)
    explained = metrics.explain_pairs(run, positions, titles)
    rec, pairs = run.records, run.blocking.pairs
    for pos, ex in zip(positions, explained, strict=True):
        left, right = int(pairs[LEFT].iat[pos]), int(pairs[RIGHT].iat[pos])
        assert ex["sources"] == [rec[SOURCE].iat[left], rec[SOURCE].iat[right]]
        assert ex["records"] == [str(rec[RECORD_ID].iat[left]), str(rec[RECORD_ID].iat[right])]
    html = render_report({"explanations": explained}, title="t")
    for ex in explained:
        (ls, rs), (lr, rr) = ex["sources"], ex["records"]
        assert f"({ls} {lr} / {rs} {rr})" in html


def test_examples_from_an_older_run_without_record_ids_still_name_their_sources():
    ex = {"title": "linked", "sources": ["sds", "dwp"], "match_weight": 1.0, "match_probability": 0.7,
          "rows": [{"comparison": "prior", "level": "prior", "weight": 1.0}]}
    html = render_report({"explanations": [ex]}, title="t")
    assert "Pair 1: linked (sds / dwp)" in html
