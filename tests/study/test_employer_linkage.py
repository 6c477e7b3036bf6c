"""Employers as a second entity: the same engine on config/employer.yaml, its quality, the flow and the
people -> employers verb on the flow's outputs."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pace_linkage.config import load_config

EMPLOYER_CONFIG = Path(__file__).resolve().parents[2] / "config" / "employer.yaml"


def employer_library_run(extracts: Path, cfg):
    """block -> compare -> train -> score -> cluster through the library, ids in the config's id column."""
    from pace_linkage.engine.linker import Linker
    from pace_linkage.pipeline import read_sources

    return Linker.from_config(cfg).run(read_sources(cfg, extracts)).clusters.clusters


@pytest.fixture(scope="module")
def employer_data(tmp_path_factory) -> Path:
    """3,000 synthetic people and the ~100 employer records of the partners that support their employers."""
    import synthetic

    out = tmp_path_factory.mktemp("employers")
    synthetic.generate(people=3000, seed=11, out_dir=out)
    return out


def test_employers_link_unsupervised_with_pairwise_f1_above_095(employer_data):
    from pace_linkage.evaluate import quality as evaluate
    from pace_linkage.evaluate.metrics import load_truth

    cfg = load_config(EMPLOYER_CONFIG)
    clusters = employer_library_run(employer_data / "extracts", cfg)
    truth = load_truth(employer_data / "employer_truth.csv")
    pw = evaluate.pairwise_metrics(clusters, truth, id_column="pace_employer_id")
    assert pw["true_pairs"] > 20  # duplicates within and across the two partners exist
    assert pw["f1"] >= 0.95, pw


def test_the_truth_loader_reads_an_employer_truth_file_as_the_entity_id(employer_data):
    from pace_linkage.evaluate.metrics import load_truth

    truth = load_truth(employer_data / "employer_truth.csv")
    raw = pd.read_csv(employer_data / "employer_truth.csv", dtype=str)
    assert list(truth.columns) == ["source", "record_id", "person_id"]
    assert truth["person_id"].tolist() == raw["employer_id"].tolist()


def test_the_generator_records_company_numbers_and_each_person_records_employer(employer_data):
    from pace_linkage.normalise.organisation import company_number

    bg = pd.read_csv(
        employer_data / "extracts" / "business_gateway_employers.csv", dtype=str, keep_default_na=False
    )
    numbers = bg["company_reg_no"][bg["company_reg_no"] != ""]
    assert len(numbers) > 0.5 * len(bg)
    valid = numbers.map(company_number).notna()
    assert valid.mean() > 0.9 and numbers.str.startswith("SC").any()
    people = pd.read_csv(employer_data / "truth.csv", dtype=str)
    p_emp = pd.read_csv(employer_data / "person_employer_truth.csv", dtype=str)
    assert p_emp[["source", "record_id"]].equals(people[["source", "record_id"]])
    assert p_emp["employer_id"].str.fullmatch(r"E\d{6}").all()


# ------------------------------------------------------------------------------------------ the flow
@pytest.fixture(scope="module")
def employer_run_out(prefect_harness, synth_data, tmp_path_factory):
    from flows.pipeline import pace_linkage_pipeline

    out = tmp_path_factory.mktemp("employer_run")
    result = pace_linkage_pipeline(
        extracts=str(synth_data / "extracts"),
        out=str(out),
        config=str(EMPLOYER_CONFIG),
        truth=str(synth_data / "employer_truth.csv"),
        run_id="employers",
    )
    return out, result


def test_the_flow_links_employers_into_pace_employer_ids_and_measures_them(employer_run_out):
    out, result = employer_run_out
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    assert list(clusters.columns[:3]) == ["source", "record_id", "pace_employer_id"]
    assert clusters["pace_employer_id"].str.match(r"E[0-9a-f]{16}$").all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["entity"] == "employer" and metrics["run"]["id_column"] == "pace_employer_id"
    assert set(metrics["pairwise"]) >= {"precision", "recall", "f1"} and result["pairwise"]["f1"] >= 0.95
    assert any(n.startswith("Sites:") for n in metrics["report_notes"])


def test_the_employer_report_speaks_of_employers_and_says_how_sites_were_treated(employer_run_out):
    html = (employer_run_out[0] / "report.html").read_text()
    assert "<title>PACE employer linkage quality report</title>" in html
    assert "Employers (clusters)" in html and "Persons (clusters)" not in html
    assert "Notes on this linkage" in html and "different sites are one employer" in html


def test_people_link_to_employers_through_the_cli(run_out, employer_run_out, synth_data, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "pe"
    res = CliRunner().invoke(
        app,
        [
            "employers",
            "--people",
            str(run_out[0]),
            "--employers",
            str(employer_run_out[0]),
            "--extracts",
            str(synth_data / "extracts"),
            "--out",
            str(out),
            "--truth",
            str(synth_data / "person_employer_truth.csv"),
            "--employer-truth",
            str(synth_data / "employer_truth.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output
    for name in (
        "person_employers.csv",
        "person_employer_records.csv",
        "employer_people.csv",
        "people_employers.json",
        "people_employers.html",
        "manifest.json",
    ):
        assert (out / name).exists(), name
    doc = json.loads((out / "people_employers.json").read_text())
    assert doc["accuracy"]["records"]["f1"] >= 0.95 and doc["accuracy"]["persons"]["f1"] >= 0.95
    links = pd.read_csv(out / "person_employers.csv", dtype=str)
    people = set(pd.read_csv(run_out[0] / "clusters.csv", dtype=str)["pace_id"])
    employers = set(pd.read_csv(employer_run_out[0] / "clusters.csv", dtype=str)["pace_employer_id"])
    assert set(links["pace_id"]) <= people and set(links["pace_employer_id"]) <= employers
    # ids and counts only: no employer name reaches the outputs
    names = pd.read_csv(
        synth_data / "extracts" / "sds_pace_employers.csv", sep=";", encoding="cp1252", dtype=str
    )
    text = "".join(
        (out / f).read_text()
        for f in (
            "people_employers.html",
            "employer_people.csv",
            "person_employers.csv",
            "people_employers.json",
        )
    )
    assert not any(n in text or n.upper() in text for n in names["Employer_Name"])
