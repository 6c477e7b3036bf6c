"""``pace-linkage run --store DB --incremental`` through the pipeline flow: monthly deliveries keep pace ids."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pace_linkage import incremental as inc
from pace_linkage.errors import InputError
from pace_linkage.evaluate.quality import pairwise_metrics
from pace_linkage.incremental import persist
from pace_linkage.store import database as store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    import synthetic

    out = tmp_path_factory.mktemp("batches")
    synthetic.generate_batches(people=400, seed=11, out_dir=out, batches=2)
    return out


@pytest.fixture(scope="module")
def two_runs(prefect_harness, deliveries, tmp_path_factory):
    """Both deliveries linked incrementally into one DuckDB store; the second with a clerical must-link."""
    from flows.pipeline import pace_linkage_pipeline

    base = tmp_path_factory.mktemp("inc")
    db = base / "store" / "pace.duckdb"
    out1, out2 = base / "out1", base / "out2"
    pace_linkage_pipeline(extracts=str(deliveries / "batch_01" / "extracts"), out=str(out1), store=str(db),
                          incremental=True, run_id="m1", truth=str(deliveries / "batch_01" / "truth.csv"))
    c1 = pd.read_csv(out1 / "clusters.csv", dtype=str)
    # a must-link between two batch-1 records of different persons (a reviewer's decision)
    a, b = c1.drop_duplicates("pace_id").iloc[[0, 1]].to_dict("records")
    clerical = base / "clerical.csv"
    pd.DataFrame([{"source_l": a["source"], "record_id_l": a["record_id"], "source_r": b["source"],
                   "record_id_r": b["record_id"], "label": "match"}]).to_csv(clerical, index=False)
    pace_linkage_pipeline(extracts=str(deliveries / "batch_02" / "extracts"), out=str(out2), store=str(db),
                          incremental=True, run_id="m2", truth=str(deliveries / "batch_02" / "truth.csv"),
                          clerical=str(clerical))
    return {"db": db, "out1": out1, "out2": out2, "a": a, "b": b, "deliveries": deliveries}


def test_every_id_of_the_first_delivery_keeps_its_meaning_after_the_second(two_runs):
    c1 = pd.read_csv(two_runs["out1"] / "clusters.csv", dtype=str)
    c2 = pd.read_csv(two_runs["out2"] / "clusters.csv", dtype=str)
    with store.open_store(two_runs["db"]) as st:
        ids = st.read("state_ids")
    both = c1.merge(c2, on=["source", "record_id"], suffixes=("_1", "_2"))
    assert len(both) > 0.9 * len(c1)  # only deleted records are gone
    resolved = both["pace_id_1"].map(lambda i: inc.resolve(ids, i))
    moved = both[resolved != both["pace_id_2"]]
    history = pd.read_csv(two_runs["out2"] / "id_history.csv", dtype=str)
    updated = set(zip(history.loc[history["event"] == "record_updated", "source"],
                      history.loc[history["event"] == "record_updated", "record_id"], strict=True))
    # a record may only change person if it was updated (new evidence about it) or its person was split
    assert all((s, r) in updated for s, r in zip(moved["source"], moved["record_id"], strict=True))


def test_the_clerical_must_link_joins_two_persons_and_the_merge_is_recorded(two_runs):
    c2 = pd.read_csv(two_runs["out2"] / "clusters.csv", dtype=str).set_index(["source", "record_id"])
    a, b = two_runs["a"], two_runs["b"]
    assert c2.loc[(a["source"], a["record_id"]), "pace_id"] == c2.loc[(b["source"], b["record_id"]), "pace_id"]
    with store.open_store(two_runs["db"]) as st:
        hist = st.read("id_history")
        clerical = st.read_state()["state_clerical"]
    merged = hist[(hist["event"] == "merged") & (hist["run_id"] == "m2")]
    assert {a["pace_id"], b["pace_id"]} <= set(merged["pace_id"]) | set(merged["other_id"])
    assert clerical["decision"].tolist().count("must_link") >= 1  # stored for every later run


def test_deleted_records_leave_the_persons_and_keep_no_values(two_runs):
    deleted = pd.read_csv(two_runs["deliveries"] / "batch_02" / "extracts" / "deletions.csv", dtype=str)
    assert len(deleted)
    c2 = pd.read_csv(two_runs["out2"] / "clusters.csv", dtype=str)
    keys = set(zip(c2["source"], c2["record_id"], strict=True))
    assert not [k for k in zip(deleted["source"], deleted["record_id"], strict=True) if k in keys]
    with store.open_store(two_runs["db"]) as st:
        removed = st.read("removed_records")
        live = st.read_state()["state_records"]
    assert set(removed.columns) == {"run_id", "source", "record_id", "pace_id", "reason"}
    assert set(removed["reason"]) <= {"deleted", "consent_withdrawn"}
    assert len(live) == len(c2)


def test_the_report_shows_what_changed_and_quality_over_all_live_records(two_runs):
    m = json.loads((two_runs["out2"] / "metrics.json").read_text())
    tot = m["incremental"]["totals"]
    assert tot["new"] > 0 and tot["updated"] > 0 and tot["deleted"] > 0 and tot["merges"] >= 1
    assert tot["records_after"] == m["clusters"]["records"]
    assert m["pairwise"]["f1"] > 0.95
    html = (two_runs["out2"] / "report.html").read_text()
    assert "What changed in this delivery" in html and "Joined an existing person" in html


def test_two_deliveries_give_the_persons_of_one_full_run(two_runs, prefect_harness, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    d = two_runs["deliveries"]
    pace_linkage_pipeline(extracts=str(d / "all" / "extracts"), out=str(tmp_path / "all"),
                          truth=str(d / "all" / "truth.csv"))
    one = pd.read_csv(tmp_path / "all" / "clusters.csv", dtype=str)
    two = pd.read_csv(two_runs["out2"] / "clusters.csv", dtype=str)
    assert set(zip(one["source"], one["record_id"], strict=True)) == set(zip(two["source"], two["record_id"],
                                                                         strict=True))
    # the batched persons measured against the one-go persons as if those were the truth
    agreement = pairwise_metrics(two, one.rename(columns={"pace_id": "person_id"}))
    assert agreement["f1"] >= 0.98, agreement
    truth = pd.read_csv(d / "all" / "truth.csv", dtype=str)
    f_one, f_two = pairwise_metrics(one, truth)["f1"], pairwise_metrics(two, truth)["f1"]
    assert abs(f_one - f_two) < 0.02


def test_a_delivery_applied_twice_under_one_run_id_is_refused(two_runs, prefect_harness, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    with pytest.raises(InputError, match="already applied"):
        pace_linkage_pipeline(extracts=str(two_runs["deliveries"] / "batch_02" / "extracts"), out=str(tmp_path),
                              store=str(two_runs["db"]), incremental=True, run_id="m2")


def test_the_state_survives_the_store_round_trip_with_its_types(two_runs, deliveries):
    with store.open_store(two_runs["db"]) as st:
        state, model = persist.load_state(st)
    assert model is not None and state.persons() == int((state.ids["status"] == "active").sum())
    assert state.records[["source", "record_id"]].duplicated().sum() == 0
