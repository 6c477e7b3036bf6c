"""Benchmark: ingest + normalise of ~1,000,000 partner records, against plain pandas readers.

Usage::

    python benchmarks/bench_ingest.py [--records 1000000] [--seed 42] [--profile default] [--cache DIR]

The data: ``synthetic.generate`` partner extracts (csv, tsv, pipe, semicolon/cp1252, xlsx, jsonl) for
enough people to give ``--records`` records in total (a small untimed pilot measures records per
person). The extracts are cached in ``<tmp>/pace-bench-ingest-<people>-<seed>-<profile>/`` and reused
by later runs (``--cache`` chooses another directory); generating them is not timed.

Timed, each in its own subprocess (so wall time and peak RSS are its own), single process:

* **ours**: exactly the pipeline's library path -- ``ingest_source`` for every source, then
  ``normalise_source`` for every ingested source, then ``assemble`` -- i.e. strict decoding, ragged-row
  and NUL checks, column mapping, duplicate-id quarantine, normalisation of every field and the final
  sort.
* **baseline**: ``pandas.read_csv(dtype=str, keep_default_na=False)`` of the same delimited files (with
  their declared delimiter and encoding), ``pandas.read_excel(dtype=str)`` of the xlsx files and
  ``pandas.read_json(lines=True, dtype=False)`` of the jsonl files: no validation, no normalisation.

Printed: rows, seconds, rows/s, peak RSS and per-source seconds for both, and the ratio ours/baseline.
Target: ours < 60 s for 1,000,000 rows on 2 cores. No field values are printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BAR_SECONDS = 60.0
BAR_ROWS = 1_000_000
DONE = "bench_summary.json"  # written last: a cache directory without it is incomplete


# --------------------------------------------------------------------------------------------------
# Data (cached)
# --------------------------------------------------------------------------------------------------
def people_for(records: int, seed: int, profile: str) -> int:
    """People needed for ``records`` partner records, from an untimed 5,000-person pilot."""
    import synthetic

    with tempfile.TemporaryDirectory() as tmp:
        pilot = synthetic.generate(5000, seed, Path(tmp), profile=profile)
    return max(1, round(records * pilot["people"] / pilot["total_records"]))


def ensure_data(records: int, seed: int, profile: str, cache: Path | None) -> tuple[Path, dict]:
    """The cached extracts directory for this size/seed/profile, generated if missing."""
    import synthetic

    people = people_for(records, seed, profile)
    out = cache or Path(tempfile.gettempdir()) / f"pace-bench-ingest-{people}-{seed}-{profile}"
    done = out / DONE
    if done.exists():
        return out, json.loads(done.read_text())
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    summary = synthetic.generate(people, seed, out, profile=profile)
    summary = {"people": people, "total_records": summary["total_records"], "records": summary["records"],
               "generate_seconds": round(time.perf_counter() - t0, 1)}
    done.write_text(json.dumps(summary))
    return out, summary


# --------------------------------------------------------------------------------------------------
# The two timed runs (each in a child process)
# --------------------------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _format(src) -> str:
    """csv/tsv/pipe/dsv/xlsx/jsonl: the file format as a reader sees it."""
    if src.format != "csv":
        return src.format
    return {",": "csv", "\t": "tsv", "|": "pipe"}.get(src.delimiter, "dsv")


def run_ours(data: Path) -> dict:
    """ingest_source per source, normalise_source per ingested source, assemble: as flows/pipeline.py."""
    from pace_linkage.config import load_config
    from pace_linkage.ingest.sources import SourceFailure, assemble, ingest_source, normalise_source
    from pace_linkage.pipeline import DEFAULT_FEATURES

    cfg = load_config(None)
    extracts = data / "extracts"
    per_source: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    ingested = []
    for src in cfg.sources.items:
        ti = time.perf_counter()
        batch = ingest_source(src, cfg, extracts, features=DEFAULT_FEATURES)
        if isinstance(batch, SourceFailure):
            raise SystemExit(f"source {batch.source} failed: {batch.error}")
        per_source[src.name] = {"ingest": time.perf_counter() - ti, "rows": batch.rows_in, "format": _format(src)}
        ingested.append(batch)
    t_ingest = time.perf_counter() - t0
    sources = {s.name: s for s in cfg.sources.items}
    batches = []
    for batch in ingested:
        ti = time.perf_counter()
        batches.append(normalise_source(batch, sources[batch.source], cfg, features=DEFAULT_FEATURES))
        per_source[batch.source]["normalise"] = time.perf_counter() - ti
    del ingested
    t_norm = time.perf_counter() - t0 - t_ingest
    ta = time.perf_counter()
    records = assemble(batches)
    t_assemble = time.perf_counter() - ta
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds, "ingest": t_ingest, "normalise": t_norm, "assemble": t_assemble,
        "rows": sum(b.rows_in for b in batches), "accepted": len(records),
        "quarantined": sum(b.rows_quarantined for b in batches),
        "columns": records.shape[1], "per_source": per_source, "peak_mb": peak_rss_mb(),
    }


def run_baseline(data: Path) -> dict:
    """Plain pandas readers of the same files: every cell as text, nothing checked or normalised."""
    import pandas as pd

    from pace_linkage.config import load_config
    from pace_linkage.ingest.extract import resolve_file

    cfg = load_config(None)
    extracts = data / "extracts"
    per_source: dict[str, dict[str, float]] = {}
    rows = 0
    t0 = time.perf_counter()
    for src in cfg.sources.items:
        ti = time.perf_counter()
        path = resolve_file(src, extracts)
        if src.format == "csv":
            df = pd.read_csv(path, sep=src.delimiter, dtype=str, keep_default_na=False, encoding=src.encoding)
        elif src.format == "xlsx":
            df = pd.read_excel(path, sheet_name=src.sheet if src.sheet is not None else 0, dtype=str,
                               keep_default_na=False)
        else:
            df = pd.read_json(path, lines=True, dtype=False, encoding=src.encoding)
        per_source[src.name] = {"read": time.perf_counter() - ti, "rows": len(df)}
        rows += len(df)
        del df
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": rows, "per_source": per_source, "peak_mb": peak_rss_mb()}


def child(kind: str, data: Path) -> dict:
    """Run one timed side in a fresh interpreter; return its JSON result."""
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(data)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"{kind} run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
def report(summary: dict, ours: dict, base: dict) -> bool:
    print(f"data              {summary['people']:,} people, {summary['total_records']:,} partner records "
          f"(generated in {summary.get('generate_seconds', 0):.0f} s, not timed)")
    print(f"{'source':<18}{'format':>8}{'rows':>10}{'ingest s':>10}{'normal. s':>10}{'ours s':>9}"
          f"{'pandas s':>10}{'ratio':>7}")
    for name, o in ours["per_source"].items():
        b = base["per_source"][name]
        total = o["ingest"] + o["normalise"]
        print(f"{name:<18}{o['format']:>8}{o['rows']:>10,}{o['ingest']:>10.2f}{o['normalise']:>10.2f}{total:>9.2f}"
              f"{b['read']:>10.2f}{total / b['read']:>7.1f}")
    print(f"ours              {ours['rows']:,} rows in {ours['seconds']:.1f} s "
          f"(ingest {ours['ingest']:.1f} s, normalise {ours['normalise']:.1f} s, assemble {ours['assemble']:.1f} s) "
          f"-> {ours['rows'] / ours['seconds']:,.0f} rows/s; peak RSS {ours['peak_mb']:,.0f} MB")
    print(f"                  accepted {ours['accepted']:,}, quarantined {ours['quarantined']:,}, "
          f"{ours['columns']} record columns")
    print(f"baseline (pandas) {base['rows']:,} rows in {base['seconds']:.1f} s "
          f"-> {base['rows'] / base['seconds']:,.0f} rows/s; peak RSS {base['peak_mb']:,.0f} MB")
    print(f"ratio ours/baseline: time {ours['seconds'] / base['seconds']:.2f}x, "
          f"peak RSS {ours['peak_mb'] / base['peak_mb']:.2f}x")
    # the bar is for 1M rows; scale it for other sizes so --quick still says something
    allowed = BAR_SECONDS * max(ours["rows"], 1) / BAR_ROWS
    ok = ours["seconds"] < allowed
    label = "bar (<60 s per 1M rows, ingest+normalise)"
    print(f"{label}: {'PASS' if ok else 'FAIL'} ({ours['seconds']:.1f} s vs {allowed:.1f} s allowed)")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=BAR_ROWS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--cache", type=Path, default=None, help="extracts cache directory (default: in the temp dir)")
    ap.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        result = run_ours(args.data) if args.child == "ours" else run_baseline(args.data)
        print(json.dumps(result))
        return 0
    data, summary = ensure_data(args.records, args.seed, args.profile, args.cache)
    base = child("baseline", data)
    ours = child("ours", data)
    return 0 if report(summary, ours, base) else 1


if __name__ == "__main__":
    raise SystemExit(main())
