"""The workbench's endpoints, in process: token and host checks, the threshold figures, a pair's waterfall, a
cluster, labels kept in the run folder and read back by a new workbench."""

from __future__ import annotations

import shutil
import stat

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from run_folder import bench_run  # noqa: F401, F811 (the fixture)

from pace_linkage.evaluate.runfolder import load_run
from pace_linkage.workbench.app import create_app

TOKEN = "t0ken-for-tests"


@pytest.fixture()
def folder(bench_run, tmp_path):  # noqa: F811
    """A copy of the session's finished run (labels change the folder)."""
    return shutil.copytree(bench_run, tmp_path / "run")


def client(folder) -> TestClient:
    c = TestClient(create_app(folder, TOKEN), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    return c


def test_without_the_token_or_from_another_host_every_request_is_refused(folder):
    bare = TestClient(create_app(folder, TOKEN), base_url="http://127.0.0.1")
    for path in ("/", "/api/run", "/api/curve", "/static/app.js"):
        assert bare.get(path).status_code == 403
    assert bare.get("/api/run?token=wrong").status_code == 403
    first = bare.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert bare.get("/api/run").status_code == 200
    rebound = TestClient(create_app(folder, TOKEN), base_url="http://attacker.example")
    assert rebound.get(f"/api/run?token={TOKEN}").status_code == 403


def test_the_page_and_its_assets_come_from_the_package_under_a_strict_policy(folder):
    c = client(folder)
    page = c.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[0]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert c.get("/static/app.js").status_code == 200 and c.get("/static/other.js").status_code == 404
    assert c.get("/vendor/vega.min.js").status_code == 200 and c.get("/vendor/../app.py").status_code == 404


def test_moving_the_threshold_changes_the_links_clusters_and_estimates(folder):
    c = client(folder)
    run = c.get("/api/run").json()
    at_run, low = c.get(f"/api/threshold?t={run['threshold']}").json(), c.get("/api/threshold?t=0.05").json()
    metrics = load_run(folder).metrics
    assert at_run["clusters"] == metrics["clusters"]["pace_id"]["clusters"]
    assert low["links"] > at_run["links"] and low["clusters"] < at_run["clusters"]
    assert low["est_precision"] < at_run["est_precision"]
    bad = c.get("/api/threshold?t=1.5")
    assert bad.status_code == 400 and bad.json() == {"error": "threshold: must be strictly between 0 and 1"}


def test_a_pairs_waterfall_adds_up_to_its_weight_and_a_cluster_holds_its_records(folder):
    c = client(folder)
    run = load_run(folder)
    w = c.get("/api/pair/0").json()
    assert sum(r["weight"] for r in w["rows"]) == pytest.approx(w["match_weight"], abs=1e-4)
    assert w["left"]["source"] == str(run.pairs["source_l"].iat[0])
    clusters = pd.read_csv(folder / "clusters.csv", dtype=str)
    biggest = clusters["pace_id"].value_counts().index[0]
    view = c.get(f"/api/cluster?q={biggest}&t={run.threshold}").json()
    members = clusters.loc[clusters["pace_id"] == biggest, ["source", "record_id"]]
    assert sorted((r["source"], r["record_id"]) for r in view["records"]) == sorted(map(tuple, members.to_numpy()))
    assert view["pairs"] and all(e["match_probability"] >= run.threshold for e in view["pairs"] if e["links"])
    assert c.get(f"/api/cluster?q=nobody&t={run.threshold}").status_code == 400


def test_labels_are_kept_in_the_run_folder_and_a_new_workbench_reads_them(folder):
    c = client(folder)
    done = []
    for value in ("match", "non-match", "unsure"):
        nxt = c.get("/api/label").json()["next"]
        done.append(nxt["pair"])
        c.post(f"/api/label/{nxt['pair']}/{value}")
    assert len(set(done)) == 3
    labels = pd.read_csv(folder / "labels.csv", dtype=str)
    assert sorted(labels["label"]) == ["match", "non-match", "unsure"]
    assert stat.S_IMODE((folder / "labels.csv").stat().st_mode) == 0o600
    clerical = pd.read_csv(folder / "clerical.csv", dtype=str)
    assert sorted(clerical["label"]) == ["match", "non-match"]  # the decisions only
    again = client(folder).get("/api/label").json()
    assert again["labelled"] == {"match": 1, "non-match": 1, "unsure": 1}
    assert again["next"]["pair"] not in done
    assert load_run(folder).manifest["files"]["labels.csv"]  # the manifest vouches for the new files
    assert c.post("/api/label/0/maybe").status_code == 400


def test_by_partner_has_every_partner_with_rates_between_0_and_1(folder):
    rows = client(folder).get("/api/partners").json()
    metrics = load_run(folder).metrics
    assert [r["partner"] for r in rows] == sorted(metrics["counts"]["by_source"])
    for r in rows:
        for key in ("linkage_rate", "est_precision", "est_recall", "recall"):
            assert r[key] is None or 0 <= r[key] <= 1, key
        assert all(0 <= v <= 1 for v in r["valid"].values())
    assert sum(r["records"] for r in rows) == len(load_run(folder).records)


def test_a_bug_answers_500_with_its_type_only_never_its_message(folder, monkeypatch):
    from pace_linkage.workbench import views

    def broken(*_args):
        raise ValueError("AB123456C is the value a message might quote")

    monkeypatch.setattr(views, "figures_at", broken)
    answer = client(folder).get("/api/threshold?t=0.5")
    assert answer.status_code == 500 and answer.json() == {"error": "internal error: ValueError"}
    assert "content-security-policy" in answer.headers


def test_a_cluster_lists_the_links_refused_at_the_threshold_with_the_rule_that_refused_them(folder):
    import numpy as np

    from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RIGHT
    from pace_linkage.workbench import views

    bench = views.Workbench.open(folder)
    pairs, t = bench.run.pairs, 0.05
    labels = bench.labels_at(t)
    left, right = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()
    crossing = np.flatnonzero((pairs[MATCH_PROBABILITY].to_numpy() >= t) & (labels[left] != labels[right]))
    assert len(crossing), "the synthetic run has links refused at a low threshold"
    at = int(left[crossing[0]])
    query = f"{bench.run.records['source'].iat[at]}/{bench.run.records['record_id'].iat[at]}"
    view = client(folder).get(f"/api/cluster?q={query}&t={t}").json()
    refused = {r["pair"]: r for r in view["refused"]}
    assert int(crossing[0]) in refused
    for r in view["refused"]:
        assert r["probability"] >= t and r["other_cluster_records"] >= 1 and r["reasons"]
        assert all(x.split(":")[0] in ("size limit", "conflict", "duplicate-free source") for x in r["reasons"])
    assert view["refused"] == sorted(view["refused"], key=lambda r: -r["probability"])


def test_with_truth_the_figures_at_the_runs_threshold_are_the_runs_measured_ones(folder, synth_data):
    from pace_linkage.evaluate.metrics import load_truth

    c = TestClient(create_app(folder, TOKEN, truth=load_truth(synth_data / "truth.csv")), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    run = c.get("/api/run").json()
    assert run["truth"] is True
    at = c.get(f"/api/threshold?t={run['threshold']}").json()
    measured = load_run(folder).metrics["pairwise"]
    assert at["precision"] == pytest.approx(measured["precision"], abs=1e-6)
    assert at["recall"] == pytest.approx(measured["recall"], abs=1e-6)
    assert all("precision" in r for r in c.get("/api/curve").json())
    assert client(folder).get("/api/run").json()["truth"] is False
