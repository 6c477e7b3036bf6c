"""Benchmark: incremental linkage of monthly deliveries against a full re-link of everything so far.

Usage::

    python benchmarks/bench_incremental.py                      # 20,000 people (~49k records), 4 deliveries
    python benchmarks/bench_incremental.py --people 2000 --batches 3

``synthetic.generate_batches`` writes the deliveries (new, updated and deleted records, with truth). Each
delivery is ingested and normalised (not timed), then

* **incremental**: ``pace_linkage.incremental.batch.link_batch`` against the state the previous deliveries left
  (model trained on the first delivery, then reused), and
* **full re-link**: ``pace_linkage.engine.linker.Linker.run`` over every live record after that delivery (training a
  model each time, as a from-scratch tool would),

both timed in this process on the same records. Printed per delivery: records, wall time of each, their
ratio (incremental / full), pairwise F1 of each against the cumulative truth, and the agreement of the two
clusterings (pairwise F1 of one measured against the other). Only counts and rates are printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _records(extracts: Path, cfg) -> pd.DataFrame:
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.pipeline import read_batches

    return assemble(read_batches(cfg, extracts)[0])  # a source that fails is left out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=20000)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)

    import synthetic
    from pace_linkage import incremental as inc
    from pace_linkage.config import load_config
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate.quality import pairwise_metrics
    from pace_linkage.incremental import persist

    cfg = load_config()
    with tempfile.TemporaryDirectory(prefix="pace-bench-inc-") as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        synthetic.generate_batches(people=args.people, seed=args.seed, out_dir=out, batches=args.batches)
        print(f"generated {args.batches} deliveries for {args.people:,} people in {time.perf_counter() - t0:.1f} s")
        print("| delivery | live records | incremental s | full re-link s | ratio | F1 incremental | F1 full | "
              "agreement F1 |")
        print("|---|---|---|---|---|---|---|---|")
        state, model = inc.empty_state(), None
        total_inc = total_full = 0.0
        for k in range(1, args.batches + 1):
            folder = out / f"batch_{k:02d}"
            records = _records(folder / "extracts", cfg)
            deletions = persist.read_deletions(folder / "extracts" / persist.DELETIONS_FILE)
            t0 = time.perf_counter()
            result = inc.link_batch(state, records, cfg, model, f"b{k:02d}", deletions=deletions)
            t_inc = time.perf_counter() - t0
            state, model = result.state, result.model
            live = state.records.drop(columns=[inc.RECORD_HASH]).reset_index(drop=True)
            t0 = time.perf_counter()
            full = Linker(cfg.linkage, seed=cfg.seed).run(live)
            t_full = time.perf_counter() - t0
            total_inc, total_full = total_inc + t_inc, total_full + t_full
            truth = pd.read_csv(folder / "truth.csv", dtype=str)
            mine = state.assignments
            theirs = full.clusters.clusters
            f_inc = pairwise_metrics(mine, truth)["f1"]
            f_full = pairwise_metrics(theirs, truth)["f1"]
            agree = pairwise_metrics(mine, theirs.rename(columns={"pace_id": "person_id"}))["f1"]
            print(f"| {k} | {len(live):,} | {t_inc:.2f} | {t_full:.2f} | {t_inc / t_full:.2f} | {f_inc:.4f} | "
                  f"{f_full:.4f} | {agree:.4f} |", flush=True)
        print(f"\nall deliveries: incremental {total_inc:.2f} s, full re-links {total_full:.2f} s "
              f"(ratio {total_inc / total_full:.2f}); later deliveries are where incremental pays off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
