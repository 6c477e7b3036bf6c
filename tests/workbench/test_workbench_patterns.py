"""The comparison viewer's endpoints and the records' values, in process: patterns cover every scored pair, their
links agree with the threshold curve, a pattern's weight is its pairs' level weights plus the prior, samples are
deterministic and of their pattern; values appear in a waterfall only when the workbench was given the extracts."""

from __future__ import annotations

import json
import logging
import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from run_folder import bench_run  # noqa: F401, F811 (the fixture)

from pace_linkage.evaluate.runfolder import load_run
from pace_linkage.workbench.app import create_app

TOKEN = "t0ken-for-tests"


def client(folder, **options) -> TestClient:
    c = TestClient(create_app(folder, TOKEN, **options), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    return c


@pytest.fixture(scope="module")
def extracted(synth_data) -> dict:
    """The run's extracts read and normalised with the default config, as the command reads them."""
    from pace_linkage.config import load_config
    from pace_linkage.pipeline import read_sources

    cfg = load_config()
    return {"records": read_sources(cfg, synth_data / "extracts"), "cfg": cfg}


@pytest.fixture(scope="module")
def plain(bench_run):  # noqa: F811 (nothing here writes to the folder: one client for the module)
    return client(bench_run)


def test_patterns_cover_every_pair_and_their_links_are_the_curves(plain, bench_run):  # noqa: F811
    run = load_run(bench_run)
    answer = plain.get(f"/api/patterns?t={run.threshold}").json()
    rows = answer["patterns"]
    assert sum(r["pairs"] for r in rows) == answer["pairs"] == len(run.pairs)
    assert len({r["pattern"] for r in rows}) == len(rows) > 3
    weights = [r["weight"] for r in rows]
    assert weights == sorted(weights, reverse=True)
    for r in rows:
        assert set(r["levels"]) == set(answer["comparisons"])
        assert 0 <= r["links"] <= r["pairs"]
        assert r["min_probability"] <= r["mean_probability"] <= r["max_probability"]
    curve = plain.get("/api/curve").json()
    for point in (curve[0], curve[len(curve) // 2], curve[-1]):
        at = plain.get(f"/api/patterns?t={point['threshold']}").json()
        assert sum(r["links"] for r in at["patterns"]) == point["links"]
    assert plain.get("/api/patterns?t=0").status_code == 400


def test_a_patterns_weight_is_its_pairs_level_weights_plus_the_prior(plain):
    rows = plain.get("/api/patterns?t=0.5").json()["patterns"]
    for r in (rows[0], rows[len(rows) // 2], rows[-1]):
        sample = plain.get(f"/api/patterns/{r['pattern']}?n=3").json()["sample"]
        assert sample
        for pair in sample:
            w = plain.get(f"/api/pair/{pair['pair']}").json()
            levels = [x for x in w["rows"] if x["comparison"] != "term frequency"]
            assert sum(x["weight"] for x in levels) == pytest.approx(r["weight"], abs=1e-4)
            assert {x["comparison"]: x["level"] for x in levels if x["comparison"] != "prior"} == r["levels"]


def test_a_patterns_sample_is_deterministic_and_all_of_its_pattern(plain):
    rows = plain.get("/api/patterns?t=0.5").json()["patterns"]
    big = max(rows, key=lambda r: (r["pairs"], r["pattern"]))
    assert big["pairs"] > 5
    first = plain.get(f"/api/patterns/{big['pattern']}?n=5").json()
    assert first == plain.get(f"/api/patterns/{big['pattern']}?n=5").json()
    numbers = [p["pair"] for p in first["sample"]]
    assert len(set(numbers)) == 5 and numbers == sorted(numbers) and first["pairs"] == big["pairs"]
    for number in numbers:
        levels = {x["comparison"]: x["level"] for x in plain.get(f"/api/pair/{number}").json()["rows"]}
        assert all(levels[c] == level for c, level in big["levels"].items())
    small = min(rows, key=lambda r: (r["pairs"], r["pattern"]))
    assert len(plain.get(f"/api/patterns/{small['pattern']}?n=50").json()["sample"]) == small["pairs"]


@pytest.mark.parametrize("pattern", ["9.9.9.9.9.9", "nothing", "0..1"])
def test_an_unknown_pattern_is_a_one_line_400(plain, pattern):
    answer = plain.get(f"/api/patterns/{pattern}")
    assert answer.status_code == 400 and answer.json() == {"error": "pattern: no scored pair has that pattern"}
    some = plain.get("/api/patterns?t=0.5").json()["patterns"][0]["pattern"]
    assert plain.get(f"/api/patterns/{some}?n=0").json() == {"error": "n: must be between 1 and 1000"}


def test_values_appear_in_a_waterfall_only_when_the_extracts_are_given(plain, bench_run, extracted, caplog):  # noqa: F811
    bare = plain.get("/api/pair/0").json()
    assert bare["values_loaded"] is False and "--extracts" in bare["values_note"]
    assert all("left" not in r for r in bare["rows"]) and "context" not in bare
    assert plain.get("/api/run").json()["values"] is False
    caplog.set_level(logging.DEBUG)
    full = client(bench_run, **extracted)
    assert full.get("/api/run").json()["values"] is True
    w = full.get("/api/pair/0").json()
    assert w["values_loaded"] is True and w["values_note"] is None  # the run's own config
    records = extracted["records"].set_index(["source", "record_id"])
    left, right = records.loc[(w["left"]["source"], w["left"]["record_id"])], \
        records.loc[(w["right"]["source"], w["right"]["record_id"])]
    compared = [r for r in w["rows"] if "field" in r]
    assert {r["comparison"] for r in compared} >= {"nino", "surname", "dob"}
    shown = []
    for r in compared + w["context"]:
        for side, record in (("left", left), ("right", right)):
            value = record[r["field"]]
            assert r[side] == (None if pd.isna(value) else str(value)), (r["field"], side)
            shown += [r[side]] if r[side] else []
    assert shown and w["context"] and {r["field"] for r in w["context"]}.isdisjoint({r["field"] for r in compared})
    assert "left" in full.get("/api/label").json()["next"]["rows"][1]  # the labelling pane shows them too
    assert not any(v in caplog.text for v in shown if len(v) > 3)  # shown, never logged


def test_a_config_not_the_runs_is_a_warning_and_records_missing_from_the_extracts_stop_the_start(
        bench_run, extracted, tmp_path):  # noqa: F811
    from pace_linkage.errors import InputError

    folder = shutil.copytree(bench_run, tmp_path / "run")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["config_hash"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    w = client(folder, **extracted).get("/api/pair/0").json()
    assert w["values_loaded"] is True and "config_hash differs" in w["values_note"]
    fewer = extracted["records"].iloc[1:]  # one record of the run missing
    with pytest.raises(InputError) as info:
        create_app(bench_run, TOKEN, records=fewer, cfg=extracted["cfg"])
    assert str(info.value) == "extracts: 1 of the run's records are not in them; pass the extracts the run linked"
