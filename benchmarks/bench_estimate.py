"""How close the label-free and the clerical estimates come to the truth, on data sets the defaults were not fitted to.

Usage::

    python -m benchmarks estimate                      # synthetic 20k people, FEBRL 3, the independent 10k
    python -m benchmarks estimate --quick              # synthetic 2k, FEBRL 3, independent 2k

For each data set the whole ``pace-linkage run ... --truth`` process runs as a user runs it; its metrics.json's
threshold curve holds, at each threshold, the label-free estimate (``est_precision``, ``est_recall``) and the
measured figures (``precision``, ``recall``, pairwise over clusters). Printed: the estimate minus the truth, in
points, at the run's threshold and the largest gap over the thresholds from 0.5 to 0.99.

Then the clerical estimate: the workbench's labelling queue (200 pairs drawn in strata around the threshold) is
labelled from the truth, as a careful reviewer would, and the estimate with its 95% interval is set beside the
real pair-level precision and recall of the scored pairs; ``in`` says whether the interval holds the truth.

Only figures are printed, never a record value.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)


def prepare(name: str, size: int, work: Path) -> tuple[Path, Path | None]:
    """The data set's folder (extracts/, truth.csv) and its config (None: the default)."""
    d = work / name
    if name == "synthetic":
        import synthetic

        synthetic.generate(people=size, seed=42, out_dir=d)
        return d, None
    if name == "febrl3":
        from bench_reference import febrl_config

        from pace_linkage.evaluate.datasets import write_febrl

        write_febrl(3, d)
        return d, febrl_config(3, work)
    from independent import write

    write(d, size, 2026)
    return d, d / "config" / "pace.yaml"


def run(data: Path, config: Path | None, out: Path) -> None:
    cmd = [sys.executable, "-m", "flows", "run", "--extracts", str(data / "extracts"), "--out", str(out),
           "--truth", str(data / "truth.csv"), *(["--config", str(config)] if config else [])]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd[1:4])}: failed: {done.stderr.strip().splitlines()[-1:]}")


def label_free(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    rows = pd.DataFrame(m["threshold_curve"])
    t = float(m["run"]["threshold"])
    at = rows.loc[(rows["threshold"] - t).abs().idxmin()]
    grid = rows[(rows["threshold"] >= 0.5) & (rows["threshold"] <= 0.99)]
    gap = lambda frame, k: 100 * (frame[f"est_{k}"] - frame[k])  # noqa: E731
    return {"threshold": float(at["threshold"]), "precision": float(at["precision"]), "recall": float(at["recall"]),
            "d_precision": float(gap(at, "precision")), "d_recall": float(gap(at, "recall")),
            "max_d_precision": float(gap(grid, "precision").abs().max()),
            "max_d_recall": float(gap(grid, "recall").abs().max())}


def clerical(out: Path, data: Path) -> dict:
    from pace_linkage.evaluate.metrics import load_truth
    from pace_linkage.schema import MATCH_PROBABILITY
    from pace_linkage.workbench import clerical as cl
    from pace_linkage.workbench import views

    bench = views.Workbench.open(out)
    truth = load_truth(data / "truth.csv")
    person = pd.Series(truth["person_id"].to_numpy(), index=truth["source"] + "\x1f" + truth["record_id"])
    pairs = bench.run.pairs
    left = person.reindex(pairs["source_l"].astype(str) + "\x1f" + pairs["record_id_l"].astype(str)).to_numpy()
    right = person.reindex(pairs["source_r"].astype(str) + "\x1f" + pairs["record_id_r"].astype(str)).to_numpy()
    is_match = left == right
    queue = views.queue_sample(bench)["pos"].to_numpy()
    labels = pairs.iloc[queue][["source_l", "record_id_l", "source_r", "record_id_r"]].astype(str)
    labels = labels.assign(label=np.where(is_match[queue], "match", "non-match"))
    e = cl.estimate_at(bench, labels, bench.threshold)
    linked = pairs[MATCH_PROBABILITY].to_numpy() >= bench.threshold
    real = {"precision": float(is_match[linked].mean()), "recall": float((is_match & linked).sum() / is_match.sum())}
    return {k: {**e[k], "real": real[k]} for k in ("precision", "recall")} | {"labels": int(len(queue))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks estimate", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data sets (a smoke run)")
    args = ap.parse_args(argv)
    sets = [("synthetic", 2_000 if args.quick else 20_000), ("febrl3", 0), ("independent", 2_000 if args.quick else 10_000)]
    print("label-free estimate minus truth, points (pairwise over clusters); clerical estimate from the workbench's "
          "200-pair queue labelled from truth (pair level)")
    print(f"{'data set':<18}{'thr':>6}{'dP':>8}{'dR':>8}{'max|dP|':>9}{'max|dR|':>9}   clerical P [95%] real | R [95%] real")
    with tempfile.TemporaryDirectory(prefix="pace-estimate-") as tmp:
        work = Path(tmp)
        for name, size in sets:
            data, config = prepare(name, size, work)
            out = work / f"{name}-out"
            run(data, config, out)
            lf, c = label_free(out), clerical(out, data)
            p, r = c["precision"], c["recall"]
            label = f"{name} {size // 1000}k" if size else name
            print(f"{label:<18}{lf['threshold']:>6.2f}{lf['d_precision']:>+8.2f}{lf['d_recall']:>+8.2f}"
                  f"{lf['max_d_precision']:>9.2f}{lf['max_d_recall']:>9.2f}   "
                  f"{p['estimate']:.4f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}] {p['real']:.4f} "
                  f"{'in' if p['ci_low'] <= p['real'] <= p['ci_high'] else 'OUT'} | "
                  f"{r['estimate']:.4f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] {r['real']:.4f} "
                  f"{'in' if r['ci_low'] <= r['real'] <= r['ci_high'] else 'OUT'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
