"""Clerical estimates from the workbench's labels: the whole queue labelled from truth gives intervals that hold
the pairs' real precision and recall; a few labels give a wide interval; labels outside the sample are left out;
the endpoints answer with the estimate and it moves with each label."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from run_folder import bench_run  # noqa: F401, F811 (the fixture)

from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.evaluate.runfolder import PAIR_KEYS
from pace_linkage.workbench import clerical, views
from pace_linkage.workbench.app import create_app

TOKEN = "t0ken-for-tests"


@pytest.fixture()
def folder(bench_run, tmp_path):  # noqa: F811
    return shutil.copytree(bench_run, tmp_path / "run")


def _truth_match(bench, synth_data) -> np.ndarray:
    """Per scored pair: are its two records one person?"""
    truth = load_truth(synth_data / "truth.csv")
    person = dict(zip(zip(truth["source"], truth["record_id"], strict=True), truth["person_id"], strict=True))
    pairs = bench.run.pairs
    left = [person[k] for k in zip(pairs["source_l"].astype(str), pairs["record_id_l"].astype(str), strict=True)]
    right = [person[k] for k in zip(pairs["source_r"].astype(str), pairs["record_id_r"].astype(str), strict=True)]
    return np.asarray(left) == np.asarray(right)


def _labels(bench, positions, is_match) -> pd.DataFrame:
    pairs = bench.run.pairs
    frame = pairs.iloc[positions][PAIR_KEYS].astype(str).reset_index(drop=True)
    return frame.assign(label=np.where(is_match[positions], "match", "non-match"))


def test_the_whole_queue_labelled_from_truth_gives_intervals_holding_the_real_figures(folder, synth_data):
    bench = views.Workbench.open(folder)
    is_match = _truth_match(bench, synth_data)
    queue = views.queue_sample(bench)["pos"].to_numpy()
    labels = _labels(bench, queue, is_match)
    prob = bench.run.pairs["match_probability"].to_numpy()
    for t in (bench.threshold, 0.5):
        linked = prob >= t
        real_precision = is_match[linked].mean()
        real_recall = (is_match & linked).sum() / is_match.sum()
        e = clerical.estimate_at(bench, labels, t)
        assert e["decided"] == len(queue) and e["outside_sample"] == 0
        p, r = e["precision"], e["recall"]
        assert p["ci_low"] <= real_precision <= p["ci_high"], (t, p, real_precision)
        assert r["ci_low"] <= real_recall <= r["ci_high"], (t, r, real_recall)
        assert p["ci_low"] <= p["estimate"] <= p["ci_high"]


def test_few_labels_give_a_wide_interval_and_labels_outside_the_sample_are_left_out(folder, synth_data):
    bench = views.Workbench.open(folder)
    is_match = _truth_match(bench, synth_data)
    queue = views.queue_sample(bench)["pos"].to_numpy()
    outside = np.setdiff1d(np.arange(len(bench.run.pairs)), queue)[:5]
    few = clerical.estimate_at(bench, _labels(bench, np.r_[queue[:4], outside], is_match), bench.threshold)
    whole = clerical.estimate_at(bench, _labels(bench, queue, is_match), bench.threshold)
    assert few["decided"] == 4 and few["outside_sample"] == 5
    width = {k: e["precision"]["ci_high"] - e["precision"]["ci_low"] for k, e in (("few", few), ("whole", whole))
             if e["precision"]["estimate"] is not None}
    assert "whole" in width and width.get("few", 1.0) > width["whole"]
    assert clerical.estimate_at(bench, _labels(bench, queue[:0], is_match), 0.5)["precision"] is None
    assert clerical.curve_at(bench, _labels(bench, queue[:0], is_match), (0.5, 0.9)) == []
    rows = clerical.curve_at(bench, _labels(bench, queue, is_match), (0.5, 0.9))
    assert [r["threshold"] for r in rows] == [0.5, 0.9]
    assert all(r["precision_low"] <= r["precision"] <= r["precision_high"] for r in rows)


def test_the_estimate_moves_with_each_label_given_in_the_workbench(folder):
    c = TestClient(create_app(folder, TOKEN), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    t = c.get("/api/run").json()["threshold"]
    before = c.get(f"/api/clerical?t={t}").json()
    assert before["decided"] == 0 and before["precision"] is None and c.get("/api/clerical/curve").json() == []
    for value in ("match", "match", "non-match"):
        c.post(f"/api/label/{c.get('/api/label').json()['next']['pair']}/{value}")
    after = c.get(f"/api/clerical?t={t}").json()
    assert after["decided"] == 3 and after["labels"]["match"] == 2
    assert after["precision"] is not None or after["recall"] is not None
    assert len(c.get("/api/clerical/curve").json()) > 1
    assert c.get("/api/clerical?t=0").status_code == 400


def test_the_ids_at_a_chosen_threshold_are_saved_as_recluster_saves_them_honouring_the_labels(folder, tmp_path):
    from pace_linkage.evaluate import recluster
    from pace_linkage.evaluate.runfolder import load_run

    bare = TestClient(create_app(folder, TOKEN), base_url="http://127.0.0.1")
    bare.get(f"/?token={TOKEN}", follow_redirects=False)
    assert bare.get("/api/run").json()["can_save"] is False
    refused = bare.post("/api/save?t=0.5")
    assert refused.status_code == 400 and "--save-to" in refused.json()["error"]
    saves = tmp_path / "saved"
    c = TestClient(create_app(folder, TOKEN, save_to=saves), base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}", follow_redirects=False)
    pair = c.get("/api/label").json()["next"]
    c.post(f"/api/label/{pair['pair']}/non-match")
    answer = c.post("/api/save?t=0.5")
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert made["folder"] == str(saves / "ids-at-0.5") and made["clerical_decisions"] == 1
    run = load_run(folder)
    from pace_linkage.incremental.persist import read_clerical_decisions

    expected = recluster.save(run, 0.5, tmp_path / "by-command", decisions=read_clerical_decisions(folder / "clerical.csv"))
    assert (saves / "ids-at-0.5" / "clusters.csv").read_bytes() == (tmp_path / "by-command" / "clusters.csv").read_bytes()
    assert made["clusters"] == expected["clusters"]
    ids = pd.read_csv(saves / "ids-at-0.5" / "clusters.csv", dtype=str).set_index(["source", "record_id"])["pace_id"]
    left, right = (pair["left"]["source"], pair["left"]["record_id"]), (pair["right"]["source"], pair["right"]["record_id"])
    assert ids[left] != ids[right]  # the non-match label parts the pair
    assert c.post("/api/save?t=1").status_code == 400


def test_the_command_refuses_a_save_folder_inside_the_run_in_one_line(folder):
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["workbench", "--run", str(folder), "--save-to", str(folder / "ids")])
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and "--save-to" in lines[0] and "inside the run folder" in lines[0]
