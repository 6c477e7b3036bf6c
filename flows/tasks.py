"""One thin Prefect task per pipeline stage, each a named call into the library.

- Results are never persisted (``persist_result=False``) and never cached (``NO_CACHE``): they are frames of
  personal data, and hashing frames for cache keys is both slow and a leak.
- Only I/O (reading extracts, writing outputs) retries, with back-off; a ``PaceError`` (bad config, bad
  input, sharing refused, unsafe linkage) is never retried, because retrying cannot fix it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

import flows.settings  # noqa: F401  (offline Prefect defaults before prefect is imported)
from pace_linkage import blocking, cluster, compare, evaluate, metrics, model, score
from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import NON_RETRYABLE
from pace_linkage.redact import suppress_small
from pace_linkage.report import render_markdown_summary, render_report
from pace_linkage.sources import SourceBatch, SourceFailure, ingest_source, normalise_source


def retry_unless_pace_error(task, task_run, state) -> bool:
    """Prefect retry condition: retry I/O hiccups, never a PaceError."""
    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    return not isinstance(exc, NON_RETRYABLE)


PRIVATE = dict(persist_result=False, cache_policy=NO_CACHE, log_prints=False)
IO_RETRIES = dict(retries=3, retry_delay_seconds=[1, 2, 4], retry_condition_fn=retry_unless_pace_error)


@task(name="ingest", task_run_name="ingest-{src.name}", **PRIVATE, **IO_RETRIES)
def ingest(src: SourceConfig, cfg: PaceConfig, extracts_dir: Path) -> SourceBatch | SourceFailure:
    return ingest_source(src, cfg, extracts_dir)


@task(name="normalise", task_run_name="normalise-{src.name}", **PRIVATE)
def normalise(batch: SourceBatch, src: SourceConfig, cfg: PaceConfig) -> SourceBatch:
    return normalise_source(batch, src, cfg)


@task(name="block", **PRIVATE)
def block(records: pd.DataFrame, cfg: PaceConfig) -> blocking.BlockingResult:
    lk = cfg.linkage
    return blocking.block(records, lk.blocking, lk.link_type, lk.max_pairs_per_rule)


@task(name="compare", **PRIVATE)
def compare_pairs(records: pd.DataFrame, pairs: pd.DataFrame, cfg: PaceConfig) -> pd.DataFrame:
    return compare.compare(records, pairs, cfg.linkage.comparisons)


@task(name="train-model", **PRIVATE)
def train(records: pd.DataFrame, pairs: pd.DataFrame, gamma: pd.DataFrame, cfg: PaceConfig,
          truth: pd.DataFrame | None = None) -> model.FSModel:
    return model.fit(records, pairs, gamma, cfg.linkage, seed=cfg.seed, truth=truth)


@task(name="load-model", **PRIVATE, **IO_RETRIES)
def load_model(path: Path, cfg: PaceConfig) -> model.FSModel:
    fs = model.FSModel.load(path)
    model.check_compatible(fs, cfg.linkage)
    return fs


@task(name="score", **PRIVATE)
def score_pairs(fs: model.FSModel, records: pd.DataFrame, pairs: pd.DataFrame, gamma: pd.DataFrame) -> pd.DataFrame:
    return score.score(fs, records, pairs, gamma)


@task(name="cluster", **PRIVATE)
def cluster_records(records: pd.DataFrame, scored: pd.DataFrame, cfg: PaceConfig, threshold: float,
                    duplicate_free) -> cluster.ClusterResult:
    lk = cfg.linkage
    return cluster.cluster(records, scored, threshold, lk.clustering, lk.named_thresholds,
                           duplicate_free=duplicate_free)


@task(name="evaluate", **PRIVATE)
def evaluate_run(run: metrics.RunResults, truth: pd.DataFrame | None) -> dict:
    return metrics.build_metrics(run, truth)


@task(name="report", **PRIVATE, **IO_RETRIES)
def write_report(run: metrics.RunResults, metrics_doc: dict, out_dir: Path, run_id: str | None) -> Path:
    html = render_report(metrics_doc, title=run.cfg.report.title,
                         small_count_threshold=run.cfg.report.small_count_threshold)
    return metrics.write_outputs(run, metrics_doc, html, out_dir, run_id)


@task(name="publish-artifacts", **PRIVATE)
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
    "ingest", "normalise", "block", "compare_pairs", "train", "load_model", "score_pairs", "cluster_records", "evaluate_run",
    "write_report", "publish_artifacts", "evaluate",
]
