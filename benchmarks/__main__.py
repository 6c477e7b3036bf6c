"""Run the benchmarks: ``python -m benchmarks [synth|normalise|ingest|linkage ...] [--quick]``.

``python -m benchmarks reference [--datasets 10k,100k,1m,febrl1,...] [--tools ...] [--quick]`` runs the
reference comparison against the recordlinkage toolkit and Splink (benchmarks/bench_reference.py; not part
of the default run: it takes about an hour at 1M records).

``python -m benchmarks e2e [--sizes 1k,100k,1m] [--quick] [--data DIR --config FILE]`` times the whole
``pace-linkage run`` process (read to report) against Splink's whole process (pandas reading and cleaning the
same raw extracts, then Splink) on the same data, with peak memory, ratios and F1 (benchmarks/e2e.py; not part
of the default run: Splink needs about 20 GB at 1M records).

``python -m benchmarks same-outputs [--base REV]`` checks that this checkout's run outputs (clusters.csv,
pairs.parquet, model.json ...) on the default synthetic data and FEBRL 3 are byte-identical to REV's
(benchmarks/same_outputs.py; for changes that must not change any result).

``python -m benchmarks blocking-stress [--quick]`` measures the default blocking rules' pairs completeness per
error type (one error type at a time, and several at once) and their candidate pairs against the rules before
key transforms (benchmarks/bench_blocking_stress.py).

``python -m benchmarks estimate [--quick]`` sets the label-free estimate's precision and recall (and the clerical
estimate from the workbench's labelling queue, labelled from truth) beside the truth on the default synthetic
data, FEBRL 3 and the independent generator's data (benchmarks/bench_estimate.py).

``python -m benchmarks independent --people N --out DIR`` writes a PACE-like data set from a second generator
that shares no code with ``synthetic/`` (benchmarks/independent.py), with its config and truth.

Each benchmark runs in its own process (so its peak memory is its own) and prints its figures, including
ratios against a baseline measured in the same run. ``--quick`` uses small sizes (a smoke run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "synth": (["--records", "1000000"], ["--records", "50000", "--baseline-records", "5000"]),
    "normalise": (["--rows", "1000000"], ["--rows", "50000", "--baseline-rows", "20000"]),
    "ingest": (["--records", "1000000"], ["--records", "50000"]),
    "linkage": (["--records", "100000"], ["--records", "10000"]),
    "incremental": (["--people", "20000", "--batches", "4"], ["--people", "2000", "--batches", "3"]),
    "blocking-stress": (["--people", "20000", "--stress-people", "20000"], ["--people", "3000", "--stress-people", "3000"]),
}


def main() -> int:
    if sys.argv[1:2] == ["reference"]:
        sys.path.insert(0, str(HERE))
        from bench_reference import main as reference

        return reference(sys.argv[2:])
    if sys.argv[1:2] == ["independent"]:
        sys.path.insert(0, str(HERE))
        from independent import main as independent

        return independent(sys.argv[2:]) or 0
    if sys.argv[1:2] == ["e2e"]:
        sys.path.insert(0, str(HERE))
        from e2e import main as e2e

        return e2e(sys.argv[2:])
    if sys.argv[1:2] == ["estimate"]:
        sys.path.insert(0, str(HERE))
        from bench_estimate import main as estimate

        return estimate(sys.argv[2:])
    if sys.argv[1:2] == ["same-outputs"]:
        sys.path.insert(0, str(HERE))
        from same_outputs import main as same_outputs

        return same_outputs(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", choices=[*BENCHES, []], help="benchmarks to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    status = 0
    for name in args.names or list(BENCHES):
        full, quick = BENCHES[name]
        cmd = [sys.executable, str(HERE / f"bench_{name.replace('-', '_')}.py"), *(quick if args.quick else full)]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        status |= subprocess.call(cmd)
    return status


if __name__ == "__main__":
    sys.exit(main())
