"""Example pairs on the report carry their records' ids (source and record id, as clusters.csv names them)."""

from __future__ import annotations

import re

from conftest import library_run
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.evaluate import metrics
from pace_linkage.redact import mask_nino_runs
from pace_linkage.report import render_report
from pace_linkage.schema import LEFT, RECORD_ID, RIGHT, SOURCE

RAW_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}", re.IGNORECASE)


def test_each_explained_pair_names_its_two_records_and_the_report_shows_them(synth_data):
    run = library_run(synth_data / "extracts")
    positions, titles = metrics.near_threshold(run, 2)
    explained = metrics.explain_pairs(run, positions, titles)
    rec, pairs = run.records, run.blocking.pairs
    for pos, ex in zip(positions, explained, strict=True):
        left, right = int(pairs[LEFT].iat[pos]), int(pairs[RIGHT].iat[pos])
        assert ex["sources"] == [rec[SOURCE].iat[left], rec[SOURCE].iat[right]]
        assert ex["records"] == [mask_nino_runs(rec[RECORD_ID].iat[left]), mask_nino_runs(rec[RECORD_ID].iat[right])]
    html = render_report({"explanations": explained}, title="t")
    for ex in explained:
        (ls, rs), (lr, rr) = ex["sources"], ex["records"]
        assert f"({ls} {lr} / {rs} {rr})" in html


def test_examples_from_an_older_run_without_record_ids_still_name_their_sources():
    ex = {"title": "linked", "sources": ["sds", "dwp"], "match_weight": 1.0, "match_probability": 0.7,
          "rows": [{"comparison": "prior", "level": "prior", "weight": 1.0}]}
    html = render_report({"explanations": [ex]}, title="t")
    assert "Pair 1: linked (sds / dwp)" in html


@given(st.text(alphabet="ABCDGJPSWZabz0123456789-_ ", max_size=24))
@settings(max_examples=300, deadline=None)
def test_a_record_id_is_shown_whole_unless_part_of_it_is_shaped_like_an_ni_number(key):
    shown = mask_nino_runs(key)
    assert not RAW_NINO.search(shown) and len(shown) == len(key)
    if not RAW_NINO.search(key):
        assert shown == key
    kept = [i for i, (a, b) in enumerate(zip(key, shown, strict=True)) if a != b]
    assert all(shown[i] == "*" and key[i].isdigit() for i in kept)


def test_ni_number_shaped_record_ids_are_masked_others_kept():
    assert mask_nino_runs("PW100063") == "PW****63" and mask_nino_runs("x-jk104729a") == "x-jk****29a"
    assert mask_nino_runs("SDS1001667") == "SDS1001667" and mask_nino_runs("CAB-000123") == "CAB-000123"
