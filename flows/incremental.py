"""The incremental branch of the pipeline flow (``pace-linkage run --store DB --incremental``).

After ingest and normalise, instead of linking the delivery on its own:

load-state -> link-batch -> evaluate -> report -> store -> publish

``load-state`` reads the state's version (:meth:`pace_linkage.store.base.Store.state_version`), then the persons,
ids, clerical decisions and model the previous incremental runs left in the store, and the workbench's labels no
run applied yet (:func:`pace_linkage.incremental.persist.label_decisions`: taken as this run's clerical
decisions, as ``--clerical`` gives them); ``link-batch`` links the delivery against them (:func:`pace_linkage.incremental.batch.link_batch`: new x new
and new x existing pairs only, persistent ids, merges and splits recorded); the outputs are those of a full
run over every live record, plus ``id_history.csv`` (this run's events); ``store`` writes the run, the new
state and the log in one transaction, so a failure leaves the previous state as it was, and only if no other
incremental run changed the state since ``load-state`` read it (otherwise one line, "the store changed since
this run read its state (run X was applied): run again", and nothing is written or published). Runs against one
store are so serialisable. OUT is published only after the store committed (:func:`flows.tasks.finish_run`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from flows.tasks import IO_RETRIES, PRIVATE, stage_guard, task
from pace_linkage import incremental as inc
from pace_linkage.config import PaceConfig
from pace_linkage.engine.model import FSModel
from pace_linkage.errors import ConfigError, InputError
from pace_linkage.evaluate import metrics
from pace_linkage.incremental import persist
from pace_linkage.store.base import StateVersion

if TYPE_CHECKING:
    from flows.pipeline import RunParams
    from flows.progress import Reporter
    from pace_linkage.ingest.sources import SourceBatch, SourceFailure


@task(name="load-state", **PRIVATE, **IO_RETRIES)
@stage_guard("load-state")
def load_state(store_url: str, cfg: PaceConfig, like: pd.DataFrame, run_id: str):
    from pace_linkage.store import database as store

    with store.open_store(store_url, private_columns=store.private_columns(cfg)) as st:
        if st.has_run(run_id):
            raise InputError(f"store {store.describe(store_url)}: run id {run_id} was already applied; an incremental "
                             f"run changes the state, so give each delivery its own --run-id")
        version = st.state_version()  # before the state: a change after this point is caught at the write
        state, fs = persist.load_state(st, like=like, id_column=cfg.id_column)
        labels, seen = persist.label_decisions(st, version)
        return state, fs, version, labels, seen


@task(name="link-batch", **PRIVATE)
@stage_guard("link-batch")
def link_batch(state: inc.State, records: pd.DataFrame, cfg: PaceConfig, *, model: FSModel | None, run_id: str,
               threshold: float, deletions: pd.DataFrame | None, clerical: pd.DataFrame | None,
               refresh_model: bool) -> inc.BatchResult:
    """The delivery's normalised ``records`` linked against the stored ``state`` with ``model`` (None: train
    one), keeping persistent ids (:func:`pace_linkage.incremental.batch.link_batch`)."""
    return inc.link_batch(state, records, cfg, model, run_id, threshold, deletions=deletions, clerical=clerical,
                          refresh_model=refresh_model)


@task(name="store", **PRIVATE, **IO_RETRIES)
@stage_guard("store")
def store_increment(run: metrics.RunResults, result: inc.BatchResult, store_url: str, run_id: str,
                    version: StateVersion, attempt: str | None = None, labels_applied: int | None = None) -> dict:
    """The run, its new state and its log in one transaction, if the state is still at ``version``; the
    number of the last store label applied goes into the run's metadata."""
    from pace_linkage.pipeline import store_run

    return store_run(store_url, run, run_id, state=persist.state_tables(result.state, result.model),
                     log=persist.log_tables(result.events, result.removed), attempt=attempt, expect_state=version,
                     extra_meta=None if labels_applied is None else {persist.LABELS_APPLIED: labels_applied})


def run_incremental(params: RunParams, cfg: PaceConfig, records: pd.DataFrame, batches: list[SourceBatch],
                    failures: list[SourceFailure], key_id: str | None, truth_df: pd.DataFrame | None,
                    chosen: float, timed: Callable[..., Any], timings: dict[str, float], p: Reporter) -> dict:
    """The incremental stages (called by the pipeline flow with its ``timed`` helper and progress ``p``)."""
    from flows import tasks

    if not params.store:
        raise ConfigError("run --incremental: needs --store (the persons and ids live in the central store)")
    run_id = params.run_id or uuid.uuid4().hex
    state, fs, version, labels, labels_seen = timed("load-state", load_state, params.store, cfg, records, run_id)
    p.summary("load-state", records=len(state.records), persons=state.persons(), model="stored" if fs else "none",
              labels=len(labels))
    if params.model:
        fs = FSModel.load(Path(params.model))
    deletions = persist.read_deletions(Path(params.extracts) / persist.DELETIONS_FILE)
    clerical = persist.read_clerical_decisions(Path(params.clerical)) if params.clerical else None
    clerical = persist.with_labels(labels, clerical)  # the workbench's labels, as if given with --clerical
    result = timed("link-batch", link_batch, state, records, cfg, model=fs, run_id=run_id, threshold=chosen,
                   deletions=deletions, clerical=clerical, refresh_model=bool(params.refresh_model))
    tot = result.summary["totals"]
    p.summary("link-batch", new=tot["new"], updated=tot["updated"], deleted=tot["deleted"],
              joined=tot["joined_existing"], new_persons=tot["new_persons"], merges=tot["merges"],
              splits=tot["splits"])
    run = persist.run_results(result, cfg, chosen, batches, failures, {}, key_id)
    metrics_doc = timed("evaluate", tasks.evaluate_run, run, truth_df)
    metrics_doc["incremental"] = persist.change_metrics(result)
    if metrics_doc.get("pairwise"):
        pw = metrics_doc["pairwise"]
        p.summary("evaluate", precision=pw["precision"], recall=pw["recall"], f1=pw["f1"])
    manifest = tasks.finish_run(
        run, metrics_doc, Path(params.out), run_id, params.store, timed, timings, p,
        extra_csv={"id_history.csv": result.events},
        store_task=lambda w: store_increment(run, result, params.store, run_id, version, w.attempt, labels_seen))
    pw = metrics_doc.get("pairwise")
    return {"out": str(Path(params.out)), "manifest": str(manifest), "counts": {
        k: metrics_doc["counts"][k] for k in ("rows_in", "rows_accepted", "rows_quarantined", "rows_withheld")},
        "pairwise": pw, "sources_failed": [f.source for f in failures], "incremental": tot}
