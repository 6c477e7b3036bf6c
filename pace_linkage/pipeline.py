"""The composition of the library: the stages wired to the study features, as the flows, benchmarks and tests
call them.

The stages (:mod:`pace_linkage.ingest`, :mod:`pace_linkage.evaluate`, :mod:`pace_linkage.report`,
:mod:`pace_linkage.store`) never name a study feature: they take the run's features as a parameter. This
module, the top of the library, passes them :data:`DEFAULT_FEATURES` (the study's,
:data:`pace_linkage.study.FEATURES`, and incremental linkage's report section), so that every caller reads,
evaluates, reports and stores a run the same way::

    read_sources -> (link: pace_linkage.engine) -> evaluate_run -> run_report -> stage_outputs -> store_run
    -> publish (RunWriter.publish; OUT only after the store committed: pace_linkage.store.publish)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.engine.linker import Linker
from pace_linkage.errors import InputError, PaceError
from pace_linkage.evaluate import recluster
from pace_linkage.evaluate.metrics import (
    RunResults,
    build_metrics,
    pairs_frame,
    pairs_slice_makers,
    pairs_slices,
)
from pace_linkage.features import Feature, report_sections
from pace_linkage.incremental.report import INCREMENTAL
from pace_linkage.ingest.sources import (
    SourceBatch,
    SourceFailure,
    assemble,
    ingest_source,
    normalise_source,
    quarantine_summary,
)
from pace_linkage.report.render import CORE_SECTIONS, render_report
from pace_linkage.report.section import Section
from pace_linkage.schema import RECORD_ID, SOURCE, VERSION
from pace_linkage.store import database, outputs, publish
from pace_linkage.store.outputs import PublishError, RunWriter, parquet_stream_bytes
from pace_linkage.study import FEATURES
from pace_linkage.study.sharing import released_fields

DEFAULT_FEATURES: tuple[Feature, ...] = (*FEATURES, INCREMENTAL)


# --------------------------------------------------------------------------------------------------
# Reading the sources
# --------------------------------------------------------------------------------------------------
def read_batch(src: SourceConfig, cfg: PaceConfig, extracts_dir: Path,
                features: Sequence[Feature] = DEFAULT_FEATURES) -> SourceBatch | SourceFailure:
    """One source ingested and normalised, or the :class:`SourceFailure` that stopped it."""
    batch = ingest_source(src, cfg, Path(extracts_dir), features=features)
    return batch if isinstance(batch, SourceFailure) else normalise_source(batch, src, cfg, features=features)


def read_batches(cfg: PaceConfig, extracts_dir: Path, features: Sequence[Feature] = DEFAULT_FEATURES
                 ) -> tuple[list[SourceBatch], list[SourceFailure]]:
    """Every source of ``cfg`` read from ``extracts_dir``: the normalised batches, and the sources that
    failed."""
    read = [read_batch(s, cfg, extracts_dir, features) for s in cfg.sources.items]
    return [b for b in read if isinstance(b, SourceBatch)], [f for f in read if isinstance(f, SourceFailure)]


def read_sources(cfg: PaceConfig, extracts_dir: Path, features: Sequence[Feature] = DEFAULT_FEATURES
                 ) -> pd.DataFrame:
    """Every source of ``cfg`` ingested and normalised as the pipeline does, in one record frame sorted by
    (source, record_id) (:func:`pace_linkage.ingest.sources.assemble`). A source that cannot be read is an
    :class:`InputError` naming it."""
    batches, failed = read_batches(cfg, extracts_dir, features)
    if failed:
        raise InputError(*[f"source {f.source}: {f.error}" for f in failed])
    return assemble(batches)


# --------------------------------------------------------------------------------------------------
# Evaluating, reporting and writing a run
# --------------------------------------------------------------------------------------------------
def evaluate_run(run: RunResults, truth: pd.DataFrame | None,
                 features: Sequence[Feature] = DEFAULT_FEATURES) -> dict:
    """The run's ``metrics.json`` document, the features' entries included."""
    return build_metrics(run, truth, features=features)


def pairs_parquet(run: RunResults) -> bytes:
    """pairs.parquet's bytes, written a row group at a time (:func:`pace_linkage.evaluate.metrics.pairs_slices`)."""
    return parquet_stream_bytes(pairs_slices(run, outputs.PARQUET_ROW_GROUP))


def stage_pairs_file(writer: RunWriter, run: RunResults) -> None:
    """Stage ``run``'s pairs.parquet, written into its staging file a row group at a time as it is encoded:
    neither the pairs frame nor the file is ever held whole (at millions of pairs each is hundreds of MB).
    Built here, after evaluating, not beside it in a thread: on two cores the thread saved no time and its
    slices and the file's bytes raised the run's peak memory by about 0.5 GB at a million records. Its row
    groups are built and encoded two at a time, each in a thread, and joined in order into the same bytes
    (:func:`pace_linkage.store.outputs.write_parquet_parts`)."""
    writer.write_parquet_parts("pairs.parquet", pairs_slice_makers(run, outputs.PARQUET_ROW_GROUP))


def stage_pairs_ahead(writer: RunWriter, run: RunResults) -> None:
    """Start staging ``run``'s pairs.parquet (:func:`stage_pairs_file`) in a thread while the run is evaluated:
    it reads the scored pairs only (its row groups' sources are taken here, in the caller's thread), and Arrow
    encodes on the core evaluating leaves free, one row group at a time (the same bytes). :func:`stage_outputs` collects it; a run that stops first stops
    it at its next row group."""
    makers = pairs_slice_makers(run, outputs.PARQUET_ROW_GROUP)

    def write(stop: threading.Event) -> None:
        def checked(make: Callable[[], pd.DataFrame]) -> Callable[[], pd.DataFrame]:
            def made() -> pd.DataFrame:
                if stop.is_set():
                    raise PaceError("pairs.parquet: the run stopped before it was written")
                return make()
            return made

        # one row group at a time: evaluating holds the other core, and a second encoder's row group is memory
        writer.write_parquet_stream("pairs.parquet", (checked(m)() for m in makers))

    writer.write_ahead("pairs.parquet", write)


def sections(features: Sequence[Feature] = DEFAULT_FEATURES) -> list[Section]:
    """The sections of a report page: the core ones and the features'."""
    return [*CORE_SECTIONS, *report_sections(features)]


def report_page(metrics: dict, *, title: str, small_count_threshold: int = 0,
                features: Sequence[Feature] = DEFAULT_FEATURES) -> str:
    """The HTML report of a metrics document, with the features' sections."""
    return render_report(metrics, title=title, small_count_threshold=small_count_threshold,
                         sections=sections(features))


def run_report(run: RunResults, metrics: dict, features: Sequence[Feature] = DEFAULT_FEATURES) -> str:
    """``report.html`` of a run, titled and suppressed as its config says."""
    report = run.cfg.report
    return report_page(metrics, title=report.title, small_count_threshold=report.small_count_threshold,
                       features=features)


def manifest_extra(run: RunResults) -> dict:
    """What a run's manifest records besides its files: config hash, version, timings and the key id."""
    key = {"key_id": run.key_id} if run.key_id else {}
    return {"config_hash": run.cfg.hash(), "version": VERSION, "timings_seconds": dict(run.timings), **key}


def stage_clustering_inputs(writer: RunWriter, run: RunResults) -> None:
    """Stage clustering.json and clustering.parquet: what re-clustering the run from its folder needs beyond
    pairs.parquet, without any value (:mod:`pace_linkage.evaluate.recluster`)."""
    clusters = run.clusters.clusters
    order = None if database.in_text_order(clusters, SOURCE, RECORD_ID) else \
        clusters.sort_values([SOURCE, RECORD_ID], kind="stable").index.to_numpy()
    linker = Linker.from_config(run.cfg)
    meta, codes = recluster.clustering_files(
        run.records, order, threshold=run.threshold, named_thresholds=dict(run.cfg.linkage.named_thresholds),
        settings=run.cfg.linkage.clustering, id_prefix=linker.id_prefix, id_column=linker.id_column,
        duplicate_free_sources=list(linker.duplicate_free_sources),
        field_values=getattr(run.clusters, "field_values", None))
    writer.write_json(recluster.JSON_NAME, meta)
    if codes is not None:
        writer.write_parquet(recluster.CODES_NAME, codes)


def stage_outputs(writer: RunWriter, run: RunResults, metrics: dict, report_html: str,
                  extra_csv: dict[str, pd.DataFrame] | None = None) -> None:
    """Stage the run's outputs in ``writer`` (nothing reaches OUT before :meth:`RunWriter.publish`):
    clusters.csv, pairs.parquet, quarantine.csv, conflicts.csv, each partner's quarantined rows (not for a
    pseudonymised run: the centre never holds them), model.json, metrics.json, report.html, plus ``extra_csv``
    (name -> frame, e.g. an incremental run's id_history.csv)."""
    for name, frame in sorted((extra_csv or {}).items()):
        writer.write_csv(name, frame)
    writer.write_csv("clusters.csv", database.sorted_clusters(run))
    if not writer.collect("pairs.parquet"):  # not started while evaluating (stage_pairs_ahead): written now
        stage_pairs_file(writer, run)
    writer.write_csv("quarantine.csv", quarantine_summary(run.batches))
    writer.write_csv("conflicts.csv", run.clusters.conflicts)
    for b in run.batches:
        if len(b.quarantine) and run.key_id is None:
            writer.write_csv(f"quarantine/{b.source}.csv", b.quarantine.drop(columns=[SOURCE]))
    if run.reclusterable:
        stage_clustering_inputs(writer, run)
    writer.write_text("model.json", run.model.to_json() + "\n")
    writer.write_json("metrics.json", metrics)
    writer.write_text("report.html", report_html)


def write_outputs(run: RunResults, metrics: dict, report_html: str, out_dir: Path, run_id: str | None,
                  extra_csv: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write the run's outputs into ``out_dir`` (:func:`stage_outputs`, then published with the manifest last),
    for a run without a store. Returns the manifest's path."""
    writer = RunWriter(Path(out_dir), run_id)
    try:
        stage_outputs(writer, run, metrics, report_html, extra_csv)
        return writer.publish(manifest_extra(run))
    finally:
        writer.close()


def store_run(url: str, run: RunResults, run_id: str, *, state: dict[str, pd.DataFrame] | None = None,
              log: dict[str, pd.DataFrame] | None = None, attempt: str | None = None,
              expect_state: database.StateVersion | None = None, extra_meta: dict | None = None) -> dict:
    """Write the run into the central store at ``url`` in one transaction
    (:mod:`pace_linkage.store.database`): its records, clusters, pairs and what the sharing agreements release
    to each partner (:func:`pace_linkage.study.sharing.released_fields`), with an incremental run's ``state``
    (written only if the store's state is still at ``expect_state``) and ``log``; ``attempt`` is the staged
    outputs' (:attr:`RunWriter.attempt`), so OUT and the store can be matched after a kill; ``extra_meta`` goes
    into the run's metadata."""
    released = released_fields(run.records, database.sorted_clusters(run), run.cfg, run.cfg.id_column)
    return database.store_run(url, run, run_id, pairs=pairs_frame(run), released=released, state=state,
                              log=log, attempt=attempt, expect_state=expect_state, extra_meta=extra_meta)


# --------------------------------------------------------------------------------------------------
# OUT and the store move together
# --------------------------------------------------------------------------------------------------
def committed(intent: dict) -> bool | None:
    """Whether a sealed staged run (its intent, :mod:`pace_linkage.store.publish`) has reached its commit point:
    True without a store (every stage succeeded), else whether the store holds the run under the same attempt;
    None when the store cannot be asked."""
    if not intent.get("store"):
        return True
    try:
        return database.stored_attempt(intent["store"], intent["run_id"]) == intent.get("attempt")
    except PaceError:
        return None


def recover_outputs(out_dir: Path) -> list[str]:
    """Before a run into ``out_dir``: publish a run a kill stopped after its store committed, and remove the
    staging folders of runs that died before (:func:`pace_linkage.store.publish.recover`)."""
    return publish.recover(Path(out_dir), committed)


def finish_run(out_dir: Path, run_id: str | None, store: str | None, extra: dict, *,
               stage: Callable[[RunWriter], Any], write_store: Callable[[RunWriter], dict] | None = None,
               publish_with: Callable[[RunWriter], Path] | None = None, writer: RunWriter | None = None,
               ) -> tuple[Path, dict | None]:
    """The end of every run, in the one order that keeps OUT and the store together: ``stage(writer)`` writes
    the outputs into the run's staging folder, the staged run is sealed (``extra``: the manifest's entries
    besides the files), ``write_store(writer)`` commits it to ``store`` (if any), and only then is OUT published
    (``publish_with(writer)``, default :meth:`RunWriter.publish`). A failure at any step leaves OUT as it was;
    a run stopped after the store committed stays staged and the next run into OUT publishes it
    (:func:`recover_outputs`; the error says so). Returns the manifest's path and what ``write_store``
    returned. ``writer``: the run's writer if it was opened before (e.g. to stage pairs.parquet while evaluating)."""
    writer = writer or RunWriter(Path(out_dir), run_id)
    stored: dict | None = None
    store_error: BaseException | None = None
    try:
        stage(writer)
        writer.seal(extra, store=store)
        if store and write_store is not None:
            try:
                stored = write_store(writer)
            except BaseException as exc:
                store_error = exc
                raise
        manifest = (publish_with or RunWriter.publish)(writer)
    except BaseException as exc:
        if not release(writer, store_error) or not isinstance(exc, PaceError):
            raise
        err = PublishError(*exc.lines, f"run {writer.run_id} is in the store but not in {out_dir} yet: the next run "
                                       "into it publishes it")
    else:
        release(writer)
        return manifest, stored
    raise err  # outside the except block: nothing chained


def release(writer: RunWriter, store_error: BaseException | None = None) -> bool:
    """After a run's last stage, published or not: release the staging folder, keeping an unpublished run the
    store committed (the next run into OUT publishes it, :func:`recover_outputs`). ``store_error``: what the
    store stage raised, if it did (an expected error before the commit means nothing was committed). Returns
    whether the staged run was kept."""
    intent = writer.intent
    keep = False
    if not writer.published and intent and intent.get("store"):
        verdict = committed(intent)
        surely_not = isinstance(store_error, PaceError) and not getattr(store_error, "maybe_committed", False)
        keep = bool(verdict) or (verdict is None and not surely_not)
    writer.close(keep=keep)
    return keep


__all__ = ["DEFAULT_FEATURES", "committed", "evaluate_run", "finish_run", "manifest_extra", "pairs_parquet",
           "read_batches", "read_batch",
           "read_sources", "recover_outputs", "release", "report_page", "run_report", "sections", "stage_clustering_inputs", "stage_outputs", "stage_pairs_ahead",
           "stage_pairs_file",
           "store_run", "write_outputs"]
