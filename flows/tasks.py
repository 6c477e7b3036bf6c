"""One thin Prefect task per pipeline stage, each a named call into the library.

- Results are never persisted (``persist_result=False``) and never cached (``NO_CACHE``): they are frames of
  personal data, and hashing frames for cache keys is both slow and a leak.
- Only I/O (reading extracts, writing outputs) retries, with back-off; a ``PaceError`` (bad config, bad
  input, sharing refused, unsafe linkage) is never retried, because retrying cannot fix it.
- Every task body runs inside :func:`stage_guard`. Prefect stores a failed task's exception text in its API
  database and logs its traceback there, and an unexpected exception (a bug) may quote a field value
  (``KeyError: 'AB123456C'``). So a non-``PaceError`` is re-raised as a value-free :class:`StageError` naming
  only the stage and the exception type, with no chained original. Set ``PACE_LINKAGE_DEBUG=1`` to let the
  original exception and its traceback through (for a developer, on test data).
- Fault drills: ``PACE_LINKAGE_FAULT=<stage>[,<stage>...]`` makes the named stage fail at its start with an
  :class:`InjectedFault` (never retried). Stages: ingest, normalise, block, compare, train-model (also a reused
  model's load), score, cluster, evaluate, report (staging the outputs), load-state and link-batch (incremental),
  store, publish, publish-artifacts; ``*`` matches every stage. An operator can use it to check that a failed run
  leaves the previous outputs in OUT, and the store, untouched. A failure of publish-artifacts (after OUT is
  published) is a warning, never a failed run.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import pandas as pd
from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from prefect.utilities.engine import get_state_for_result

import flows.settings  # noqa: F401  (offline Prefect defaults before prefect is imported)
from flows import workers
from pace_linkage import pipeline
from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.engine import blocking, cluster, model, partition
from pace_linkage.engine.linker import Linker
from pace_linkage.engine.training import PatternCounts
from pace_linkage.errors import NON_RETRYABLE, PaceError
from pace_linkage.evaluate import metrics
from pace_linkage.evaluate import quality as evaluate
from pace_linkage.ingest.sources import SourceBatch, SourceFailure
from pace_linkage.pipeline import DEFAULT_FEATURES
from pace_linkage.redact import suppress_small
from pace_linkage.report import render_markdown_summary
from pace_linkage.store.base import StoreConflict
from pace_linkage.store.outputs import RunWriter

FAULT_ENV = "PACE_LINKAGE_FAULT"
DEBUG_ENV = "PACE_LINKAGE_DEBUG"


class StageError(PaceError):
    """A stage failed unexpectedly (a bug). Names the stage and exception type, never a value."""

    exit_code = 70


class InjectedFault(PaceError):
    """The fault drill hook (``PACE_LINKAGE_FAULT``) stopped a stage on purpose."""

    exit_code = 75


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes"}


def check_fault(stage: str) -> None:
    """Raise :class:`InjectedFault` if ``PACE_LINKAGE_FAULT`` names ``stage`` (one env lookup: cheap)."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and (stage in (names := {w.strip() for w in wanted.split(",")}) or "*" in names):
        raise InjectedFault(f"stage {stage}: fault injected by {FAULT_ENV}")


def interruption(exc: BaseException, depth: int = 8) -> BaseException | None:
    """The interruption (a signal or Ctrl-C: a BaseException that is not an Exception) ``exc`` was raised
    while handling, if any. An engine's cleanup may fail while a signal unwinds a task and replace it."""
    seen = exc.__context__ or exc.__cause__
    while seen is not None and depth > 0:
        if not isinstance(seen, Exception):
            return seen
        seen, depth = seen.__context__ or seen.__cause__, depth - 1
    return None


def value_free(where: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, with any exception other than a PaceError (a bug: its text may quote a field
    value) replaced by a value-free :class:`StageError` naming ``where`` and the exception type only, with no
    chained original. Prefect stores a failed run's message in its database, so nothing else may reach it.
    ``PACE_LINKAGE_DEBUG=1`` lets the original through (for a developer, on test data)."""
    try:
        return fn(*args, **kwargs)
    except PaceError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug: its text may quote a field value
        stop = interruption(exc)
        if stop is not None:  # an error raised while a signal unwinds the run is that signal
            raise stop from None
        if debug_enabled():
            raise
        err = StageError(f"{where} failed: unexpected {type(exc).__name__} "
                         f"(set {DEBUG_ENV}=1 on test data for the traceback)")
    raise err  # outside the except block: no chained original exception, no value in the traceback


def stage_guard(stage: str):
    """Decorator for a task body: fault hook first, then :func:`value_free` (any non-PaceError becomes a
    value-free StageError naming the stage)."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            check_fault(stage)
            return value_free(f"stage {stage}", fn, *args, **kwargs)

        return wrapper

    return deco


def retry_unless_pace_error(task, task_run, state) -> bool:
    """Prefect retry condition: retry I/O hiccups, never a PaceError with nothing to retry (nor a fault drill)."""
    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    return not isinstance(exc, (*NON_RETRYABLE, InjectedFault, StoreConflict))


PRIVATE = dict(persist_result=False, cache_policy=NO_CACHE, log_prints=False)
IO_RETRIES = dict(retries=3, retry_delay_seconds=[1, 2, 4], retry_condition_fn=retry_unless_pace_error)
_SCALARS = (type(None), bool, int, float, str, bytes, Path)


class StageTask(Task):
    """A Prefect task that Prefect does not search through. Called in a flow, Prefect walks every argument, each
    field of the config and of the run's results, twice per task run, looking for futures to resolve and for
    upstream results to record (a third of a second of a small run). An argument that is another task run's
    result is passed as it is (the task run's inputs in the Prefect UI name it); any other is passed quoted, so
    Prefect takes it as it is. ``submit`` (a Dask run) is unchanged."""

    def __call__(self, *args, **kwargs):
        own = {k: kwargs.pop(k) for k in ("return_state", "wait_for") if k in kwargs}  # Prefect's, not the task's
        return super().__call__(*map(_as_is, args), **{k: _as_is(v) for k, v in kwargs.items()}, **own)


def _as_is(value):
    """``value`` quoted unless it is a plain scalar or an upstream task run's result."""
    if isinstance(value, _SCALARS) or get_state_for_result(value) is not None:
        return value
    return quote(value)


def task(**options):
    """``@prefect.task(**options)`` making a :class:`StageTask`."""
    return lambda fn: StageTask(fn=fn, **options)


@task(name="ingest", task_run_name="ingest-{src.name}", **PRIVATE, **IO_RETRIES)
@stage_guard("ingest")
def ingest(src: SourceConfig, cfg: PaceConfig, extracts_dir: Path) -> SourceBatch | SourceFailure:
    return workers.ingested(src, cfg, extracts_dir, DEFAULT_FEATURES)


@task(name="normalise", task_run_name="normalise-{src.name}", **PRIVATE)
@stage_guard("normalise")
def normalise(batch: SourceBatch, src: SourceConfig, cfg: PaceConfig) -> SourceBatch:
    return workers.normalised(batch, src, cfg, DEFAULT_FEATURES)


@task(name="pseudonymise", **PRIVATE)
@stage_guard("pseudonymise")
def pseudonymise(records: pd.DataFrame, cfg: PaceConfig) -> tuple[pd.DataFrame, str]:
    """Replace identifiers by keyed tokens and Bloom filters (the partner-side step, run here for the
    study); the key comes from the environment or a Prefect Secret block, never from config. Returns the
    pseudonymised records and the key id for the manifest."""
    from pace_linkage.study import pseudonymise as ps

    key = resolve_key(cfg)
    return ps.pseudonymise_records(records, cfg, key), ps.key_id(key)


_IN_MEMORY_KEY: dict[str, bytes] = {}


@contextlib.contextmanager
def in_memory_key(key: bytes):
    """For the duration of the block, every pseudonymise step in this process uses ``key`` instead of the
    config's key source (``pace-linkage scenarios --ephemeral-key``: a random key made for one run, held in
    memory only, never a flow or task parameter, never written)."""
    _IN_MEMORY_KEY["key"] = bytes(key)
    try:
        yield
    finally:
        _IN_MEMORY_KEY.pop("key", None)


def resolve_key(cfg: PaceConfig) -> bytes:
    """The pseudonymisation key: the in-memory key if one is set (:func:`in_memory_key`), else the config's
    source (environment variable, or a Prefect Secret block). ConfigError (one line, no key) if it is missing."""
    from pace_linkage.study import pseudonymise as ps

    if "key" in _IN_MEMORY_KEY:
        return _IN_MEMORY_KEY["key"]
    src = cfg.pseudonymise.key
    if src.secret_block:
        from prefect.blocks.system import Secret

        return ps.parse_key(str(Secret.load(src.secret_block).get()), f"Secret block {src.secret_block}")
    return ps.load_key(src)


@task(name="block", **PRIVATE)
@stage_guard("block")
def block(linker: Linker, records: pd.DataFrame) -> blocking.BlockingResult:
    return linker.block(records, keep_keys=True)  # the flow hands the keys to comparing (take_keys)


@task(name="load-model", **PRIVATE, **IO_RETRIES)
@stage_guard("train-model")
def load_model(path: Path, cfg: PaceConfig) -> model.FSModel:
    fs = model.FSModel.load(path)
    model.check_compatible(fs, cfg.linkage)
    return fs


# ---- compare, train and score: the Linker's steps, compare and score a partition per task -------------------
@task(name="compare-partition", task_run_name="compare-partition-{index}", **PRIVATE)
@stage_guard("compare")
def compare_partition(ctx: partition.PartitionContext, pairs: pd.DataFrame, index: int = 0
                      ) -> partition.ComparedPartition:
    """Pass 1 on one partition of the candidate pairs: gamma and its pattern counts."""
    return partition.compare_partition(ctx, pairs)


@task(name="train-model", **PRIVATE)
@stage_guard("train-model")
def train(linker: Linker, ctx: partition.PartitionContext, counts: PatternCounts) -> model.FSModel:
    """Train once from the candidate pairs' combined gamma pattern counts (the same model as training on all
    gamma)."""
    return linker.train(ctx, counts)


@task(name="score-partition", task_run_name="score-partition-{index}", **PRIVATE)
@stage_guard("score")
def score_partition(ctx: partition.PartitionContext, fs: model.FSModel, pairs: pd.DataFrame, gamma: pd.DataFrame,
                    index: int = 0) -> pd.DataFrame:
    """Pass 2 on one partition: match weight and probability (the slim columns only)."""
    return partition.score_partition(ctx, fs, pairs, gamma)


# the task that runs each of the Linker's partition functions in a flow (flows.runners.partition_mapper)
PARTITION_TASKS = {partition.compare_partition: compare_partition, partition.score_partition: score_partition}


@task(name="cluster", **PRIVATE)
@stage_guard("cluster")
def cluster_records(linker: Linker, records: pd.DataFrame, scored: pd.DataFrame, threshold: float
                    ) -> cluster.ClusterResult:
    return linker.cluster(records, scored, threshold)


@task(name="evaluate", **PRIVATE)
@stage_guard("evaluate")
def evaluate_run(run: metrics.RunResults, truth: pd.DataFrame | None) -> dict:
    return pipeline.evaluate_run(run, truth)


@task(name="report", **PRIVATE, **IO_RETRIES)
@stage_guard("report")
def write_report(run: metrics.RunResults, metrics_doc: dict, writer: RunWriter,
                 extra_csv: dict[str, pd.DataFrame] | None = None) -> None:
    """Stage the run's outputs, report.html included, in its staging folder: nothing reaches OUT yet."""
    pipeline.stage_outputs(writer, run, metrics_doc, pipeline.run_report(run, metrics_doc), extra_csv)


@task(name="store", **PRIVATE, **IO_RETRIES)
@stage_guard("store")
def store_run(run: metrics.RunResults, store_url: str, writer: RunWriter) -> dict:
    """Write the run (records, pairs, clusters, metadata) into the central store, under the staged run's id and
    attempt; one transaction, so a failure keeps the store's previous contents (pace_linkage.store)."""
    return pipeline.store_run(store_url, run, writer.run_id, attempt=writer.attempt)


@task(name="publish", **PRIVATE, **IO_RETRIES)
@stage_guard("publish")
def publish(writer: RunWriter, extra: dict) -> Path:
    """Move the staged run into OUT, manifest last (pace_linkage.store.publish). Returns the manifest's path."""
    return writer.publish(extra)


def finish_run(run: metrics.RunResults, metrics_doc: dict, out: Path, run_id: str | None, store: str | None,
               timed, timings: dict[str, float], p, *, extra_csv: dict[str, pd.DataFrame] | None = None,
               store_task=None, writer: RunWriter | None = None) -> Path:
    """The end of every run (:func:`pace_linkage.pipeline.finish_run`, each step a task): report (stage the
    outputs) -> store (commit the run) -> publish (OUT, manifest last), then the Prefect artifacts, whose failure
    is only a warning. ``store_task(writer)`` writes the store (default :func:`store_run`); ``timed`` runs a stage
    and records its seconds in ``timings``; ``writer``: the run's writer if it was opened before. Returns the
    manifest's path."""

    def stage(writer: RunWriter) -> None:
        timed("report", write_report, run, metrics_doc, writer, extra_csv)
        p.summary("report", files=len(writer.files), seconds=timings.get("report", 0.0))

    def write_store(writer: RunWriter) -> dict:
        stored = timed("store", store_task or (lambda w: store_run(run, store, w)), writer)
        p.summary("store", records=stored["records"], pairs=stored["pairs"], seconds=stored["seconds"])
        return stored

    manifest, _ = pipeline.finish_run(
        out, run_id, store, pipeline.manifest_extra(run), stage=stage, write_store=write_store,
        publish_with=lambda w: timed("publish", publish, w, {"timings_seconds": dict(timings)}), writer=writer)
    p.summary("publish", out=str(out), seconds=timings.get("publish", 0.0))
    try:  # after publishing, nothing may fail the run: the artifacts are a convenience
        publish_artifacts(metrics_doc, run.cfg.report.small_count_threshold, dict(timings))
    except Exception as exc:  # noqa: BLE001 - a warning, value-free
        p.warn(f"the Prefect artifacts were not published ({type(exc).__name__}); the run's outputs are complete")
    return manifest


@task(name="publish-artifacts", **PRIVATE)
@stage_guard("publish-artifacts")
def publish_artifacts(metrics_doc: dict, small_count_threshold: int, timings: dict[str, float]) -> None:
    """Key figures on the flow run in the Prefect UI: aggregates only (no record-level value)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    md = render_markdown_summary(metrics_doc, small_count_threshold=small_count_threshold)
    md += "\n\n### Seconds per stage\n\n| stage | seconds |\n|---|---|\n" + "".join(
        f"| {k} | {v:.2f} |\n" for k, v in timings.items())
    create_markdown_artifact(md, key="pace-linkage-summary", description="PACE linkage key figures")
    rows = []
    for src, c in sorted(metrics_doc["counts"]["by_source"].items()):
        rows.append({"source": src, **{k: suppress_small(c.get(k, 0), small_count_threshold) for k in
                                       ("rows_in", "rows_accepted", "rows_quarantined", "rows_withheld")}})
    create_table_artifact(rows, key="pace-linkage-rows-per-source", description="Rows in / accepted / quarantined per source")


__all__ = [
    "StageTask", "task", "StageError", "InjectedFault", "check_fault", "stage_guard", "FAULT_ENV", "DEBUG_ENV",
    "ingest", "normalise", "block", "train", "load_model", "cluster_records", "evaluate_run",
    "write_report", "store_run", "publish", "finish_run", "publish_artifacts", "evaluate", "in_memory_key",
    "resolve_key",
    "compare_partition", "score_partition", "PARTITION_TASKS",
]
