"""Benchmark: pace-linkage block -> compare -> EM -> score -> cluster vs the recordlinkage toolkit (ECM),
on the project's own synthetic partner extracts run through the real ingest and normalise stages.

Usage::

    python benchmarks/bench_linkage.py                       # ~100,000 records, both pipelines
    python benchmarks/bench_linkage.py --records 1000000 --skip-toolkit
    python benchmarks/bench_linkage.py --records 10000 --seed 7 --toolkit-timeout 300

Steps, each in its own subprocess (so its wall time and peak RSS are its own):

1. generate: ``synthetic.generate`` writes the 10 partner extracts and ``truth.csv`` for enough people to
   reach ``--records`` (records per person measured on a small pilot). Cached under
   ``<tmp>/pace-linkage-bench/`` per (records, seed, hash of the generator code and config); reused.
2. prepare: ``ingest_source`` + ``normalise_source`` per source and ``assemble``, as the Prefect flow
   does (timed and reported separately: not part of the linkage time).
3. ours: ``pace_linkage.engine.linker.Linker`` with the linkage settings of the default ``config/pace.yaml``
   (block -> compare -> train -> score -> cluster; the timed part), then quality against truth.csv:
   pairwise precision / recall / F1 (records sharing a pace_id vs sharing a person_id,
   ``evaluate.pairwise_metrics``), B-cubed, blocking pairs completeness and where recall is lost.
4. toolkit: the plain recordlinkage pipeline on the same normalised records: ``Index().block`` on the
   same blocking keys, ``Compare`` (exact / Jaro-Winkler features), ``ECMClassifier``. It has no
   clustering: its links are scored as pairs, and their connected components as clusters (for B-cubed).
   Killed after ``--toolkit-timeout`` seconds (reported as such).

Printed: one markdown table per size (wall time, pairs, P/R/F1, B-cubed F1, peak RSS, toolkit/ours
ratios) and the recall breakdown. Only counts and rates are printed: never a record value.

Where recall is lost (cluster level, pairwise recall against all true pairs among accepted records):
``blocking`` = 1 - recall of the connected components of the true candidate pairs (a perfect scorer on
these candidates); ``scoring`` = that minus the recall of the connected components of the pairs at or
above the threshold; ``clustering`` = that minus the final recall (conflict splits; negative would
mean the splits gained recall). The three add up to 1 - final recall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PILOT_PEOPLE = 5000
# the recordlinkage features: same fields as ours, plain agreement / Jaro-Winkler >= 0.85
TOOLKIT_EXACT = ["nino", "dob", "postcode", "sex"]
TOOLKIT_STRING = ["first_name", "surname"]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _code_fingerprint() -> str:
    """crc32 over the generator code and the config it reads: a changed generator invalidates the cache."""
    files = sorted([*(ROOT / "synthetic").rglob("*.py"), *(ROOT / "config").glob("*.yaml"),
                    *(ROOT / "config" / "partners").glob("*.yaml")])
    crc = 0
    for f in files:
        crc = zlib.crc32(f.relative_to(ROOT).as_posix().encode() + f.read_bytes(), crc)
    return f"{crc:08x}"


def _truth_codes(records: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Person code per record (aligned with ``records``); records absent from truth get their own code."""
    key_t = truth["source"].astype(str) + "\x1f" + truth["record_id"].astype(str)
    key_r = records["source"].astype(str) + "\x1f" + records["record_id"].astype(str)
    person = pd.factorize(truth["person_id"])[0].astype(np.int64)
    pos = pd.Index(key_t).get_indexer(key_r)
    codes = np.where(pos >= 0, person[np.maximum(pos, 0)], -1)
    absent = codes < 0
    codes[absent] = person.max() + 1 + np.arange(int(absent.sum()))
    return codes


def rule_key_columns(rec: pd.DataFrame, rules) -> tuple[dict[str, pd.Series], list[list[str]]]:
    """Each blocking rule's key columns (a transform of a column -- a prefix, a name set, a year -- made into
    plain values), named ``_<rule>_<j>``, and the column names per rule: what another tool blocks on. A rule's
    key values too common for its ``max_group`` are nulled, so the other tool gets the same pairs."""
    from pace_linkage.engine.blocking import rule_key
    from pace_linkage.engine.keys import key_frame

    columns: dict[str, pd.Series] = {}
    names: list[list[str]] = []
    for rule in rules:
        keys = key_frame(rec, rule)
        if rule.max_group:
            keys = keys.where(np.broadcast_to((rule_key(rec, rule) >= 0)[:, None], keys.shape))
        cols = [f"_{rule.name}_{j}" for j in range(keys.shape[1])]
        for c, k in zip(cols, keys.columns, strict=True):
            columns[c] = keys[k].reset_index(drop=True)
        names.append(cols)
    return columns, names


def _pair_codes(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(left, right).astype(np.int64) * n + np.maximum(left, right).astype(np.int64)


def _quality(frame: pd.DataFrame, truth: pd.DataFrame, id_column: str) -> dict:
    from pace_linkage.evaluate.quality import bcubed, pairwise_metrics

    pw = pairwise_metrics(frame, truth, id_column)
    bc = bcubed(frame, truth, id_column)
    return {"pairwise": pw, "bcubed": bc}


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per record of the graph of pairs (left, right) over n records."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    g = sparse.coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n, n)).tocsr()
    return connected_components(g, directed=False)[1].astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Step runners (each in its own process)
# --------------------------------------------------------------------------------------------------
def stop_joblib_workers() -> None:
    """Stop the toolkit's joblib worker processes, so that their peak memory shows in RUSAGE_CHILDREN."""
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    except Exception:  # noqa: BLE001 - only affects the workers' memory figure
        pass


def run_generate(out_dir: str, records: int, seed: int) -> dict:
    """Generate extracts for about ``records`` records into ``out_dir`` (written to a temporary sibling
    first and renamed when complete, so an interrupted run never leaves a half cache)."""
    import synthetic

    out = Path(out_dir)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    pilot = synthetic.generate(min(PILOT_PEOPLE, max(records, 500)), seed, work / "pilot")  # small runs: small pilot
    per_person = pilot["total_records"] / pilot["people"]
    shutil.rmtree(work / "pilot")
    people = max(1, round(records / per_person))
    t0 = time.perf_counter()
    summary = synthetic.generate(people, seed, work)
    wall = time.perf_counter() - t0
    meta = {"people": people, "records": summary["total_records"], "seed": seed, "generate_s": wall,
            "peak_rss_mb": _peak_rss_mb()}
    (work / "bench_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    return meta


def run_prepare(data_dir: str, out_path: str) -> dict:
    """Ingest + normalise every source as the flow does; pickle the assembled records."""
    from pace_linkage.config import load_config
    from pace_linkage.ingest.sources import SourceFailure, assemble, ingest_source, normalise_source
    from pace_linkage.pipeline import DEFAULT_FEATURES

    cfg = load_config(None)
    t0 = time.perf_counter()
    raw = [ingest_source(s, cfg, Path(data_dir) / "extracts", features=DEFAULT_FEATURES) for s in cfg.sources.items]
    t_ingest = time.perf_counter() - t0
    failed = [r.source for r in raw if isinstance(r, SourceFailure)]
    srcs = {s.name: s for s in cfg.sources.items}
    t0 = time.perf_counter()
    batches = [normalise_source(b, srcs[b.source], cfg, features=DEFAULT_FEATURES) for b in raw
               if not isinstance(b, SourceFailure)]
    t_norm = time.perf_counter() - t0
    records = assemble(batches)
    records.to_pickle(out_path)
    return {"ingest_s": t_ingest, "normalise_s": t_norm, "rows_in": sum(b.rows_in for b in batches),
            "records": len(records), "quarantined": sum(b.rows_quarantined for b in batches),
            "sources_failed": failed, "peak_rss_mb": _peak_rss_mb()}


def _load_config(overrides: str | None):
    """The default config/pace.yaml (its linkage section, seed and sources), with the diagnostic
    overrides of ``--max-pairs-per-rule`` / ``--drop-rule`` applied (printed as such by the driver)."""
    from pace_linkage.config import load_config

    cfg = load_config(None)
    o = json.loads(overrides) if overrides else {}
    update = {}
    if o.get("max_pairs_per_rule"):
        update["max_pairs_per_rule"] = int(o["max_pairs_per_rule"])
    if o.get("drop_rules"):
        update["blocking"] = [r for r in cfg.linkage.blocking if r.name not in set(o["drop_rules"])]
    if update:
        cfg = cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update=update)})
    return cfg


def run_ours(records_path: str, data_dir: str, overrides: str | None = None) -> dict:
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate.metrics import load_truth

    cfg = _load_config(overrides)
    rec = pd.read_pickle(records_path)
    truth = load_truth(Path(data_dir) / "truth.csv")
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    res = Linker.from_config(cfg).run(rec)
    wall = time.perf_counter() - t0
    peak = _peak_rss_mb()  # before the diagnostics below, which allocate their own
    q = _quality(res.clusters.clusters, truth, cfg.id_column)
    diag = _recall_breakdown(res.records, truth, res, cfg)
    return {"wall_s": wall, "timings": res.timings, "pairs": int(len(res.blocking.pairs)),
            "peak_rss_mb": peak, "rss_before_link_mb": rss0, **q, **diag,
            "cluster_stats": res.clusters.stats.get(cfg.id_column),
            "conflicts_by_kind": (res.clusters.conflicts.loc[res.clusters.conflicts["clustering"] == cfg.id_column]
                                  .groupby("kind").size().to_dict()),
            "expected_matches": res.model.info.get("expected_matches")}


def _recall_breakdown(rec: pd.DataFrame, truth: pd.DataFrame, res, cfg) -> dict:
    """Blocking pairs completeness (overall, per rule, why missed pairs were missed) and the split of
    the recall loss into blocking / scoring / clustering (see the module docstring)."""
    from pace_linkage.engine.blocking import blocking_stats_with_truth, rule_key, rule_pairs
    from pace_linkage.engine.settings import BlockingRule
    from pace_linkage.evaluate.quality import threshold_sweep

    n = len(rec)
    thr = cfg.linkage.threshold
    person = _truth_codes(rec, truth)
    rules = cfg.linkage.blocking
    bstats = blocking_stats_with_truth(res.blocking.pairs, n, person, [r.name for r in rules])
    # every true pair among the accepted records, and whether blocking proposed it
    tl, tr = rule_pairs(pd.DataFrame({"person": person}), BlockingRule(name="truth", on=["person"]))
    true_codes = _pair_codes(tl, tr, n)
    cand = _pair_codes(res.blocking.pairs["l"].to_numpy(), res.blocking.pairs["r"].to_numpy(), n)
    cand_sorted = np.sort(cand)
    at = np.minimum(np.searchsorted(cand_sorted, true_codes), max(len(cand_sorted) - 1, 0))
    found = (cand_sorted[at] == true_codes) if len(cand_sorted) else np.zeros(len(true_codes), bool)
    ml, mr = tl[~found], tr[~found]
    missed_by_rule = {}
    for rule in rules:
        key = rule_key(rec, rule)
        null = (key[ml] < 0) | (key[mr] < 0)
        missed_by_rule[rule.name] = {"key_null": float(null.mean()) if len(ml) else 0.0,
                                     "key_differs": float((~null & (key[ml] != key[mr])).mean()) if len(ml) else 0.0}
    fields = sorted({c for r in rules for c in r.columns()})
    missed_fields = {}
    for col in fields:
        codes = pd.factorize(rec[col])[0]
        null = (codes[ml] < 0) | (codes[mr] < 0)
        missed_fields[col] = {"null": float(null.mean()) if len(ml) else 0.0,
                              "differs": float((~null & (codes[ml] != codes[mr])).mean()) if len(ml) else 0.0}
    # pair level on the candidates
    s = res.scores
    is_true = person[s["l"].to_numpy()] == person[s["r"].to_numpy()]
    linked = s["match_probability"].to_numpy() >= thr
    # cluster level: components of the true candidates (perfect scorer), of the links (no split), final
    oracle = s[["l", "r"]].assign(match_probability=is_true.astype(float))
    r_oracle = float(threshold_sweep(oracle, rec, truth, [0.5])["recall"].iloc[0])
    cc = threshold_sweep(s, rec, truth, [thr]).iloc[0]
    final = float(_quality(res.clusters.clusters, truth, cfg.id_column)["pairwise"]["recall"])
    return {
        "true_pairs": int(len(true_codes)),
        "pairs_completeness": float(found.mean()) if len(found) else 1.0,
        "blocking_by_rule": bstats[["rule", "pairs", "true_pairs_found", "pairs_completeness",
                                    "cumulative_completeness"]].to_dict(orient="records"),
        "missed_true_pairs": int((~found).sum()),
        "missed_by_rule": missed_by_rule,
        "missed_fields": missed_fields,
        "pair_level": {"true_candidates": int(is_true.sum()), "links": int(linked.sum()),
                       "true_links": int((is_true & linked).sum()),
                       "true_candidates_below_threshold": int((is_true & ~linked).sum()),
                       "false_links": int((~is_true & linked).sum())},
        "recall_oracle_on_candidates": r_oracle,
        "recall_components": float(cc["recall"]), "precision_components": float(cc["precision"]),
        "recall_final": final,
        "recall_lost": {"blocking": 1 - r_oracle, "scoring": r_oracle - float(cc["recall"]),
                        "clustering": float(cc["recall"]) - final},
    }


def run_toolkit(records_path: str, data_dir: str, overrides: str | None = None) -> dict:
    """The plain recordlinkage pipeline: Index().block on the same keys, Compare, ECMClassifier."""
    import recordlinkage

    from pace_linkage.counting import pairs_within_groups
    from pace_linkage.evaluate.metrics import load_truth

    cfg = _load_config(overrides)
    rec = pd.read_pickle(records_path)
    truth = load_truth(Path(data_dir) / "truth.csv")
    person = _truth_codes(rec, truth)
    cols = sorted(set(TOOLKIT_EXACT) | set(TOOLKIT_STRING))
    # plain object columns with None for missing: what a toolkit user would pass
    df = pd.DataFrame({c: rec[c].astype(object).where(rec[c].notna(), None) for c in cols})
    keys, blocking = rule_key_columns(rec, cfg.linkage.blocking)
    df = df.assign(**{c: v.astype(object).where(v.notna(), None).to_numpy() for c, v in keys.items()})
    t0 = time.perf_counter()
    indexer = recordlinkage.Index()
    for on in blocking:
        indexer.block(on)
    pairs = indexer.index(df)
    t_index = time.perf_counter() - t0
    cmp = recordlinkage.Compare(n_jobs=2)
    for c in TOOLKIT_EXACT:
        cmp.exact(c, c, label=c)
    for c in TOOLKIT_STRING:
        cmp.string(c, c, method="jarowinkler", threshold=0.85, label=c)
    features = cmp.compute(pairs, df)
    t_compare = time.perf_counter() - t0 - t_index
    ecm = recordlinkage.ECMClassifier(binarize=None)
    links = ecm.fit_predict(features)
    wall = time.perf_counter() - t0
    peak = _peak_rss_mb()
    stop_joblib_workers()
    li = links.get_level_values(0).to_numpy()
    ri = links.get_level_values(1).to_numpy()
    tp = int((person[li] == person[ri]).sum())
    n_true = pairs_within_groups(np.bincount(person))
    p = tp / max(len(links), 1)
    r = tp / max(n_true, 1)
    labels = components(len(rec), li, ri)
    frame = pd.DataFrame({"source": rec["source"].to_numpy(), "record_id": rec["record_id"].to_numpy(),
                          "cluster": labels})
    pl = person[pairs.get_level_values(0).to_numpy()] == person[pairs.get_level_values(1).to_numpy()]
    return {"wall_s": wall, "timings": {"index": t_index, "compare": t_compare, "ecm": wall - t_index - t_compare},
            "pairs": int(len(pairs)), "pairs_completeness": float(pl.sum()) / max(n_true, 1),
            "links": int(len(links)), "link_precision": p, "link_recall": r,
            "link_f1": 2 * p * r / (p + r) if p + r else 0.0, **_quality(frame, truth, "cluster"),
            "peak_rss_mb": peak, "workers_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN)}


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
def run_step(args: list[str], timeout: float | None = None) -> dict:
    """Run this script with ``args`` in a subprocess (its own wall time and memory) and return the result it
    prints; ``{"error": ...}`` if it fails or runs past ``timeout`` seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env,
                             check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s (killed)"}
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        return {"error": last}
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_data(records: int, seed: int, cache_root: Path) -> tuple[Path, dict, bool]:
    """The cached extracts for (records, seed, code fingerprint), generated when absent."""
    d = cache_root / f"records{records}-seed{seed}-{_code_fingerprint()}"
    meta_file = d / "bench_meta.json"
    if meta_file.exists():
        return d, json.loads(meta_file.read_text(encoding="utf-8")), True
    cache_root.mkdir(parents=True, exist_ok=True)
    meta = run_step(["--run", "generate", "--data", str(d), "--records", str(records), "--seed", str(seed)])
    if "error" in meta:
        raise SystemExit(f"generation failed: {meta['error']}")
    return d, meta, False


def _fmt(v, kind: str) -> str:
    if v is None:
        return "n/a"
    return {"s": f"{v:,.1f} s", "n": f"{int(v):,}", "r": f"{v:.4f}", "mb": f"{v:,.0f} MB"}[kind]


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def print_table(size: int, ours: dict, tk: dict | None) -> None:
    o_pw, o_bc = ours["pairwise"], ours["bcubed"]
    t_ok = tk is not None and "error" not in tk
    t_pw = tk["pairwise"] if t_ok else {}
    t_bc = tk["bcubed"] if t_ok else {}

    def g(d, k):
        return d.get(k) if t_ok else None

    rows = [
        ("wall time block->cluster", ours["wall_s"], g(tk or {}, "wall_s"), "s"),
        ("candidate pairs", ours["pairs"], g(tk or {}, "pairs"), "n"),
        ("pairs completeness", ours["pairs_completeness"], g(tk or {}, "pairs_completeness"), "r"),
        ("pairwise precision", o_pw["precision"], t_pw.get("precision"), "r"),
        ("pairwise recall", o_pw["recall"], t_pw.get("recall"), "r"),
        ("pairwise F1", o_pw["f1"], t_pw.get("f1"), "r"),
        ("B-cubed F1", o_bc["f1"], t_bc.get("f1"), "r"),
        ("peak RSS (process)", ours["peak_rss_mb"], g(tk or {}, "peak_rss_mb"), "mb"),
    ]
    print(f"\n### {size:,} records (linkage on {o_pw['records']:,} accepted records)\n")
    print("| measure | pace-linkage | recordlinkage ECM | toolkit / ours |")
    print("|---|---:|---:|---:|")
    for name, a, b, kind in rows:
        print(f"| {name} | {_fmt(a, kind)} | {_fmt(b, kind)} | {_ratio(b, a)} |")
    if t_ok:
        print(f"| toolkit links as pairs: P / R / F1 | | {tk['link_precision']:.4f} / {tk['link_recall']:.4f}"
              f" / {tk['link_f1']:.4f} | |")
        print(f"| toolkit joblib workers peak RSS | | {_fmt(tk['workers_peak_rss_mb'], 'mb')} | |")
    elif tk is not None:
        print(f"\ntoolkit: {tk['error']}")
    else:
        print("\ntoolkit: skipped (--skip-toolkit)")
    print("\nToolkit P/R/F1 and B-cubed are those of the connected components of its links (it has no clustering).")


def print_breakdown(ours: dict) -> None:
    t = ours["timings"]
    print("\nour stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
    print(f"peak RSS before link (records loaded): {ours['rss_before_link_mb']:,.0f} MB")
    print(f"\nblocking: pairs completeness {ours['pairs_completeness']:.4f} "
          f"({ours['true_pairs'] - ours['missed_true_pairs']:,} of {ours['true_pairs']:,} true pairs)")
    print("\n| rule | pairs added | true pairs added | cumulative completeness |")
    print("|---|---:|---:|---:|")
    for r in ours["blocking_by_rule"][:-1]:
        print(f"| {r['rule']} | {r['pairs']:,} | {r['true_pairs_found']:,} | {r['cumulative_completeness']:.4f} |")
    print(f"\ntrue pairs missed by blocking: {ours['missed_true_pairs']:,}; per rule, share of them where "
          "the rule's key is null on a side / differs:")
    for name, v in ours["missed_by_rule"].items():
        print(f"  {name:<26} null {v['key_null']:.3f}  differs {v['key_differs']:.3f}")
    print("  per field (null on a side / differs): " + ", ".join(
        f"{k} {v['null']:.2f}/{v['differs']:.2f}" for k, v in ours["missed_fields"].items()))
    pl = ours["pair_level"]
    print(f"\npair level: {pl['true_candidates']:,} true candidates, {pl['links']:,} links "
          f"({pl['true_links']:,} true, {pl['false_links']:,} false), "
          f"{pl['true_candidates_below_threshold']:,} true candidates below the threshold")
    lost = ours["recall_lost"]
    print(f"cluster-level recall: perfect scorer on candidates {ours['recall_oracle_on_candidates']:.4f}, "
          f"components of links {ours['recall_components']:.4f} (precision {ours['precision_components']:.4f}), "
          f"final after conflict splits {ours['recall_final']:.4f}")
    print(f"recall lost to: blocking {lost['blocking']:.4f}, scoring {lost['scoring']:.4f}, "
          f"clustering (conflict splits) {lost['clustering']:.4f}")
    cs = ours.get("cluster_stats") or {}
    print(f"clusters {cs.get('clusters', 0):,}, conflicts {cs.get('conflicts', 0):,} "
          f"{ours.get('conflicts_by_kind') or ''}, edges cut {cs.get('edges_cut', 0):,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000, help="target number of partner records")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-toolkit", action="store_true")
    ap.add_argument("--toolkit-timeout", type=float, default=1800.0, help="seconds before the toolkit is killed")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "pace-linkage-bench")
    ap.add_argument("--max-pairs-per-rule", type=int, help="diagnostic override of linkage.max_pairs_per_rule")
    ap.add_argument("--drop-rule", action="append", default=[], help="diagnostic: leave out this blocking rule")
    ap.add_argument("--json", type=Path, help="also write every measured figure to this JSON file")
    ap.add_argument("--run", choices=["generate", "prepare", "ours", "toolkit"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--records-file", help=argparse.SUPPRESS)
    ap.add_argument("--overrides", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run:
        fn = {"generate": lambda: run_generate(a.data, a.records, a.seed),
              "prepare": lambda: run_prepare(a.data, a.records_file),
              "ours": lambda: run_ours(a.records_file, a.data, a.overrides),
              "toolkit": lambda: run_toolkit(a.records_file, a.data, a.overrides)}[a.run]
        print(json.dumps(fn(), default=float))
        return

    overrides = json.dumps({"max_pairs_per_rule": a.max_pairs_per_rule, "drop_rules": a.drop_rule})
    if a.max_pairs_per_rule or a.drop_rule:
        print(f"NOTE: diagnostic overrides of the default linkage settings: {overrides}")
    data_dir, meta, cached = ensure_data(a.records, a.seed, a.cache_dir)
    how = "cached" if cached else f"generated in {meta['generate_s']:.1f} s, peak RSS {meta['peak_rss_mb']:,.0f} MB"
    print(f"data: {meta['records']:,} partner records of {meta['people']:,} people (seed {a.seed}; {how})",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rec_path = str(Path(tmp) / "records.pkl")
        prep = run_step(["--run", "prepare", "--data", str(data_dir), "--records-file", rec_path])
        if "error" in prep:
            raise SystemExit(f"prepare failed: {prep['error']}")
        print(f"prepare (not linkage): ingest {prep['ingest_s']:.1f} s + normalise {prep['normalise_s']:.1f} s, "
              f"{prep['records']:,} records accepted, {prep['quarantined']:,} quarantined, "
              f"peak RSS {prep['peak_rss_mb']:,.0f} MB", flush=True)
        ours = run_step(["--run", "ours", "--records-file", rec_path, "--data", str(data_dir), "--overrides", overrides])
        if "error" in ours:
            raise SystemExit(f"pace-linkage failed: {ours['error']}")
        tk = None
        if not a.skip_toolkit:
            tk = run_step(["--run", "toolkit", "--records-file", rec_path, "--data", str(data_dir), "--overrides", overrides],
                      timeout=a.toolkit_timeout)
    print_table(a.records, ours, tk)
    print_breakdown(ours)
    if a.json:
        a.json.write_text(json.dumps({"records": a.records, "seed": a.seed, "data": meta, "prepare": prep,
                                      "ours": ours, "toolkit": tk}, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
