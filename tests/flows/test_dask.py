"""Partitioned linkage and the flow on Dask: the same pairs, gamma, model (bit for bit) and clusters as one piece.

The library tests cut the candidate pairs of the session's synthetic data (400 people) into many tiny
partitions; the flow test runs the whole pipeline on a Dask LocalCluster of 2 worker processes (prefect-dask)
and compares its outputs with the default single-process run of the same data.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from pace_linkage.config import load_config
from pace_linkage.engine import blocking, compare, partition, score, training
from pace_linkage.engine.linker import Linker
from pace_linkage.errors import ConfigError, LinkageError
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.pipeline import read_sources

TINY = 97  # pairs per partition: the 400-person data set has about a thousand candidate pairs


@pytest.fixture(scope="module")
def linked(synth_data):
    """The unpartitioned stages on the session data: records, pairs, gamma, model and scores."""
    cfg = load_config()
    lk = cfg.linkage
    extracts = synth_data / "extracts"
    records = read_sources(cfg, extracts)
    pairs = blocking.block(records, lk.blocking, lk.link_type, lk.max_pairs_per_rule).pairs
    gamma = compare.compare(records, pairs, lk.comparisons)
    fs = training.train(records, lk, seed=cfg.seed, pairs=pairs, gamma=gamma)
    return {"cfg": cfg, "records": records, "pairs": pairs, "gamma": gamma, "model": fs,
            "scored": score.score(fs, records, pairs, gamma), "truth": load_truth(synth_data / "truth.csv")}


def partition_counts(linked, settings, size: int = TINY, truth=None) -> list[training.PatternCounts]:
    ctx = partition.PartitionContext.build(linked["records"], settings, truth)
    return [partition.compare_partition(ctx, part).counts for part in partition.split_pairs(linked["pairs"], size)]


# ---------------------------------------------------------------------------------------- partitions
def test_partitions_cover_every_pair_once_in_order():
    assert partition.partition_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert partition.partition_bounds(8, 4) == [(0, 4), (4, 8)]
    assert partition.partition_bounds(0, 4) == [(0, 0)]  # one empty partition keeps the columns
    pairs = pd.DataFrame({"l": np.arange(10, dtype=np.int32), "r": np.arange(1, 11, dtype=np.int32)})
    parts = partition.split_pairs(pairs, 3)
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    assert pd.concat(parts).equals(pairs)


def test_a_partition_size_below_one_is_refused():
    with pytest.raises(LinkageError):
        partition.partition_bounds(10, 0)


def test_partition_pairs_is_validated_and_left_out_of_the_config_hash():
    from pydantic import ValidationError

    cfg = load_config()
    assert cfg.linkage.partition_pairs == 2_000_000
    smaller = cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update={"partition_pairs": 500})})
    assert smaller.hash() == cfg.hash()  # results do not depend on it
    with pytest.raises(ValidationError):
        type(cfg.linkage).model_validate({**cfg.linkage.model_dump(), "partition_pairs": 10})
    with pytest.raises(ValidationError):
        type(cfg.dask).model_validate({"n_workers": 0})


def test_the_partition_context_pickles_its_records_but_not_its_caches(linked):
    ctx = partition.PartitionContext(linked["records"], linked["cfg"].linkage)
    partition.compare_partition(ctx, linked["pairs"].iloc[:50])  # fills the caches
    assert ctx._cache is not None and ctx._keys is not None
    size_with_caches = len(pickle.dumps(ctx))
    assert size_with_caches < len(pickle.dumps(linked["records"])) * 1.05
    back = pickle.loads(pickle.dumps(ctx))
    assert back._cache is None and back.records.equals(ctx.records)
    assert "records=" in repr(ctx) and str(linked["records"].iloc[0, 0]) not in repr(ctx)


def test_the_partition_context_holds_only_the_columns_linkage_reads(linked):
    lk = linked["cfg"].linkage
    ctx = partition.PartitionContext.build(linked["records"], lk)
    assert set(ctx.records.columns) == set(partition.linkage_columns(lk)) & set(linked["records"].columns)
    assert {"record_id", "client_id", "employer"}.isdisjoint(ctx.records.columns)  # read by no rule or comparison
    part = linked["pairs"].iloc[:200]
    assert partition.compare_partition(ctx, part).gamma.equals(linked["gamma"].iloc[:200])


# --------------------------------------------------------------------------------- pattern counts
def test_pattern_counts_of_partitions_add_up_to_the_counts_of_all_pairs(linked):
    lk = linked["cfg"].linkage
    whole = training.pattern_counts(linked["records"], linked["pairs"], linked["gamma"], lk)
    parts = partition_counts(linked, lk)
    assert len(parts) > 5
    combined = training.combine_pattern_counts(parts, lk)
    assert combined.n_pairs == whole.n_pairs == len(linked["pairs"])
    np.testing.assert_array_equal(combined.G, whole.G)
    np.testing.assert_array_equal(combined.counts, whole.counts)
    np.testing.assert_array_equal(combined.rule_counts, whole.rule_counts)
    assert len(combined.G) < combined.n_pairs / 3  # what training needs is per pattern, not per pair


@pytest.mark.parametrize("method", ["rules", "candidates"])
def test_training_from_combined_pattern_counts_gives_exactly_the_model_of_training_on_all_gamma(linked, method):
    lk = linked["cfg"].linkage
    seed = linked["cfg"].seed
    direct = training.train(linked["records"], lk, seed, pairs=linked["pairs"], gamma=linked["gamma"], method=method)
    combined = training.combine_pattern_counts(partition_counts(linked, lk), lk)
    from_counts = training.train(linked["records"], lk, seed, counts=combined, method=method)
    assert from_counts.to_json() == direct.to_json()  # every float, bit for bit
    assert from_counts.info["candidate_pairs"] == len(linked["pairs"])


def test_supervised_training_from_labelled_counts_equals_supervised_training_on_gamma(linked):
    lk = linked["cfg"].linkage.model_copy(update={"training": "supervised"})
    labels = training.pair_labels(linked["records"], linked["pairs"], linked["truth"])
    direct = training.train(linked["records"], lk, 1, pairs=linked["pairs"], gamma=linked["gamma"], labels=labels)
    combined = training.combine_pattern_counts(partition_counts(linked, lk, truth=linked["truth"]), lk)
    assert training.train(linked["records"], lk, 1, counts=combined).to_json() == direct.to_json()


def test_supervised_training_from_counts_without_labels_says_truth_is_missing(linked):
    lk = linked["cfg"].linkage.model_copy(update={"training": "supervised"})
    combined = training.combine_pattern_counts(partition_counts(linked, lk), lk)
    with pytest.raises(LinkageError, match="no truth file"):
        training.train(linked["records"], lk, 1, counts=combined)
    with pytest.raises(LinkageError, match="no truth file"):  # nor from pairs and gamma without labels
        training.train(linked["records"], lk, 1, pairs=linked["pairs"], gamma=linked["gamma"])


def test_labelled_and_unlabelled_counts_do_not_mix(linked):
    lk = linked["cfg"].linkage.model_copy(update={"training": "supervised"})
    labelled = partition_counts(linked, lk, size=500, truth=linked["truth"])
    plain = partition_counts(linked, lk, size=500)
    with pytest.raises(LinkageError):
        training.combine_pattern_counts([labelled[0], plain[1]], lk)


def test_no_candidate_pairs_trains_the_same_fallback_model(linked):
    lk = linked["cfg"].linkage
    none = linked["pairs"].iloc[:0]
    direct = training.train(linked["records"], lk, 3, pairs=none, gamma=linked["gamma"].iloc[:0])
    combined = training.combine_pattern_counts(partition_counts({**linked, "pairs": none}, lk), lk)
    assert combined.n_pairs == 0
    assert training.train(linked["records"], lk, 3, counts=combined).to_json() == direct.to_json()


# ------------------------------------------------------------------------------ partitioned linkage
@pytest.mark.parametrize("link_type", ["link_and_dedupe", "link_only", "dedupe_only"])
def test_partitioned_linkage_equals_unpartitioned_in_the_library(linked, link_type):
    """Under every link type: link_only and dedupe_only need the records' source for u's random pairs and
    the prior, so the partitions' records must carry it (a model trained without it was wrong, silently)."""
    from pace_linkage.engine.cluster import cluster

    cfg = linked["cfg"]
    cfg = cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update={"link_type": link_type})})
    lk, records = cfg.linkage, linked["records"]
    dup_free = records["source"].isin([s.name for s in cfg.sources.items if s.duplicate_free]).to_numpy()
    blocked = blocking.block(records, lk.blocking, lk.link_type, lk.max_pairs_per_rule)  # the stages in one piece
    gamma = compare.compare(records, blocked.pairs, lk.comparisons)
    fs = training.train(records, lk, cfg.seed, pairs=blocked.pairs, gamma=gamma)
    scores = score.score(fs, records, blocked.pairs, gamma)
    whole = SimpleNamespace(blocking=blocked, gamma=gamma, model=fs, scores=scores, clusters=cluster(
        records, scores, lk.threshold, lk.clustering, lk.named_thresholds, duplicate_free=dup_free))
    calls = []

    def mapper(fn, args):  # records which partition functions ran, and how often
        calls.append((fn.__name__, len(args)))
        return partition.run_in_turn(fn, args)

    parted = Linker.from_config(cfg, partition_pairs=TINY, mapper=mapper).run(records)
    n_parts = -(-len(whole.blocking.pairs) // TINY)
    assert calls == [("compare_partition", n_parts), ("score_partition", n_parts)]
    assert parted.blocking.pairs.equals(whole.blocking.pairs)
    assert parted.gamma.equals(whole.gamma)
    assert parted.model.to_json() == whole.model.to_json()
    assert list(parted.scores.columns) == list(partition.SLIM_COLUMNS)  # no bf_* columns kept
    assert parted.scores.equals(whole.scores[list(partition.SLIM_COLUMNS)])
    assert parted.clusters.clusters.equals(whole.clusters.clusters)
    assert parted.clusters.conflicts.equals(whole.clusters.conflicts)
    assert parted.clusters.stats == whole.clusters.stats


def test_scoring_a_partition_keeps_only_the_slim_columns_with_the_pairs_index(linked):
    ctx = partition.PartitionContext(linked["records"], linked["cfg"].linkage)
    part = linked["pairs"].iloc[100:180]
    compared = partition.compare_partition(ctx, part)
    slim = partition.score_partition(ctx, linked["model"], part, compared.gamma)
    assert slim.index.equals(part.index)
    assert slim.equals(linked["scored"].loc[part.index, list(partition.SLIM_COLUMNS)])
    with pytest.raises(LinkageError):
        partition.score_partition(ctx, linked["model"], part, compared.gamma.iloc[:-1])


# ----------------------------------------------------------------------------------------------- CLI
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_run_help_documents_the_task_runner_options():
    res = cli("run", "--help")
    assert res.returncode == 0
    assert "--task-runner" in res.stdout and "--dask-address" in res.stdout and "tcp://HOST:PORT" in res.stdout


@pytest.mark.parametrize("args", [["--dask-address", "not an address"],
                                  ["--task-runner", "local", "--dask-address", "tcp://127.0.0.1:8786"]])
def test_a_bad_task_runner_choice_fails_fast_with_one_line(tmp_path, args):
    res = cli("run", "--extracts", str(tmp_path), "--out", str(tmp_path / "out"), *args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == ConfigError.exit_code, res.stderr
    assert len(lines) == 1 and "dask-address" in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_the_local_cluster_stays_on_loopback_without_dashboard_or_spilling():
    from flows.api import is_loopback
    from flows.runners import dask_task_runner

    kw = dask_task_runner().cluster_kwargs
    assert kw["n_workers"] == 2 and kw["processes"] is True and kw["host"] == "127.0.0.1"
    assert kw["dashboard_address"].startswith("127.0.0.1:") and kw["scheduler_kwargs"] == {"dashboard": False}
    assert kw["config"]["distributed.worker.memory.spill"] is False
    assert dask_task_runner("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert is_loopback(None) and is_loopback("tcp://127.0.0.1:8786") and not is_loopback("tcp://10.0.0.5:8786")


# ------------------------------------------------------------------------------------- flow on Dask
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.e2e
def test_the_flow_on_a_two_worker_dask_cluster_gives_the_clusters_of_the_default_run(run_out, synth_data, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.pipeline import pipeline_on

    cfg_dir = tmp_path / "config"  # the default config, with partitions small enough to make several
    shutil.copytree(ROOT / "config", cfg_dir)
    top = cfg_dir / "pace.yaml"
    text = top.read_text(encoding="utf-8")
    assert "partition_pairs: 2000000" in text
    top.write_text(text.replace("partition_pairs: 2000000", "partition_pairs: 300", 1), encoding="utf-8")
    cfg = load_config(top)
    assert cfg.linkage.partition_pairs == 300 and cfg.dask.n_workers == 2

    flow = pipeline_on("dask", settings=cfg.dask)
    assert flow.task_runner.cluster_kwargs["n_workers"] == 2
    out = tmp_path / "out"
    state = flow(extracts=str(synth_data / "extracts"), out=str(out), config=str(top),
                 truth=str(synth_data / "truth.csv"), run_id="first", return_state=True)
    assert state.is_completed(), state.message

    default_out = run_out[0]
    for name in ("clusters.csv", "pairs.parquet", "model.json", "metrics.json"):
        assert sha(out / name) == sha(default_out / name), name

    n_pairs = len(pd.read_parquet(out / "pairs.parquet", columns=["match_weight"]))
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    names = sorted(tr.name for tr in task_runs if tr.name.startswith(("compare-partition", "score-partition")))
    n_parts = -(-n_pairs // 300)
    assert n_parts >= 3
    assert names == sorted([f"compare-partition-{i}" for i in range(n_parts)] +
                           [f"score-partition-{i}" for i in range(n_parts)])
    assert all(tr.state.is_completed() for tr in task_runs)
