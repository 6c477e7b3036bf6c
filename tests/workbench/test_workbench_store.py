"""The workbench with ``--store``: a cluster's history across incremental runs, labels appended to the store's
labels table and honoured by the next incremental run as clerical decisions; without ``--store`` no store is
touched. Incremental runs go through the flow's own pieces (its tasks' functions, no Prefect flow), on a real
DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from run_folder import Delivery, bench_run, deliveries  # noqa: F401, F811 (the fixtures)

from pace_linkage.errors import ConfigError, InputError
from pace_linkage.evaluate.runfolder import load_run
from pace_linkage.incremental import persist
from pace_linkage.store import database as store
from pace_linkage.workbench.app import create_app

TOKEN = "t0ken-for-tests"
KEYS = ["source", "record_id"]


def client(folder, url=None) -> TestClient:
    c = TestClient(create_app(folder, TOKEN, store=None if url is None else str(url)), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    return c


@pytest.fixture()
def folder(bench_run, tmp_path):  # noqa: F811
    return shutil.copytree(bench_run, tmp_path / "run")


def test_the_cluster_studio_shows_the_ids_history_across_two_incremental_runs(folder, deliveries):  # noqa: F811
    a, b, m2 = deliveries["a"], deliveries["b"], deliveries["m2"]
    survivor = m2.pid(a["source"], a["record_id"])
    assert survivor == m2.pid(b["source"], b["record_id"])  # the must-link merged the two persons
    retired = ({a["pace_id"], b["pace_id"]} - {survivor}).pop()
    c = client(folder, deliveries["db"])
    assert c.get("/api/run").json()["store"] is True
    view = c.get(f"/api/cluster?q={a['source']}/{a['record_id']}&t={load_run(folder).threshold}").json()
    events, ids = pd.DataFrame(view["history"]["events"]), pd.DataFrame(view["history"]["ids"])
    assert events["seq"].is_monotonic_increasing and events["seq"].is_unique
    assert set(events["run_id"]) == {"m1", "m2"} and events["run_id"].tolist() == sorted(events["run_id"])
    merged = events[events["event"] == "merged"]
    assert ((merged["run_id"] == "m2") & (merged["id"] == survivor) & (merged["other_id"] == retired)).any()
    # followed backward through the merge: the retired person's own creation in m1 is shown, and it resolves
    assert ((events["event"] == "created") & (events["id"] == retired) & (events["run_id"] == "m1")).any()
    by_id = ids.set_index("id")
    assert by_id.loc[retired, "status"] == "retired" and by_id.loc[retired, "now"] == survivor
    assert by_id.loc[survivor, "now"] == survivor
    # every event names one of the ids shown, or one of the cluster's records
    shown = set(ids["id"])
    cluster = {(r["source"], r["record_id"]) for r in view["records"]}
    assert all(e["id"] in shown or e["other_id"] in shown or (e["source"], e["record_id"]) in cluster
               for e in view["history"]["events"])


def test_history_is_none_without_a_store_and_the_page_draws_it_as_a_table(folder):
    c = client(folder)
    view = c.get(f"/api/cluster?q={pd.read_csv(folder / 'clusters.csv', dtype=str)['pace_id'].iat[0]}"
                 f"&t={load_run(folder).threshold}").json()
    assert view["history"] is None and c.get("/api/run").json()["store"] is False
    script = c.get("/static/app.js").text
    assert "cluster-history" in script and "History across incremental runs" in script


def pairs_in_state(folder, assignments: pd.DataFrame) -> pd.DataFrame:
    """The run's scored pairs whose records both hold an id in ``assignments``, with both ids."""
    pairs = load_run(folder).pairs.reset_index(drop=True).assign(pair=lambda f: np.arange(len(f)))
    ids = assignments.set_index(KEYS)["pace_id"]
    for side in ("l", "r"):
        key = pd.MultiIndex.from_frame(pairs[[f"source_{side}", f"record_id_{side}"]])
        pairs[f"id_{side}"] = ids.reindex(key).to_numpy()
    return pairs.dropna(subset=["id_l", "id_r"])


def test_labels_given_with_a_store_land_there_and_the_next_run_honours_them(folder, deliveries, tmp_path):  # noqa: F811
    db = shutil.copy(deliveries["after_m1"], tmp_path / "pace.duckdb")
    m1 = deliveries["m1"].result.state
    pairs = pairs_in_state(folder, m1.assignments)
    size = m1.assignments["pace_id"].value_counts()
    same = pairs[(pairs["id_l"] == pairs["id_r"]) & (pairs["id_l"].map(size) == 2)].iloc[0]
    apart = pairs[(pairs["id_l"] != pairs["id_r"]) & ~pairs["id_l"].isin([same["id_l"]])
                  & ~pairs["id_r"].isin([same["id_l"]])].iloc[0]
    c = client(folder, db)
    for pair, label in ((int(same["pair"]), "match"), (int(same["pair"]), "non-match"), (int(apart["pair"]), "match"),
                        (int(apart["pair"]), "unsure")):
        assert c.post(f"/api/label/{pair}/{label}").status_code == 200
    with store.open_store(db, create=False) as st:
        labels = st.read("labels")
    assert list(labels.columns) == ["run_id", "source_l", "record_id_l", "source_r", "record_id_r", "label", "seq"]
    assert labels["seq"].tolist() == [1, 2, 3, 4] and set(labels["run_id"]) == {"bench"}
    assert labels["label"].tolist() == ["match", "non-match", "match", "unsure"]

    # the next incremental run: the pair's later non-match replaced its match; the unsure label is left out
    rest = deliveries["records"][~deliveries["first"]].reset_index(drop=True)
    m2 = Delivery(db, deliveries["cfg"], deliveries["batches"], rest, "m2")
    assert sorted(m2.labels["decision"]) == ["cannot_link", "must_link"]
    assert m2.result.summary["totals"]["clerical_added"] == 2
    assert m2.pid(same["source_l"], same["record_id_l"]) != m2.pid(same["source_r"], same["record_id_r"])
    assert m2.pid(apart["source_l"], apart["record_id_l"]) == m2.pid(apart["source_r"], apart["record_id_r"])
    with store.open_store(db, create=False) as st:
        decided = st.read_state()["state_clerical"]
        assert set(decided["decided_run"]) == {"m2"} and len(decided) == 2
        again, seen = persist.label_decisions(st, st.state_version())
    assert again.empty and seen == 4  # applied once: the run after m2 gets none of them again
    c.post(f"/api/label/{int(same['pair'])}/match")  # given after m2: the next run gets this one only
    with store.open_store(db, create=False) as st:
        later, seen = persist.label_decisions(st, st.state_version())
    assert later["decision"].tolist() == ["must_link"] and seen == 5


def test_a_clerical_file_wins_over_a_label_on_the_same_pair():
    keys = {"source_l": "sds", "record_id_l": "2", "source_r": "dwp", "record_id_r": "1"}
    labels = pd.DataFrame([{**keys, "decision": "must_link"}])
    file = pd.DataFrame([{"source_l": "dwp", "record_id_l": "1", "source_r": "sds", "record_id_r": "2",
                          "decision": "cannot_link"}])
    both = persist.with_labels(labels, file)
    assert both.to_dict("records") == [{"source_l": "dwp", "record_id_l": "1", "source_r": "sds",
                                        "record_id_r": "2", "decision": "cannot_link"}]
    assert persist.with_labels(labels.iloc[:0], None) is None


def test_without_a_store_labels_touch_no_store(folder, deliveries, tmp_path):  # noqa: F811
    db = Path(shutil.copy(deliveries["after_m1"], tmp_path / "pace.duckdb"))
    before = db.read_bytes()
    c = client(folder)
    pair = c.get("/api/label").json()["next"]["pair"]
    assert c.post(f"/api/label/{pair}/non-match").status_code == 200
    assert (folder / "labels.csv").exists() and db.read_bytes() == before
    with store.open_store(db, create=False) as st:
        assert not st.has_table("labels")


def test_a_bad_or_missing_store_is_one_line_and_nothing_is_created(folder, tmp_path):
    with pytest.raises(ConfigError, match="^--store: a password in the URL is refused"):
        create_app(folder, TOKEN, store="postgresql://me:secret@127.0.0.1/pace")
    missing = tmp_path / "none" / "pace.duckdb"
    with pytest.raises(InputError, match="no such store") as info:
        create_app(folder, TOKEN, store=str(missing))
    assert "\n" not in str(info.value) and not missing.parent.exists()


def test_history_follows_ids_through_splits_and_merges_both_ways_and_leaves_other_persons_out():
    from pace_linkage.workbench.history import cluster_history

    cols = ["run_id", "seq", "event", "pace_id", "other_id", "source", "record_id", "detail"]
    h = pd.DataFrame([
        ("m1", 0, "created", "PA", None, "s", "1", "{}"), ("m1", 1, "joined", "PA", None, "s", "2", "{}"),
        ("m1", 2, "created", "PZ", None, "s", "9", "{}"),  # another person, never linked to PA
        ("m2", 3, "split", "PA", "PB", None, None, "{}"), ("m2", 4, "created", "PB", "PA", "s", "2", "{}"),
        ("m3", 5, "created", "PC", None, "t", "7", "{}"), ("m10", 6, "merged", "PC", "PB", None, None, "{}"),
    ], columns=cols)
    ids = pd.DataFrame({"pace_id": ["PA", "PZ", "PB", "PC"], "status": ["active", "active", "retired", "active"],
                        "survivor": [None, None, "PC", None], "created_run": ["m1", "m1", "m2", "m3"],
                        "changed_run": ["m2", "m1", "m10", "m10"]})
    # the cluster as the run shows it: record s/1 under PA
    found = cluster_history(h, ids, ["PA"], pd.DataFrame({"source": ["s"], "record_id": ["1"]}))
    assert found["events"]["seq"].tolist() == [0, 1, 3, 4, 5, 6]  # in the order they happened (m10 after m3)
    assert found["ids"].set_index("id")["now"].to_dict() == {"PA": "PA", "PB": "PC", "PC": "PC"}
    # found from a record alone (a run whose ids the store never issued)
    by_record = cluster_history(h, ids, ["Pnever"], pd.DataFrame({"source": ["t"], "record_id": ["7"]}))
    assert by_record["events"]["seq"].tolist() == [0, 1, 3, 4, 5, 6]
    assert cluster_history(h, ids, ["PZ"], pd.DataFrame({"source": ["s"], "record_id": ["9"]}))[
        "events"]["seq"].tolist() == [2]


def test_the_command_refuses_a_bad_store_in_one_line_naming_no_secret(folder, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["workbench", "--run", str(folder), "--store", "postgresql://me:s3cret@h/pace"])
    assert res.exit_code != 0 and "s3cret" not in res.output and "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "--store: a password in the URL is refused" in errors[0]
    res = CliRunner().invoke(app, ["workbench", "--run", str(folder), "--store", str(tmp_path / "no.duckdb")])
    assert res.exit_code != 0 and "no such store" in res.output and not (tmp_path / "no.duckdb").exists()
