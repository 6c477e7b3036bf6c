"""Re-clustering a finished run from its folder alone: the run's own clusters at its threshold, byte for byte;
the engine's clustering of the real values at any other; clerical decisions honoured; no value in the folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import library_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from pace_linkage import pipeline
from pace_linkage.config import load_config
from pace_linkage.engine.linker import Linker
from pace_linkage.errors import InputError
from pace_linkage.evaluate import recluster, tune
from pace_linkage.schema import RECORD_ID, SOURCE
from pace_linkage.store.outputs import RunWriter, csv_bytes


def tight_config():
    """The default config with small clusters, so that re-clustering meets size and NI number conflicts."""
    cfg = load_config(None)
    clustering = cfg.linkage.clustering.model_copy(update={"max_cluster_size": 3})
    return cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update={"clustering": clustering})})


@pytest.fixture(scope="module")
def finished(synth_data, tmp_path_factory):
    """(run folder, RunResults) of the synthetic data linked with the tight config: the files re-clustering
    reads, staged and published as a run stages them."""
    run = library_run(synth_data / "extracts", tight_config())
    out = tmp_path_factory.mktemp("finished")
    writer = RunWriter(out)
    writer.write_csv("clusters.csv", pipeline.database.sorted_clusters(run))
    writer.write_csv("conflicts.csv", run.clusters.conflicts)
    pipeline.stage_pairs_file(writer, run)
    pipeline.stage_clustering_inputs(writer, run)
    writer.write_json("metrics.json", {"run": {"threshold": run.threshold}})
    writer.publish({"config_hash": run.cfg.hash()})
    return out, run


def test_at_the_runs_threshold_the_clusters_and_conflicts_are_the_runs_byte_for_byte(finished):
    out, run = finished
    result = recluster.recluster(tune.load_run(out), run.threshold)
    assert len(run.clusters.conflicts) > 0  # the tight config meets conflicts, so their rules are exercised
    assert csv_bytes(result.clusters) == (out / "clusters.csv").read_bytes()
    assert csv_bytes(result.conflicts) == (out / "conflicts.csv").read_bytes()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(min_value=0.01, max_value=0.999))
def test_at_any_threshold_the_clusters_are_the_engines_clustering_of_the_real_values(finished, threshold):
    out, run = finished
    codes = recluster.Reclusterer.load(tune.load_run(out)).at(threshold)
    direct = Linker.from_config(run.cfg).cluster(run.records, run.scored, threshold)
    assert csv_bytes(codes.clusters) == csv_bytes(direct.clusters)  # both in the records' (text) order
    assert csv_bytes(codes.conflicts) == csv_bytes(direct.conflicts)


def test_the_clustering_inputs_hold_no_value_only_codes(finished):
    out, run = finished
    meta = json.loads((out / "clustering.json").read_text())
    assert set(meta) == {"format", "threshold", "named_thresholds", "id_prefix", "id_column", "clustering",
                         "duplicate_free_sources", "near"}
    text = (out / "clustering.json").read_text() + (out / "clustering.parquet").read_bytes().decode("latin-1")
    values = run.records["nino"].dropna().unique()
    assert len(values) and not any(v in text for v in values)
    codes = recluster.Reclusterer.load(tune.load_run(out)).field_values["nino"].codes
    assert codes.dtype == np.int64 and codes.min() >= -1


def test_clerical_decisions_join_and_part_records(finished, tmp_path):
    out, run = finished
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    first, second = clusters.drop_duplicates("pace_id").iloc[:2][[SOURCE, RECORD_ID]].itertuples(index=False)
    apart = (tuple(first), tuple(second))  # two records of two different clusters
    clerical = tmp_path / "clerical.csv"
    clerical.write_text("source_l,record_id_l,source_r,record_id_r,label\n"
                        f"{apart[0][0]},{apart[0][1]},{apart[1][0]},{apart[1][1]},match\n")
    result = CliRunner().invoke(app, ["recluster", "--run", str(out), "--threshold", str(run.threshold),
                                      "--out", str(tmp_path / "ids"), "--clerical", str(clerical)])
    assert result.exit_code == 0, result.output
    made = pd.read_csv(tmp_path / "ids" / "clusters.csv", dtype=str).set_index([SOURCE, RECORD_ID])["pace_id"]
    assert made[apart[0]] == made[apart[1]]
    manifest = json.loads((tmp_path / "ids" / "manifest.json").read_text())
    assert manifest["kind"] == "recluster" and manifest["clerical_decisions"] == 1
    assert manifest["source_run"]["threshold"] == run.threshold


def test_the_command_refuses_an_out_folder_inside_the_run_and_a_bad_threshold_in_one_line(finished):
    out, _ = finished
    for args, expected in ((["--threshold", "0.5", "--out", str(out / "ids")], "inside the run folder"),
                           (["--threshold", "1.5", "--out", str(out.parent / "ids")], "strictly between 0 and 1"),
                           (["--threshold", "0.5", "--out", str(out.parent)], "holds the run folder")):
        result = CliRunner().invoke(app, ["recluster", "--run", str(out), *args])
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], result.output


def test_a_run_folder_without_clustering_inputs_is_one_line_saying_so(tmp_path):
    from test_tune import write_run

    with pytest.raises(InputError, match="does not list clustering.json"):
        recluster.recluster(tune.load_run(write_run(tmp_path / "old")), 0.9)


def test_tune_on_a_reclusterable_folder_agrees_with_the_run_at_its_threshold(finished, synth_data):
    from pace_linkage.evaluate import quality
    from pace_linkage.evaluate.metrics import load_truth

    out, run = finished
    truth = load_truth(synth_data / "truth.csv")
    data = tune.load_run(out)
    sweep = tune.sweep(data, truth)
    at = sweep.loc[sweep["threshold"] == run.threshold].iloc[0]
    measured = quality.pairwise_metrics(run.clusters.clusters, truth)
    assert (at["precision"], at["recall"], at["tp"]) == (measured["precision"], measured["recall"], measured["tp"])
    assert "est_precision" in sweep.columns and "conflict rules" in tune.recommend(sweep, 0.99)["note"]
