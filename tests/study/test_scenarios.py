"""Named sharing scenarios: validated definitions, pure transforms, and one run of all seven compared in a report."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, library_run, write

from pace_linkage.config import SharingAgreement, load_config, load_scenarios
from pace_linkage.errors import ConfigError
from pace_linkage.study.scenarios import (
    NOT_APPLICABLE,
    aggregates_row,
    apply_scenario,
    comparison_frame,
    comparison_rows,
    linkage_row,
    scenario_config,
    truth_pairs,
)

CONFIG = ROOT / "config"
COUNCILS = {"glasgow_council", "fife_council"}


def scenarios_file(tmp_path, body: str, baseline: str = "full"):
    """A scenarios file in tmp_path whose scenarios use the default config."""
    text = f"baseline: {baseline}\nscenarios:\n" + body
    text = text.replace("CONFIG", str(CONFIG / "pace.yaml"))
    return write(tmp_path / "scenarios.yaml", text)


def spec(tmp_path, body: str):
    doc = load_scenarios(scenarios_file(tmp_path, "  - {name: full, label: Full, config: CONFIG}\n" + body))
    return doc.scenarios[-1]


@pytest.fixture(scope="module")
def base():
    return load_config()


# --------------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------------
def test_the_default_scenarios_file_holds_the_seven_scenarios_of_the_issue():
    doc = load_scenarios()
    assert [s.name for s in doc.scenarios] == ["full", "no_council_nino", "names_dob_postcode", "pseudonymised",
                                               "consent_only", "pairwise_sds_dwp", "aggregates"]
    assert doc.baseline == "full"
    by = {s.name: s for s in doc.scenarios}
    assert by["no_council_nino"].withhold_fields == {"nino": ["glasgow_council", "fife_council"]}
    assert by["pairwise_sds_dwp"].partners == ["sds", "dwp"]
    assert by["aggregates"].mode == "aggregates" and by["consent_only"].consent == "required"
    assert load_config(by["pseudonymised"].config_path).pseudonymise is not None
    # the councils are named explicitly, and they are exactly the *_council sources of the partners folder
    assert set(by["no_council_nino"].withhold_fields["nino"]) == {p.stem for p in (CONFIG / "partners").glob("*_council.yaml")}


def test_a_scenario_naming_an_unknown_partner_fails_with_one_line_naming_the_file_and_key(tmp_path):
    path = scenarios_file(tmp_path, "  - {name: full, label: Full, config: CONFIG}\n"
                                    "  - {name: two, label: Two, config: CONFIG, partners: [sds, nobody]}\n")
    with pytest.raises(ConfigError) as exc:
        load_scenarios(path)
    lines = str(exc.value).splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0] and "scenarios.1.partners" in lines[0] and "'nobody'" in lines[0]


def test_unknown_fields_and_partners_in_withholding_are_each_reported_on_their_own_line(tmp_path):
    path = scenarios_file(tmp_path, "  - {name: full, label: Full, config: CONFIG}\n"
                                    "  - {name: w, label: W, config: CONFIG, withhold_fields: {ninno: [all], nino: [fife]}}\n"
                                    "  - {name: o, label: O, config: CONFIG, only_fields: [surname, shoe_size]}\n")
    with pytest.raises(ConfigError) as exc:
        load_scenarios(path)
    lines = str(exc.value).splitlines()
    assert len(lines) == 3
    assert "scenarios.1.withhold_fields.ninno: not a declared field" in lines[0]
    assert "scenarios.1.withhold_fields.nino: 'fife' is not a source" in lines[1]
    assert "scenarios.2.only_fields: 'shoe_size' is not a declared field" in lines[2]


def test_a_misspelt_key_a_duplicate_name_and_a_missing_baseline_are_refused(tmp_path):
    typo = scenarios_file(tmp_path, "  - {name: full, label: Full, config: CONFIG, partner: [sds]}\n")
    with pytest.raises(ConfigError, match=r"scenarios\.0\.partner: unknown key"):
        load_scenarios(typo)
    dup = scenarios_file(tmp_path, "  - {name: a, label: A, config: CONFIG}\n  - {name: a, label: B, config: CONFIG}\n")
    with pytest.raises(ConfigError) as exc:
        load_scenarios(dup)
    assert "scenario name 'a' is used more than once" in str(exc.value)
    assert "baseline: 'full' is not a scenario" in str(exc.value)
    agg = scenarios_file(tmp_path, "  - {name: full, label: Full, config: CONFIG, mode: aggregates}\n")
    with pytest.raises(ConfigError, match="must be a linkage scenario"):
        load_scenarios(agg)


def test_a_missing_base_config_is_named_with_the_scenario_key(tmp_path):
    path = write(tmp_path / "s.yaml", "scenarios:\n  - {name: full, label: Full, config: nowhere.yaml}\n")
    with pytest.raises(ConfigError) as exc:
        load_scenarios(path)
    assert "scenarios.0.config:" in str(exc.value) and "nowhere.yaml: file not found" in str(exc.value)


# --------------------------------------------------------------------------------------------------
# Transforms (pure)
# --------------------------------------------------------------------------------------------------
def test_a_scenario_with_no_transform_gives_the_same_config_and_leaves_the_input_alone(tmp_path, base):
    before = base.hash()
    out = apply_scenario(base, spec(tmp_path, ""))
    assert out is not base and out.hash() == before == base.hash()
    assert out.config_file == base.config_file


def test_withholding_nino_from_the_councils_removes_it_from_their_agreements_only(tmp_path, base):
    sc = spec(tmp_path, "  - {name: w, label: W, config: CONFIG, withhold_fields: {nino: [glasgow_council, fife_council]}}\n")
    out = apply_scenario(base, sc)
    for s in out.sources.items:
        if s.name in COUNCILS:
            assert "nino" not in s.sharing.allowed_fields
            assert set(s.sharing.allowed_fields) == set(s.columns) - {"nino"}
        else:
            assert s.sharing is None or s.sharing.allowed_fields is None
    assert all(s.sharing is None for s in base.sources.items if s.name in COUNCILS)  # input untouched


def test_withholding_from_all_and_only_fields_restrict_every_partner(tmp_path, base):
    sc = spec(tmp_path, "  - {name: o, label: O, config: CONFIG, withhold_fields: {postcode: [all]},\n"
                        "     only_fields: [first_name, surname, dob, postcode]}\n")
    out = apply_scenario(base, sc)
    for s in out.sources.items:
        assert set(s.sharing.allowed_fields) == {"first_name", "surname", "dob"} & set(s.columns)


def test_only_fields_narrow_an_agreement_that_already_restricts_fields(tmp_path, base):
    src = base.sources.items[0].model_copy(update={"sharing": SharingAgreement(allowed_fields=["surname", "dob"])})
    cfg = base.model_copy(update={"sources": base.sources.model_copy(update={"items": [src]})})
    out = apply_scenario(cfg, spec(tmp_path, "  - {name: o, label: O, config: CONFIG, only_fields: [dob, postcode]}\n"))
    assert out.sources.items[0].sharing.allowed_fields == ["dob"]
    assert src.sharing.allowed_fields == ["surname", "dob"]


def test_partners_keeps_only_the_named_sources_in_config_order(tmp_path, base):
    out = apply_scenario(base, spec(tmp_path, "  - {name: p, label: P, config: CONFIG, partners: [sds, dwp]}\n"))
    assert [s.name for s in out.sources.items] == [s.name for s in base.sources.items if s.name in {"sds", "dwp"}]


def test_consent_required_uses_each_partners_consent_item_and_leaves_out_partners_recording_none(tmp_path, base):
    out = apply_scenario(base, spec(tmp_path, "  - {name: c, label: C, config: CONFIG, consent: required}\n"))
    after = {s.name: s for s in out.sources.items}
    for before in base.sources.items:
        held = before.items.get("consent")
        if held:
            assert after[before.name].sharing.consent_column == held[0]
        else:  # West College records no consent: nothing shows consent to share, so it shares nothing
            assert before.name not in after
    assert "west_college" not in after and len(after) == len(base.sources.items) - 1
    assert after["sds"].sharing.consent_column == "Consent_To_Share" and after["sds"].sharing.allowed_fields is None


def test_the_pipeline_refuses_to_link_an_aggregate_only_scenario():
    with pytest.raises(ConfigError, match="aggregates-only: nothing to link"):
        scenario_config("aggregates")
    assert [s.name for s in scenario_config("pairwise_sds_dwp").sources.items] == ["dwp", "sds"]


def test_with_no_nino_shared_the_nino_rule_proposes_no_pair_and_linkage_still_runs(synth_data):
    cfg = scenario_config("names_dob_postcode")
    run = library_run(synth_data / "extracts", cfg)
    assert run.records["nino"].isna().all() and run.records["sex"].isna().all()
    stats = run.blocking.stats.set_index("rule")
    assert stats.loc["nino", "pairs_generated"] == 0 and stats["pairs_generated"].sum() > 0
    assert (run.gamma["nino"] == -1).all()  # the null level: no evidence either way
    assert run.clusters.clusters["pace_id"].nunique() < len(run.records)  # names, dob and postcode still link


# --------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------
def test_truth_pairs_counts_pairs_within_persons_and_ignores_blank_ids():
    truth = pd.DataFrame({"source": list("aaaaaa"), "record_id": list("123456"),
                          "person_id": ["p", "p", "p", "q", "q", ""]})
    assert truth_pairs(truth) == 3 + 1


def test_comparison_rows_measure_f1_change_against_the_baseline_and_keep_na_for_aggregates(tmp_path):
    doc = load_scenarios()
    metrics = {"run": {"sources": ["a", "b"], "id_column": "pace_id"},
               "counts": {"rows_accepted": 10, "rows_withheld": 2},
               "pairwise": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "tp": 5},
               "bcubed": {"f1": 0.8}, "clusters": {"pace_id": {"clusters": 7}},
               "overlap": {"partners_per_person": {"1": 4, "2": 2, "3": 1}}}
    full = linkage_row(doc.get("full"), {**metrics, "pairwise": {**metrics["pairwise"], "f1": 0.9}}, 20)
    part = linkage_row(doc.get("pairwise_sds_dwp"), metrics, 20)
    agg = aggregates_row(doc.get("aggregates"), 10)
    rows = comparison_rows([full, part, agg], "full")
    assert rows[1]["f1_change"] == pytest.approx(2 / 3 - 0.9)
    assert rows[1]["recall_all_true_pairs"] == 0.25 and rows[1]["persons_2plus"] == 3 and rows[1]["persons"] == 7
    assert rows[2]["f1"] == NOT_APPLICABLE and rows[2]["f1_change"] == NOT_APPLICABLE and rows[2]["note"]
    frame = comparison_frame(rows)
    assert list(frame["scenario"]) == ["full", "pairwise_sds_dwp", "aggregates"]
    assert frame.loc[2, "precision"] == NOT_APPLICABLE


def test_the_scenarios_page_is_self_contained_and_escapes_labels():
    from pace_linkage.study.scenarios_report import render_scenarios

    rows = [{"scenario": "full", "label": "<b>Full</b>", "mode": "linkage", "partners": 2, "records_linked": 10,
             "rows_withheld": 0, "precision": 1.0, "recall": 0.9, "f1": 0.947, "recall_all_true_pairs": 0.9,
             "bcubed_f1": 0.95, "persons": 6, "persons_2plus": 3, "f1_change": 0.0, "note": ""}]
    html = render_scenarios({"baseline": "full", "rows": rows, "true_pairs_in_truth": 10}, title="t")
    assert "<b>Full</b>" not in html and "&lt;b&gt;Full&lt;/b&gt;" in html
    markup = html[:html.index("</main>")]  # the page before its own scripts (the vendored chart code)
    assert "<script>" not in markup and "http://" not in markup and "https://" not in markup
    assert html.count('class="vl-chart"') == 3


# --------------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------------
def test_without_a_key_the_command_fails_with_one_line_before_anything_runs(synth_data, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "PACE_LINKAGE_HMAC_KEY"}
    res = subprocess.run([sys.executable, "-m", "flows", "scenarios", "--extracts", str(synth_data / "extracts"),
                          "--truth", str(synth_data / "truth.csv"), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "PACE_LINKAGE_HMAC_KEY" in lines[0] and "--ephemeral-key" in lines[0]
    assert not (tmp_path / "out").exists()
    help_ = subprocess.run([sys.executable, "-m", "flows", "scenarios", "--help"], capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert help_.returncode == 0 and "--ephemeral-key" in help_.stdout


@pytest.mark.e2e
def test_all_seven_scenarios_run_and_are_compared_in_one_report(prefect_harness, synth_data, tmp_path, monkeypatch):
    from flows.scenarios import pace_linkage_scenarios

    monkeypatch.delenv("PACE_LINKAGE_HMAC_KEY", raising=False)
    out = tmp_path / "out"
    result = pace_linkage_scenarios(extracts=str(synth_data / "extracts"), truth=str(synth_data / "truth.csv"),
                                    out=str(out), ephemeral_key=True)
    assert result["failed"] == []
    with open(out / "scenarios.csv", newline="", encoding="utf-8") as fh:
        rows = {r["scenario"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["full", "no_council_nino", "names_dob_postcode", "pseudonymised", "consent_only",
                          "pairwise_sds_dwp", "aggregates"]
    f1 = {k: float(r["f1"]) for k, r in rows.items() if k != "aggregates"}
    assert f1["names_dob_postcode"] <= f1["full"]
    assert abs(f1["pseudonymised"] - f1["full"]) <= 0.02
    assert int(rows["pairwise_sds_dwp"]["persons_2plus"]) < int(rows["full"]["persons_2plus"])
    assert float(rows["pairwise_sds_dwp"]["recall_all_true_pairs"]) < float(rows["full"]["recall_all_true_pairs"])
    assert int(rows["consent_only"]["rows_withheld"]) > 0 and int(rows["full"]["rows_withheld"]) == 0
    assert all(rows["aggregates"][c] == "n/a" for c in ("precision", "recall", "f1", "persons", "persons_2plus"))
    for name in f1:  # each linked scenario is a normal run
        assert (out / name / "report.html").exists() and (out / name / "manifest.json").exists()
    assert (out / "aggregates" / "aggregates.json").exists()
    manifest = json.loads((out / "pseudonymised" / "manifest.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{8}", manifest["key_id"])

    doc = json.loads((out / "scenarios.json").read_text())
    study = doc["pseudonymisation"]["pseudonymised"]
    assert study["key"] == "ephemeral" and study["hardening"] == {"balance": True, "xor_fold": False}
    for field in ("surname", "first_name"):
        for attack in ("token_frequency", "bloom_frequency", "bloom_pattern"):
            assert 0 <= study["fields"][field][attack]["share"] <= 1
    assert "key_id" not in json.dumps(doc)

    html = (out / "scenarios.html").read_text()
    assert html.count('class="vl-chart"') >= 3 and "Precision, recall and F1 per scenario" in html
    assert "Pseudonymisation: quality cost and attack" in html and "20.7%" in html and "ephemeral" in html
    assert "<script>" not in html[:html.index("</main>")]
    sds = pd.read_csv(synth_data / "extracts" / "sds_pace_clients.csv", dtype=str, keep_default_na=False)
    surnames = {s.upper() for s in sds["Surname"] if len(s) >= 6}
    ninos = {re.sub(r"\s", "", n).upper()[:8] for n in sds["NINO"] if len(n) >= 8}
    for name in ("scenarios.html", "scenarios.json", "scenarios.csv"):
        text = (out / name).read_text()
        upper = re.sub(r"<script>.*?</script>", "", text, flags=re.S).upper()  # not the vendored chart code
        assert not [s for s in surnames if re.search(rf"\b{re.escape(s)}\b", upper)], name
        assert not [n for n in ninos if n in upper], name
