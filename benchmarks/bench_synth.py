"""Benchmark the synthetic generator: ~1,000,000 partner records (sum over partners).

Usage: python benchmarks/bench_synth.py [--records 1000000] [--seed 42] [--profile default] [--out DIR]

A small pilot run (not timed) measures records per person for the current config, then the main run
generates enough people for the target. Prints records, seconds, records/s and peak RSS (the
process's maximum resident set size, pilot included). Bars: < 120 s on 2 cores, < 4 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import synthetic  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pilot = synthetic.generate(5000, args.seed, Path(tmp) / "pilot", profile=args.profile)
        per_person = pilot["total_records"] / pilot["people"]
        people = max(1, round(args.records / per_person))
        out = args.out or Path(tmp) / "run"
        t0 = time.perf_counter()
        summary = synthetic.generate(people, args.seed, out, profile=args.profile)
        seconds = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = summary["total_records"]
    print(f"people            {people:,}")
    print(f"records           {total:,}  (employer records {sum(summary['employer_records'].values()):,})")
    for name, n in summary["records"].items():
        print(f"  {name:<18}{n:>10,}")
    print(f"seconds           {seconds:.1f}")
    print(f"records/s         {total / seconds:,.0f}")
    print(f"peak RSS          {peak_mb:,.0f} MB")
    print(f"output size       {size / 1e6:,.0f} MB")
    ok = seconds < 120 and peak_mb < 4096
    print("bar (<120 s, <4 GB):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
