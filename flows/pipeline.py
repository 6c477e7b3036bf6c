"""The pace-linkage pipeline as one Prefect flow. It reads like the stage list:

ingest -> normalise -> block -> compare -> train-model -> score -> cluster -> evaluate -> report -> store -> publish

OUT changes only at publish, after every other stage, the store write included, has succeeded
(:func:`flows.tasks.finish_run`); a partner that cannot be read fails the run unless ``allow_partial``.

The flow's parameters are paths, numbers and names only (:class:`RunParams`): never frames or records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field, field_validator

import flows.settings  # noqa: F401
from flows import memory, progress, tasks, workers
from flows.api import plain_parameters
from flows.params import checked_run_id, checked_store, validated
from flows.runners import choose, dask_task_runner, partition_mapper
from pace_linkage import pipeline
from pace_linkage.config import DaskSettings, load_config
from pace_linkage.engine.linker import Linker
from pace_linkage.evaluate.metrics import RunResults, load_truth
from pace_linkage.evaluate.quality import check_truth_coverage
from pace_linkage.ingest.nulls import normalise_warnings
from pace_linkage.ingest.sources import (
    SourceBatch,
    SourceFailure,
    assemble_shared,
    check_failures,
    coverage,
    source_notes,
)
from pace_linkage.store.outputs import RunWriter
from pace_linkage.study.scenarios import scenario_config
from pace_linkage.study.sharing import check_agreements


class RunParams(BaseModel):
    """Everything a run needs, as plain values (what the Prefect UI shows and validates)."""

    model_config = ConfigDict(extra="forbid")
    extracts: str = Field(description="folder holding the partner extracts")
    out: str = Field(description="folder to write clusters.csv, pairs.parquet, report.html ...")
    config: str | None = Field(default=None, description="top-level config YAML (default config/pace.yaml)")
    truth: str | None = Field(default=None, description="truth CSV (source,record_id,person_id) to evaluate against")
    threshold: float | None = Field(default=None, gt=0, lt=1, description="match probability threshold")
    run_id: str | None = Field(default=None, description="run id (default: random); letters, digits, . _ -")
    model: str | None = Field(default=None, description="a saved model.json to score with instead of training")
    training: Literal["unsupervised", "supervised"] | None = Field(
        default=None, description="override linkage.training (supervised needs truth)")
    store: str | None = Field(default=None, description="central store: a DuckDB file path or postgresql:// URL")
    scenario: str | None = Field(default=None, description="apply this named sharing scenario to the config")
    incremental: bool = Field(default=False, description="link this delivery against the persons in --store")
    refresh_model: bool = Field(default=False, description="incremental: re-train the model on this delivery")
    clerical: str | None = Field(default=None, description="clerical decisions CSV (review's clerical.csv)")
    allow_partial: bool = Field(default=False, description="publish even if a partner's extract cannot be read "
                                "(the report's first line names it); by default a failed partner fails the run")
    scenarios_file: str | None = Field(default=None, description="scenarios YAML (default config/scenarios.yaml)")
    task_runner: Literal["local"] = "local"

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, v: str | None) -> str | None:
        return checked_run_id(v)  # it names a folder: OUT/.staging-<run id>

    @field_validator("store")
    @classmethod
    def _store_without_password(cls, v: str | None) -> str | None:
        return checked_store(v)  # before anything is read: a URL with a password is refused at once


@plain_parameters
@flow(name="pace-linkage-pipeline", persist_result=False, log_prints=False, validate_parameters=True)
def pace_linkage_pipeline(
    extracts: str,
    out: str,
    config: str | None = None,
    truth: str | None = None,
    threshold: float | None = None,
    run_id: str | None = None,
    model: str | None = None,
    training: Literal["unsupervised", "supervised"] | None = None,
    store: str | None = None,
    scenario: str | None = None,
    scenarios_file: str | None = None,
    incremental: bool = False,
    refresh_model: bool = False,
    clerical: str | None = None,
    allow_partial: bool = False,
) -> dict:
    """Link every partner extract in ``extracts`` into PACE ids and write the outputs into ``out``.

    Privacy: an unexpected exception in the flow's own code (between tasks) is turned into a value-free
    :class:`flows.tasks.StageError`, as the tasks do, because Prefect stores the failed run's message.
    """
    params = validated(RunParams, extracts=extracts, out=out, config=config, truth=truth, threshold=threshold,
                       run_id=run_id, model=model, training=training, store=store, scenario=scenario,
                       scenarios_file=scenarios_file, incremental=incremental, refresh_model=refresh_model,
                       clerical=clerical, allow_partial=allow_partial)
    return tasks.value_free("flow pace-linkage-pipeline", _run, params)


def _run(params: RunParams) -> dict:
    """The flow body: the stages in order, each a task."""
    cfg = load_config(params.config) if params.config or not params.scenario else None
    if params.scenario:  # a named sharing scenario: its transforms, on --config or else the scenario's base config
        cfg = scenario_config(params.scenario, params.scenarios_file, cfg)
    check_agreements(cfg)  # an expired agreement stops the run before anything is read
    read_as = workers.reading_key(cfg, Path(params.extracts), pipeline.DEFAULT_FEATURES)  # the command's early pool
    if params.training:
        cfg.linkage.training = params.training
    chosen = params.threshold if params.threshold is not None else cfg.linkage.threshold
    truth_df = load_truth(Path(params.truth)) if params.truth else None
    timings: dict[str, float] = {}
    p = progress.current()

    def timed(stage: str, fn, *args, **kw):
        t0 = time.perf_counter()
        with p.stage(stage):
            result = fn(*args, **kw)
        timings[stage] = round(time.perf_counter() - t0, 3)
        memory.release()
        return result

    sources = {s.name: s for s in cfg.sources.items}
    for note in tasks.value_free("recover", pipeline.recover_outputs, Path(params.out)):
        p.warn(note)  # a run a kill stopped after its store committed is published now; dead runs' folders go
    with workers.side_by_side(cfg.sources.items, Path(params.extracts), read_as) as pool:  # one source per core
        if pool is not None:
            pool.read(cfg, Path(params.extracts), pipeline.DEFAULT_FEATURES)
        raw = timed("ingest", lambda: [tasks.ingest(s, cfg, Path(params.extracts)) for s in cfg.sources.items])
        failures = [r for r in raw if isinstance(r, SourceFailure)]
        ingested = [r for r in raw if isinstance(r, SourceBatch)]
        del raw  # the raw extracts are released one by one as they are normalised
        p.summary("ingest", sources=len(ingested), failed=len(failures), rows=sum(b.rows_in for b in ingested),
                  quarantined=sum(b.rows_quarantined for b in ingested), seconds=timings["ingest"])
        check_failures(cfg, failures, params.allow_partial)  # a failed partner fails the run unless partial is allowed
        for f in failures:
            p.warn(f"source {f.source} failed: {f.error} (partial run: published without it)")
        for line in source_notes(ingested):  # e.g. a file that delivered no rows
            p.warn(line)
        batches = timed("normalise", _normalise_each, ingested, sources, cfg)
    records, batches = assemble_shared(batches)  # the batches' records are rows of the assembled frame
    memory.release()
    p.summary("normalise", records=len(records), quarantined=sum(b.rows_quarantined for b in batches),
              seconds=timings["normalise"])
    for warning in normalise_warnings(coverage(batches, cfg), cfg):  # values nulled or misread, by column
        p.warn(warning["message"])
    if truth_df is not None:  # a truth file of other extracts stops the run here, before any linking
        partial = check_truth_coverage(records, truth_df, params.truth)
        if partial:
            p.warn(partial)
    key_id = None
    if cfg.pseudonymise is not None:  # from here on the centre sees tokens and Bloom filters only
        records, key_id = timed("pseudonymise", tasks.pseudonymise, records, cfg)
        p.summary("pseudonymise", records=len(records), key_id=key_id, seconds=timings["pseudonymise"])

    if params.incremental:  # link this delivery against the persons already in the store
        from flows.incremental import run_incremental

        return run_incremental(params, cfg, records, batches, failures, key_id, truth_df, chosen, timed, timings, p)
    blocked, gamma, fs, scored, clustered, coded = _link(params, cfg, records, truth_df, chosen, timed, timings, p)
    run = RunResults(cfg=cfg, threshold=chosen, batches=batches, failures=failures, records=records,
                     blocking=blocked, gamma=gamma, model=fs, scored=scored, clusters=clustered, timings=timings,
                     key_id=key_id, column_codes=coded)
    writer = RunWriter(Path(params.out), params.run_id)  # pairs.parquet is staged while the run is evaluated
    try:
        pipeline.stage_pairs_ahead(writer, run)
        metrics_doc = timed("evaluate", tasks.evaluate_run, run, truth_df)
    except BaseException:
        writer.close()
        raise
    pw = metrics_doc.get("pairwise")
    if pw:
        p.summary("evaluate", precision=pw["precision"], recall=pw["recall"], f1=pw["f1"], seconds=timings["evaluate"])
    else:
        p.summary("evaluate", seconds=timings["evaluate"])
    manifest = tasks.finish_run(run, metrics_doc, Path(params.out), params.run_id, params.store, timed, timings, p,
                                writer=writer)
    return {"out": str(Path(params.out)), "manifest": str(manifest), "counts": {
        k: metrics_doc["counts"][k] for k in ("rows_in", "rows_accepted", "rows_quarantined", "rows_withheld")},
        "pairwise": pw, "sources_failed": [f.source for f in failures], "timings": timings}


def _normalise_each(ingested: list[SourceBatch], sources: dict, cfg) -> list[SourceBatch]:
    """The normalise task on each ingested batch, emptying ``ingested`` as it goes: each raw extract is released
    once its source is normalised (and its freed memory handed back), so the raw text of every source is not
    held next to the normalised records."""
    done = []
    while ingested:
        batch = ingested.pop(0)
        done.append(tasks.normalise(batch, sources[batch.source], cfg))
        del batch
        memory.release()
    return done


def _link(params: RunParams, cfg, records, truth_df, chosen: float, timed, timings: dict, p) -> tuple:
    """block -> compare -> train-model -> score -> cluster: the Linker's steps, each a task (compare and score
    one task per partition of the candidate pairs). Returns (blocking, gamma, model, scores, clusters, the
    comparisons' column codes)."""
    linker = Linker.from_config(cfg)
    blocked = timed("block", tasks.block, linker, records)
    p.summary("block", pairs=len(blocked.pairs), seconds=timings["block"])
    # compare and score run per partition of the candidate pairs (pace_linkage.engine.partition), as tasks on the
    # flow's task runner: in this process by default, on the cluster under a DaskTaskRunner
    ctx = linker.context(records, truth_df, blocked.take_keys())  # the rules' keys, computed once by blocking
    with partition_mapper(ctx, tasks.PARTITION_TASKS) as mapper:
        compared = timed("compare", linker.compare, ctx, blocked.pairs, mapper)
        p.summary("compare", pairs=len(blocked.pairs), comparisons=len(cfg.linkage.comparisons),
                  partitions=compared.partitions, seconds=timings["compare"])
        if params.model:
            fs = timed("train-model", tasks.load_model, Path(params.model), cfg)
            p.summary("train-model", reused=Path(params.model).name, seconds=timings["train-model"])
        else:
            fs = timed("train-model", tasks.train, linker, ctx, compared.counts)
            p.summary("train-model", method=fs.method, seconds=timings["train-model"])
            for warning in fs.info.get("warnings", []):  # training sessions dropped (names and figures only)
                p.warn(warning)
        scored = timed("score", linker.score, ctx, blocked.pairs, compared.gamma, fs, mapper)
    coded = ctx.coded()  # the comparisons' column codes, kept for evaluating (not coded again there)
    ctx.release()
    p.summary("score", pairs=len(scored), links=int((scored["match_probability"] >= chosen).sum()),
              seconds=timings["score"])
    clustered = timed("cluster", tasks.cluster_records, linker, records, scored, chosen)
    p.summary("cluster", records=len(clustered.clusters), clusters=int(clustered.clusters[cfg.id_column].nunique()),
              seconds=timings["cluster"])
    return blocked, compared.gamma, fs, scored, clustered, coded


def pipeline_on(task_runner: str = "local", dask_address: str | None = None, settings: DaskSettings | None = None):
    """The pipeline flow on the chosen task runner (``local``: the flow itself, unchanged; ``dask``: the same flow
    with prefect-dask's task runner, see :mod:`flows.runners`)."""
    if choose(task_runner, dask_address) == "local":
        return pace_linkage_pipeline
    return plain_parameters(pace_linkage_pipeline.with_options(task_runner=dask_task_runner(dask_address, settings)))
