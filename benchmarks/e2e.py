"""End-to-end benchmark: the whole ``pace-linkage run`` process against Splink's whole process, same raw extracts.

Usage::

    python -m benchmarks e2e                                  # 1k, 100k and 1m synthetic records
    python -m benchmarks e2e --sizes 1k,100k --repeat 3       # medians of three runs of each process
    python -m benchmarks e2e --quick                          # 1k only (a smoke run)
    python -m benchmarks e2e --data DIR --config FILE         # another extract set (DIR/extracts, DIR/truth.csv)

What is timed is each tool's whole process as a user runs it, from start to exit, on the partners' raw files:

* ``pace-linkage``: ``python -m flows run --extracts DIR/extracts --out OUT --truth DIR/truth.csv [--config FILE]``
  (read, validate, normalise, block, compare, train, score, cluster, evaluate with truth, report, publish), the
  stage seconds taken from the run's ``manifest.json``;
* ``Splink 5``: ``python benchmarks/e2e_splink.py SPEC.json`` (see that file): pandas reads and cleans the same
  extracts with the config's source mapping, Splink (DuckDB) trains, predicts and clusters at the config's
  threshold and writes the clusters to a CSV. Its blocking rules are the config's, written as Splink ``block_on``
  SQL over its own clean columns (:func:`splink_blocking`): a transform becomes SQL (a year is
  ``substr(dob, 1, 4)``, a set of two names ``least``/``greatest``), a Soundex column is Splink's own (jellyfish),
  pace-linkage's nickname-folded ``*_canon`` columns are the plain clean names (Splink has no such tables), and
  a rule's ``max_group`` is a key column nulled where more records share it (a DuckDB window count).

Wall clock and peak memory are measured as ``/usr/bin/time -v`` measures them (``wait4``: the process's maximum
resident set, its waited-for children included) and over the process tree (sampled every 0.1 s, which counts a
helper process such as a temporary Prefect server beside the command); the higher is reported. Pairwise and
B-cubed F1 of both come from their cluster files against truth, with the same functions
(``pace_linkage.evaluate.quality``), outside the timed processes. Ratios are ours / Splink from the same run.
Synthetic data is the project's generator (``bench_linkage.ensure_data``, cached per size, seed and generator
code). Only counts, timings and rates are printed or written: never a record value. Writes
``e2e.json`` and ``e2e.md`` to ``--out`` (default ``benchmarks/results``).

Splink at 1M records needs about 20 GB and a quarter of an hour on a 2-core machine: ``--max-rss-gb`` (default 20)
stops a process above it, recorded as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_linkage  # noqa: E402  (benchmarks/ is not a package on sys.path when run as a script)
import bench_reference  # noqa: E402

DEFAULT_SIZES = ["1k", "100k", "1m"]
QUICK_SIZES = ["1k"]
TOOLS = ["ours", "splink"]
LABEL = {"ours": "pace-linkage run", "splink": "Splink 5 (DuckDB)"}
U_PAIRS = bench_reference.U_PAIRS
SAMPLE_EVERY = 0.1


# --------------------------------------------------------------------------------------------------
# The config as Splink's script takes it: source mappings and blocking rules written out as data
# --------------------------------------------------------------------------------------------------
def _name_and_suffix(column: str) -> tuple[str, str]:
    for suffix in ("_canon", "_sound", "_initial"):
        if column.endswith(suffix):
            return column[: -len(suffix)], suffix
    return column, ""


def column_sql(column: str, sound: set[str]) -> str:
    """A column of pace-linkage's records as an expression over Splink's clean columns (``sound`` collects the
    names that need a Soundex column)."""
    base, suffix = _name_and_suffix(column)
    if suffix == "_canon":
        return base
    if suffix == "_sound":
        sound.add(base)
        return f"{base}_sound"
    if suffix == "_initial":
        return f"substr({base}, 1, 1)"
    return column


DATE_SQL = {
    "year": "substr({c}, 1, 4)",
    "month": "substr({c}, 6, 2)",
    "day": "substr({c}, 9, 2)",
    "month_day": "substr({c}, 6, 5)",
    "day_month_set": "(least(substr({c}, 6, 2), substr({c}, 9, 2)) || greatest(substr({c}, 6, 2), substr({c}, 9, 2)))",
}


def part_sql(part, sound: set[str]) -> list[str]:
    """One key part of a rule (a column or a ``BlockingKey``) as Splink ``block_on`` expressions."""
    from pace_linkage.engine.settings import BlockingKey

    key = BlockingKey(column=part) if isinstance(part, str) else part
    if key.transform == "set":
        cols = [column_sql(c, sound) for c in key.source_columns()]
        if len(cols) != 2:
            raise ValueError("a set of more than two columns has no Splink form here")
        any_null = " OR ".join(f"{c} IS NULL" for c in cols)
        return [f"CASE WHEN {any_null} THEN NULL ELSE {fn}({cols[0]}, {cols[1]}) END" for fn in ("least", "greatest")]
    col = column_sql(str(key.column), sound)
    if key.transform == "exact":
        return [col]
    if key.transform == "prefix":
        return [f"substr({col}, 1, {int(key.length or 1)})"]
    if key.transform == "soundex":
        base = _name_and_suffix(str(key.column))[0]
        sound.add(base)
        return [f"{base}_sound"]
    return [DATE_SQL[key.transform].format(c=col)]


def splink_blocking(rules) -> tuple[list[dict], list[str], list[str]]:
    """The config's blocking rules as Splink ``block_on`` expressions (``{"name", "on", "max_group"}`` each), the
    names needing a Soundex column, and notes on what has no Splink form (a sorted-neighbourhood window: the rule
    is left out). A ``max_group`` rule is kept: Splink's script blocks it on a key column that is null where
    more than ``max_group`` records share the key (:func:`e2e_splink.capped_keys`)."""
    sound: set[str] = set()
    out, notes = [], []
    for rule in rules:
        if rule.window:
            notes.append(f"rule {rule.name}: a sorted-neighbourhood window has no Splink form; left out")
            continue
        out.append({"name": rule.name, "on": [sql for part in rule.on for sql in part_sql(part, sound)],
                    "max_group": rule.max_group})
    return out, sorted(sound), notes


def splink_spec(cfg, extracts: Path, out_csv: Path, seed: int, u_pairs: float) -> dict:
    """What Splink's script reads: each source's file, format and mapping, the blocking SQL, the threshold."""
    fields = ["nino", "first_name", "surname", "dob", "postcode", "sex", "email", "phone"]
    default_format = cfg.fields["dob"].date_format if "dob" in cfg.fields else None
    sources = []
    for s in cfg.sources.items:
        columns = {f: (m.model_dump() if hasattr(m, "model_dump") else m) for f, m in s.columns.items() if f in fields}
        sources.append({"name": s.name, "file": s.file, "format": s.format, "encoding": s.encoding,
                        "delimiter": s.delimiter, "sheet": s.sheet, "record_id": s.record_id, "columns": columns,
                        "dob_format": s.formats.get("dob", default_format)})
    blocking, sound, notes = splink_blocking(cfg.linkage.blocking)
    placeholders = list(cfg.fields["dob"].placeholders) if "dob" in cfg.fields else []
    return {"extracts": str(extracts), "out": str(out_csv), "sources": sources, "blocking": blocking,
            "sound_columns": sound, "notes": notes, "placeholders": placeholders,
            "reference_date": str(cfg.reference_date) if cfg.reference_date else None,
            "link_type": cfg.linkage.link_type, "threshold": cfg.linkage.threshold, "seed": seed, "u_pairs": u_pairs}


# --------------------------------------------------------------------------------------------------
# Running the two processes
# --------------------------------------------------------------------------------------------------
def _env() -> dict:
    """Both tools' environment: this one, with Python's compiled-module cache on as a user's install has it (an
    environment that turns it off would make every run of either tool compile the modules it changed anew)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def quality(clusters_csv: Path, truth_csv: Path, id_column: str) -> dict:
    """Pairwise precision, recall, F1 and B-cubed F1 of a cluster file against truth (not timed)."""
    import pandas as pd

    from pace_linkage.evaluate.metrics import load_truth
    from pace_linkage.evaluate.quality import bcubed, pairwise_metrics

    clusters = pd.read_csv(clusters_csv, dtype=str, usecols=["source", "record_id", id_column],
                           keep_default_na=False, na_values=[""])
    truth = load_truth(truth_csv)
    pw, bc = pairwise_metrics(clusters, truth, id_column), bcubed(clusters, truth, id_column)
    return {"precision": pw["precision"], "recall": pw["recall"], "f1": pw["f1"], "bcubed_f1": bc["f1"],
            "records_clustered": pw["records"]}


def _measured(w: dict) -> dict:
    keep = ("wall_s", "peak_gb", "peak_gb_rusage", "peak_gb_sampled")
    return {k: round(float(w[k]), 3) for k in keep}


def run_ours(data: Path, config: Path | None, work: Path, timeout: float, max_rss_gb: float) -> dict:
    """One whole ``pace-linkage run`` process on ``data``; its figures, stage seconds and quality."""
    out = work / "ours-out"
    cmd = [sys.executable, "-m", "flows", "run", "--extracts", str(data / "extracts"), "--out", str(out),
           "--truth", str(data / "truth.csv"), *(["--config", str(config)] if config else [])]
    w = bench_reference.watch(cmd, timeout, max_rss_gb, cwd=ROOT, env=_env(), interval=SAMPLE_EVERY)
    if "error" in w or w["returncode"] != 0:
        return {"error": w.get("error") or f"failed (exit {w['returncode']}): {bench_reference.last_line(w['stderr'])}"}
    return {**_measured(w), **run_figures(out, data / "truth.csv")}


def run_figures(out: Path, truth_csv: Path) -> dict:
    """A finished run's stage seconds (its manifest) and the quality of its clusters against truth."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stages = manifest.get("timings_seconds", {})
    return {"stages": stages, "stages_s": round(sum(stages.values()), 3),
            **quality(out / "clusters.csv", truth_csv, "pace_id")}


def run_splink(data: Path, cfg, work: Path, seed: int, u_pairs: float, timeout: float, max_rss_gb: float) -> dict:
    """Splink's whole process (``e2e_splink.py``) on the same extracts; its figures, stage seconds and quality."""
    out_csv = work / "splink-clusters.csv"
    spec = splink_spec(cfg, data / "extracts", out_csv, seed, u_pairs)
    spec_file = work / "splink-spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    cmd = [sys.executable, str(HERE / "e2e_splink.py"), str(spec_file)]
    w = bench_reference.watch(cmd, timeout, max_rss_gb, cwd=ROOT, env=_env(), interval=SAMPLE_EVERY)
    lines = [ln for ln in w["stdout"].splitlines() if ln.startswith(bench_reference.RESULT_MARK)]
    if "error" in w or w["returncode"] != 0 or not lines:
        return {"error": w.get("error") or f"failed (exit {w['returncode']}): {bench_reference.last_line(w['stderr'])}"}
    res = json.loads(lines[-1][len(bench_reference.RESULT_MARK):])
    return {**_measured(w), "stages": res["stages"], "stages_s": round(sum(res["stages"].values()), 3),
            "links": res["links"], "notes": spec["notes"],
            **quality(out_csv, data / "truth.csv", "cluster_id")}


def median_of(runs: list[dict]) -> dict:
    """The median run's figures (by wall time) with every run's wall and peak beside them."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    ok.sort(key=lambda r: r["wall_s"])
    mid = dict(ok[(len(ok) - 1) // 2])
    mid["wall_s"] = round(statistics.median(r["wall_s"] for r in ok), 3)
    mid["peak_gb"] = round(statistics.median(r["peak_gb"] for r in ok), 3)
    mid["runs"] = [{"wall_s": r["wall_s"], "peak_gb": r["peak_gb"]} for r in runs if "error" not in r]
    return mid


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
def datasets(a) -> list[dict]:
    """The data sets to run: ``--data DIR`` (with ``--config``), or synthetic data of each size."""
    if a.data:
        return [{"dataset": a.data.name, "kind": "given", "data": a.data, "config": a.config}]
    names = QUICK_SIZES if a.quick and not a.sizes else (a.sizes.split(",") if a.sizes else DEFAULT_SIZES)
    out = []
    for name in names:
        size = bench_reference.parse_size(name)
        if size is None:
            raise SystemExit(f"unknown size {name!r}: use a number of records such as 1k, 100k or 1m")
        data, meta, _ = bench_linkage.ensure_data(size, a.seed, a.cache_dir)
        out.append({"dataset": name, "kind": "synthetic", "data": data, "config": a.config,
                    "people": meta["people"], "records": meta["records"]})
    return out


def run_dataset(ds: dict, a, tools: list[str]) -> dict:
    from pace_linkage.config import load_config

    cfg = load_config(ds["config"])
    entry = {"dataset": ds["dataset"], "kind": ds["kind"], "people": ds.get("people"),
             "measured": time.strftime("%Y-%m-%d %H:%M"), "load_before": round(os.getloadavg()[0], 1), "tools": {}}
    no_splink = bench_reference.splink_available() if "splink" in tools else None
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for _ in range(a.repeat):  # alternate the tools, so that both see the same load
        for tool in tools:
            if tool == "splink" and no_splink:
                runs[tool] = [{"skipped": no_splink}]
                continue
            with tempfile.TemporaryDirectory(prefix=f"pace-e2e-{tool}-") as tmp:
                r = (run_ours(ds["data"], ds["config"], Path(tmp), a.timeout, a.max_rss_gb) if tool == "ours" else
                     run_splink(ds["data"], cfg, Path(tmp), a.seed, a.splink_u_pairs, a.timeout, a.max_rss_gb))
            runs[tool].append(r)
    for tool in tools:
        entry["tools"][tool] = median_of(runs[tool])
    entry["load_after"] = round(os.getloadavg()[0], 1)
    # the extracts' rows (Splink clusters every row read; pace-linkage quarantines rows without identifiers)
    entry["records"] = ds.get("records") or entry["tools"].get("splink", {}).get("records_clustered") or \
        entry["tools"].get("ours", {}).get("records_clustered")
    return entry


def ratios(entry: dict) -> dict | None:
    """ours / Splink of wall time and peak memory, both from this run; None when either did not run."""
    o, s = entry["tools"].get("ours", {}), entry["tools"].get("splink", {})
    if "wall_s" not in o or "wall_s" not in s:
        return None
    return {"wall": round(o["wall_s"] / s["wall_s"], 3), "peak": round(o["peak_gb"] / s["peak_gb"], 3)}


def markdown(results: dict) -> str:
    lines = ["| dataset | records | tool | wall s | in stages s | peak GB | ours / Splink: wall, peak | precision | "
             "recall | F1 | B-cubed F1 | load |", "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for e in results["datasets"]:
        r = ratios(e)
        for tool, t in e["tools"].items():
            head = f"| {e['dataset']} | {e['records'] or 0:,} | {LABEL[tool]} |"
            if "wall_s" not in t:
                lines.append(f"{head} not run: {t.get('error') or t.get('skipped')} | | | | | | | | |")
                continue
            ratio = f"{r['wall']:.2f}, {r['peak']:.2f}" if r and tool == "ours" else ""
            lines.append(f"{head} {t['wall_s']:.1f} | {t['stages_s']:.1f} | {t['peak_gb']:.2f} | {ratio} | "
                         f"{t['precision']:.4f} | "
                         f"{t['recall']:.4f} | {t['f1']:.4f} | {t['bcubed_f1']:.4f} | "
                         f"{e['load_before']}-{e['load_after']} |")
    notes = sorted({n for e in results["datasets"] for n in e["tools"].get("splink", {}).get("notes", [])})
    return "\n".join([f"End-to-end, {results['date']}: `{results['command']}` ({results['machine']['cpus']} cores; "
                      f"medians of {results['repeat']} run(s); in stages = the sum of the process's own stage "
                      "timings, the rest is start-up and shutdown; load = the 1-minute load average before-after)", "",
                      *lines, *(["", *[f"- {n}" for n in notes]] if notes else []), ""])


def print_entry(entry: dict) -> None:
    for tool, t in entry["tools"].items():
        shown = (t.get("error") or t.get("skipped") or
                 f"{t['wall_s']:.1f} s, {t['peak_gb']:.2f} GB, P {t['precision']:.4f} R {t['recall']:.4f} "
                 f"F1 {t['f1']:.4f} B3 {t['bcubed_f1']:.4f}  stages {t['stages']}")
        print(f"   {LABEL[tool]:<18} {shown}", flush=True)
    r = ratios(entry)
    if r:
        print(f"   ours / Splink      wall {r['wall']:.2f}, peak memory {r['peak']:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks e2e", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help=f"comma-separated numbers of synthetic records (default {','.join(DEFAULT_SIZES)})")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {','.join(QUICK_SIZES)}")
    ap.add_argument("--data", type=Path, help="a folder with extracts/ and truth.csv (instead of synthetic data)")
    ap.add_argument("--config", type=Path, help="the config for --data (default config/pace.yaml)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: ours,splink")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each process; medians are reported")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds before a process is stopped")
    ap.add_argument("--max-rss-gb", type=float, default=20.0, help="memory above which a process is stopped")
    ap.add_argument("--splink-u-pairs", type=float, default=U_PAIRS, help="Splink's u sample (max_pairs)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for e2e.json and e2e.md")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "pace-linkage-bench")
    a = ap.parse_args(argv)
    tools = [t for t in a.tools.split(",") if t]
    if bad := [t for t in tools if t not in TOOLS]:
        ap.error(f"unknown tool(s): {', '.join(bad)}")
    if a.config and not a.data and a.sizes is None and not a.quick:
        ap.error("--config goes with --data (or with --sizes for synthetic data)")
    if a.repeat < 1:
        ap.error("--repeat takes 1 or more")
    command = " ".join(["python -m benchmarks e2e", *bench_reference.command_args(
        argv if argv is not None else sys.argv[1:])])
    results = {"date": time.strftime("%Y-%m-%d"), "command": command, "repeat": a.repeat,
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "versions": bench_reference.versions(), "datasets": []}
    a.out.mkdir(parents=True, exist_ok=True)
    for ds in datasets(a):
        print(f"== {ds['dataset']}: {ds['data']}", flush=True)
        entry = run_dataset(ds, a, tools)
        print_entry(entry)
        results["datasets"].append(entry)
        (a.out / "e2e.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
        (a.out / "e2e.md").write_text(markdown(results), encoding="utf-8")
    print("\n" + markdown(results))
    print(f"written: {a.out / 'e2e.md'}, {a.out / 'e2e.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
