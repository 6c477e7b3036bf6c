"""End to end: synthetic extracts -> the Prefect flow -> every output, with the counts adding up."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

DETERMINISTIC = ["clusters.csv", "pairs.parquet", "quarantine.csv", "metrics.json", "report.html"]


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_flow_writes_every_output_and_a_manifest(run_out):
    from pace_linkage.store.outputs import verify_manifest

    out, result = run_out
    manifest = verify_manifest(out)
    for name in [*DETERMINISTIC, "model.json"]:
        assert name in manifest["files"], name
    assert result["counts"]["rows_in"] > 0


def test_counts_add_up_per_source_and_in_total(run_out):
    out, _ = run_out
    m = json.loads((out / "metrics.json").read_text())
    c = m["counts"]
    assert c["rows_in"] == c["rows_accepted"] + c["rows_quarantined"] + c["rows_withheld"]
    for src, s in c["by_source"].items():
        assert s["rows_in"] == s["rows_accepted"] + s["rows_quarantined"] + s["rows_withheld"], src
    q = pd.read_csv(out / "quarantine.csv", dtype=str)
    assert len(q) == c["rows_quarantined"]


def test_every_accepted_record_is_in_exactly_one_cluster(run_out):
    out, _ = run_out
    m = json.loads((out / "metrics.json").read_text())
    cl = pd.read_csv(out / "clusters.csv", dtype=str, keep_default_na=False)
    assert list(cl.columns[:3]) == ["source", "record_id", "pace_id"]
    assert len(cl) == m["counts"]["rows_accepted"]
    assert not cl.duplicated(["source", "record_id"]).any()
    assert (cl["pace_id"] != "").all()


def test_linkage_quality_is_measured_against_truth(run_out):
    out, _ = run_out
    m = json.loads((out / "metrics.json").read_text())
    pw = m["pairwise"]
    assert set(pw) >= {"precision", "recall", "f1"}
    assert pw["f1"] > 0.9  # a real linkage, not a placeholder (the bar itself lives in the benchmark)
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert {"match_weight", "match_probability", "blocking_rule"} <= set(pairs.columns)
    assert pairs["match_probability"].between(0, 1).all()


def test_report_is_self_contained_html(run_out):
    out, _ = run_out
    html = (out / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    markup = html[:html.index("</main>")]  # the page before its own scripts (the vendored chart code)
    assert 'class="vl-chart"' in markup and "http://" not in markup and "https://" not in markup


def test_same_inputs_give_byte_identical_outputs(run_out, synth_data, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    out, _ = run_out
    pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(tmp_path), truth=str(synth_data / "truth.csv"),
                          run_id="second")
    for name in DETERMINISTIC:
        assert sha(out / name) == sha(tmp_path / name), name


def test_the_pipeline_can_be_served_as_a_deployment_with_ui_parameters():
    from flows.serve import DEFAULT_PARAMETERS, deployment

    dep = deployment("pace-linkage-test")
    assert dep.name == "pace-linkage-test"
    assert dep.parameters == DEFAULT_PARAMETERS
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline import pace_linkage_pipeline

    props = parameter_schema(pace_linkage_pipeline).properties
    assert {"extracts", "out", "config", "truth", "threshold"} <= set(props)
    assert len(json.dumps(props)) < 4096  # parameters are paths, numbers and names only


def test_a_saved_model_reloads_and_scores_the_same_data_identically(run_out, synth_data, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    out, _ = run_out
    pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(tmp_path), truth=str(synth_data / "truth.csv"),
                          model=str(out / "model.json"))
    assert sha(out / "clusters.csv") == sha(tmp_path / "clusters.csv")
    assert sha(out / "pairs.parquet") == sha(tmp_path / "pairs.parquet")


def test_supervised_training_uses_truth_labels(synth_data, tmp_path, prefect_harness):
    from flows.pipeline import pace_linkage_pipeline

    pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(tmp_path), truth=str(synth_data / "truth.csv"),
                          training="supervised")
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["model"]["method"] == "supervised"
    assert m["pairwise"]["f1"] > 0.9


def test_a_source_missing_a_column_fails_the_run_unless_partial_and_the_report_names_it(synth_data, tmp_path,
                                                                                           prefect_harness):
    import shutil

    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.errors import InputError

    ext = tmp_path / "extracts"
    shutil.copytree(synth_data / "extracts", ext)
    sds = ext / "sds_pace_clients.csv"
    header, *rows = sds.read_text(encoding="utf-8").split("\n")
    sds.write_text("\n".join([header.replace("Surname", "Family"), *rows]), encoding="utf-8")
    # by default a partner that cannot be read fails the run: one line naming it, nothing published
    with pytest.raises(InputError) as failed_run:
        pace_linkage_pipeline(extracts=str(ext), out=str(tmp_path / "out"))
    first = str(failed_run.value).splitlines()[0]
    assert first.startswith("source sds: ") and "columns.surname: column 'Surname' not found in sds_pace_clients.csv" \
        in first
    assert not (tmp_path / "out" / "manifest.json").exists()
    # a partial run is the user's choice: the run goes on without it and says so
    result = pace_linkage_pipeline(extracts=str(ext), out=str(tmp_path / "out"), allow_partial=True)
    assert result["sources_failed"] == ["sds"]
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    (failed,) = m["sources_failed"]
    assert failed["source"] == "sds" and "columns.surname: column 'Surname' not found in sds_pace_clients.csv" in failed["error"]
    assert "\n" not in failed["error"]
    assert m["counts"]["rows_accepted"] > 0  # the other sources still ran
    assert m["partial"]["sources_missing"] == ["sds"] and m["partial"]["rows_missing"] == failed["rows"] > 0
    assert "sds_pace_clients.csv" in (tmp_path / "out" / "report.html").read_text()


def test_key_figures_are_published_as_prefect_artifacts(run_out):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["pace-linkage-summary", "pace-linkage-rows-per-source"])))
    kinds = {a.key: a.type for a in arts}
    assert kinds == {"pace-linkage-summary": "markdown", "pace-linkage-rows-per-source": "table"}
    # other runs in this session publish under the same keys; the run with truth carries quality figures
    summaries = [a.data for a in arts if a.key == "pace-linkage-summary"]
    assert any("Pairwise P / R / F1" in s for s in summaries)
    assert all("Seconds per stage" in s for s in summaries)
