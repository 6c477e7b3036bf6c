"""Named sharing scenarios compared in one report, as one Prefect flow (``pace-linkage-scenarios``).

For each linkage scenario of the scenarios file (config/scenarios.yaml) the pipeline flow runs as a subflow with
``scenario=<name>``, writing a normal run into OUT/<name>/. Then the aggregate-only scenario (counts only, no
linkage) writes OUT/<name>/aggregates.json and report.html, the pseudonymised scenario's encodings are attacked
(frequency alignment, pattern mining) to measure what an attacker without the key re-identifies, and the
comparison is published as OUT/scenarios.json, scenarios.csv and scenarios.html (manifest.json last).

Keys: the pseudonymised scenario takes its key from the config's source (environment variable or Prefect
Secret block). With ``ephemeral_key`` a random 32-byte key is made in memory for this run only
(:func:`flows.tasks.in_memory_key`): it is never a flow or task parameter and is written nowhere; the
scenario's manifest records its key id as usual, and the report says the key was ephemeral.

Privacy: the attack needs plaintext and encodings together; both stay in memory inside one task and only
shares and counts leave it. No plaintext-token pair is written.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field, field_validator

import flows.settings  # noqa: F401
from flows import progress, tasks
from flows.api import plain_parameters
from flows.params import SCENARIOS_RUN_ID_MAX, checked_run_id, validated
from flows.pipeline import pace_linkage_pipeline
from pace_linkage.config import PaceConfig, ScenariosConfig, ScenarioSpec, load_config, load_scenarios
from pace_linkage.errors import ConfigError, PaceError
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.store.outputs import RunWriter
from pace_linkage.study.scenarios import (
    AGGREGATES_REASON,
    aggregates_row,
    attack_study,
    comparison_frame,
    comparison_rows,
    failed_row,
    linkage_row,
    require_keys,
    scenario_configs,
    select_scenarios,
    shared_fields_by_source,
    truth_pairs,
)

FLOW_NAME = "pace-linkage-scenarios"


class ScenariosParams(BaseModel):
    """The scenarios flow's parameters: paths, names and flags only (never a key or a record)."""

    model_config = ConfigDict(extra="forbid")
    extracts: str = Field(description="folder holding the partner extracts")
    truth: str = Field(description="truth CSV (source,record_id,person_id) every scenario is measured against")
    out: str = Field(description="folder for OUT/<scenario>/ runs and scenarios.html / .csv / .json")
    scenarios_file: str | None = Field(default=None, description="scenarios YAML (default config/scenarios.yaml)")
    only: list[str] | None = Field(default=None, description="run only these scenarios (default: all)")
    ephemeral_key: bool = Field(default=False, description="pseudonymise with a random in-memory key for this run")
    run_id: str | None = Field(default=None, description="run id; each scenario's run id is <run_id>-<scenario>")

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, v: str | None) -> str | None:
        return checked_run_id(v, SCENARIOS_RUN_ID_MAX)  # <run id>-<scenario> must still be a run id


def check_keys(cfgs: dict[str, PaceConfig], specs: list[ScenarioSpec], ephemeral: bool) -> None:
    """Fail before anything runs if a pseudonymised scenario has no key (environment variable or Secret block),
    unless an ephemeral key was asked for."""
    require_keys(cfgs, specs, ephemeral)  # environment keys, without Prefect
    if ephemeral:
        return
    for s in specs:
        cfg = cfgs[s.name]
        if s.mode == "linkage" and cfg.pseudonymise is not None and cfg.pseudonymise.key.secret_block:
            try:
                tasks.resolve_key(cfg)
            except ConfigError as exc:
                raise ConfigError(f"scenario {s.name}: {str(exc).splitlines()[0]}") from None


@plain_parameters
@flow(name=FLOW_NAME, persist_result=False, log_prints=False, validate_parameters=True)
def pace_linkage_scenarios(
    extracts: str,
    truth: str,
    out: str,
    scenarios_file: str | None = None,
    only: list[str] | None = None,
    ephemeral_key: bool = False,
    run_id: str | None = None,
) -> dict:
    """Run every named sharing scenario on ``extracts`` and compare them against ``truth`` in one report."""
    params = validated(ScenariosParams, extracts=extracts, truth=truth, out=out, scenarios_file=scenarios_file,
                       only=only, ephemeral_key=ephemeral_key, run_id=run_id)
    return tasks.value_free(f"flow {FLOW_NAME}", _run, params)


def _run(params: ScenariosParams) -> dict:
    doc = load_scenarios(params.scenarios_file)
    specs = select_scenarios(doc, params.only)
    cfgs = scenario_configs(specs)
    check_keys(cfgs, specs, params.ephemeral_key)
    truth_df = load_truth(Path(params.truth))
    all_true = truth_pairs(truth_df)
    out = Path(params.out)
    p = progress.current()
    key_ctx = tasks.in_memory_key(secrets.token_bytes(32)) if params.ephemeral_key else contextlib.nullcontext()

    rows: list[dict] = []
    failed: list[str] = []
    attacks: dict[str, dict] = {}
    aggregates: dict[str, dict] = {}
    with key_ctx:
        for s in specs:
            cfg = cfgs[s.name]
            p.summary("scenario", name=s.name, partners=len(cfg.sources.items), mode=s.mode)
            if s.mode == "aggregates":
                aggregates[s.name] = run_aggregate_scenario(cfg, Path(params.extracts), out / s.name,
                                                            _sub_id(params.run_id, s.name))
                rows.append(aggregates_row(s, len(cfg.sources.items)))
                continue
            try:
                pace_linkage_pipeline(extracts=params.extracts, out=str(out / s.name), truth=params.truth,
                                      scenario=s.name, scenarios_file=doc.config_file,
                                      run_id=_sub_id(params.run_id, s.name))
            except PaceError as exc:  # value-free by contract: the row says why, the other scenarios go on
                failed.append(s.name)
                p.warn(f"scenario {s.name} failed: {str(exc).splitlines()[0]}")
                rows.append(failed_row(s, len(cfg.sources.items), str(exc).splitlines()[0]))
                continue
            metrics = json.loads((out / s.name / "metrics.json").read_text(encoding="utf-8"))
            rows.append(linkage_row(s, metrics, all_true))
            if cfg.pseudonymise is not None:
                attacks[s.name] = attack(cfg, Path(params.extracts))
                # the key id stays in the scenario's manifest (an ephemeral key's id differs on every run)
                attacks[s.name]["encoding"] = {k: v for k, v in (metrics.get("pseudonymisation") or {}).items()
                                               if k != "key_id"}
            pw = metrics.get("pairwise") or {}
            p.summary("evaluate", scenario=s.name, precision=pw.get("precision", 0.0), recall=pw.get("recall", 0.0),
                      f1=pw.get("f1", 0.0))
    rows = comparison_rows(rows, doc.baseline)
    base_cfg = cfgs.get(doc.baseline) or load_config(doc.get(doc.baseline).config_path)
    comparison = build_document(doc, specs, cfgs, rows, all_true, attacks, aggregates, params.ephemeral_key)
    manifest = write_comparison(out, comparison, rows, base_cfg.report.small_count_threshold, params.run_id)
    p.summary("compared", scenarios=len(rows), failed=len(failed), report=str(out / "scenarios.html"))
    return {"out": str(out), "manifest": str(manifest), "rows": rows, "failed": failed}


def _sub_id(run_id: str | None, name: str) -> str | None:
    return f"{run_id}-{name}" if run_id else None


@tasks.task(name="pseudonymisation-attack", **tasks.PRIVATE)
@tasks.stage_guard("attack")
def attack(cfg: PaceConfig, extracts_dir: Path) -> dict:
    """Re-read and normalise the scenario's extracts (plaintext, in memory), encode them with the scenario's key
    and attack the encodings (pace_linkage.study.scenarios.attack_study). Returns shares and counts only."""
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.pipeline import read_batches

    records = assemble(read_batches(cfg, extracts_dir)[0])  # a source that failed is left out, as in its run
    ps = cfg.pseudonymise
    return {"fields": attack_study(records, cfg, tasks.resolve_key(cfg)),
            "hardening": {"balance": ps.hardening.balance, "xor_fold": ps.hardening.xor_fold},
            "bloom_length": ps.bloom_length, "records": int(len(records))}


@tasks.task(name="aggregates", **tasks.PRIVATE, **tasks.IO_RETRIES)
@tasks.stage_guard("aggregates")
def aggregate_counts(cfg: PaceConfig, extracts_dir: Path) -> dict:
    """Counts computed at each partner (pace_linkage.study.aggregates.run_aggregates): no record-level value."""
    from pace_linkage.study.aggregates import run_aggregates

    return run_aggregates(cfg, extracts_dir)


def run_aggregate_scenario(cfg: PaceConfig, extracts_dir: Path, out_dir: Path, run_id: str | None) -> dict:
    """The aggregate-only scenario: counts, then OUT/<name>/aggregates.json and report.html (manifest last)."""
    from pace_linkage.pipeline import report_page

    doc = aggregate_counts(cfg, extracts_dir)
    html = report_page({"aggregates": doc}, title=f"{cfg.report.title}: aggregate-only sharing",
                       small_count_threshold=cfg.report.small_count_threshold)
    writer = RunWriter(out_dir, run_id)
    try:
        writer.write_json("aggregates.json", doc)
        writer.write_text("report.html", html)
        writer.publish({"config_hash": cfg.hash()})
    except BaseException:
        writer.discard()
        raise
    return doc


def build_document(doc: ScenariosConfig, specs: list[ScenarioSpec], cfgs: dict[str, PaceConfig], rows: list[dict],
                   all_true: int, attacks: dict[str, dict], aggregates: dict[str, dict], ephemeral: bool) -> dict:
    """scenarios.json: the comparison rows, what each scenario shares, the pseudonymisation study and the
    aggregate-only scenario's can/cannot-learn lists. Aggregates only; no timing, so reruns are identical."""
    by_name = {r["scenario"]: r for r in rows}
    base_f1 = (by_name.get(doc.baseline) or {}).get("f1")
    pseudo = {}
    for name, a in attacks.items():
        f1 = by_name[name].get("f1")
        pseudo[name] = {**a, "f1": f1, "f1_plaintext": base_f1, "plaintext_scenario": doc.baseline,
                        "f1_change": by_name[name].get("f1_change"), "key": "ephemeral" if ephemeral else "configured"}
    return {
        "baseline": doc.baseline,
        "true_pairs_in_truth": all_true,
        "rows": rows,
        "scenarios": {s.name: {"label": s.label, "description": s.description, "mode": s.mode, "config": s.config,
                               "shared_fields": shared_fields_by_source(cfgs[s.name]),
                               "consent_columns": {x.name: x.sharing.consent_column for x in cfgs[s.name].sources.items
                                                   if x.sharing and x.sharing.consent_column}}
                      for s in specs},
        "pseudonymisation": pseudo,
        "aggregates": {name: {**a, "reason": AGGREGATES_REASON} for name, a in aggregates.items()},
        "key": {"ephemeral": ephemeral},
    }


def write_comparison(out: Path, comparison: dict, rows: list[dict], small_count_threshold: int,
                     run_id: str | None) -> Path:
    """OUT/scenarios.json, scenarios.csv and scenarios.html, published with OUT/manifest.json last."""
    from pace_linkage.study.scenarios_report import render_scenarios

    html = render_scenarios(comparison, title="PACE linkage: sharing scenarios compared",
                            small_count_threshold=small_count_threshold)
    writer = RunWriter(out, run_id)
    try:
        writer.write_json("scenarios.json", comparison)
        writer.write_csv("scenarios.csv", comparison_frame(rows))
        writer.write_text("scenarios.html", html)
        return writer.publish({"kind": "scenarios", "scenarios": [r["scenario"] for r in rows]})
    except BaseException:
        writer.discard()
        raise


class ScenarioConsole(progress.Reporter):
    """What the CLI prints for a scenarios run: one line per scenario and its quality (the per-stage lines of
    each pipeline run are left to the Prefect logs)."""

    SHOWN = {"scenario", "evaluate", "compared"}

    def summary(self, stage: str, **figures) -> None:
        if stage in self.SHOWN and (stage != "evaluate" or "scenario" in figures):
            print(progress.summary_line(stage, **figures), flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", flush=True)
