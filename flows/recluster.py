"""``pace-linkage recluster``: a finished run's stored pairs clustered again at another threshold, as a new set
of ids in a folder of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.command import app, fail


def _out_problem(run_dir: Path, out: Path) -> str | None:
    """OUT must be a folder of its own: neither the run folder, nor inside it, nor holding it."""
    run_abs, out_abs = run_dir.resolve(), out.resolve()
    if out_abs == run_abs or run_abs in out_abs.parents:
        return f"--out {out}: inside the run folder {run_dir}; name a folder of its own"
    if out_abs in run_abs.parents:
        return f"--out {out}: holds the run folder {run_dir}; name a folder of its own"
    if out.exists() and not out.is_dir():
        return f"--out {out}: not a folder"
    return None


@app.command()
def recluster(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder (not an incremental run's).")],
    threshold: Annotated[float, typer.Option("--threshold", help="Match probability to link at, strictly between 0 and 1.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the new set of ids (clusters.csv, conflicts.csv, metrics.json, manifest.json); not inside --run.")],
    clerical: Annotated[Path | None, typer.Option("--clerical", help="Clerical decisions to honour (review's clerical.csv: match = must-link, non-match = cannot-link).")] = None,
) -> None:
    """Cluster a finished run's scored pairs again at another threshold, without reading or comparing again.

    At the run's own threshold the ids are the run's, byte for byte. The new folder's manifest names the run it came from (its config hash and manifest digest) and the threshold.
    """
    from pace_linkage.errors import ConfigError, InputError

    try:
        if not 0 < threshold < 1:
            raise ConfigError("--threshold: must be a probability strictly between 0 and 1")
        if problem := _out_problem(run_dir, out):
            raise InputError(problem)
        if clerical is not None and not clerical.is_file():
            raise InputError(f"--clerical {clerical}: file not found")
        summary = _recluster(run_dir, threshold, out, clerical)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    typer.echo(f"recluster    threshold={threshold:g}  records={summary['records']:,}  "
               f"clusters={summary['clusters']:,}  singletons={summary['singletons']:,}  "
               f"conflicts={summary['conflicts']:,}  out={out}")


def _recluster(run_dir: Path, threshold: float, out: Path, clerical: Path | None) -> dict:
    from pace_linkage.evaluate import recluster as rc
    from pace_linkage.evaluate.runfolder import load_run
    from pace_linkage.incremental.persist import read_clerical_decisions
    from pace_linkage.schema import VERSION
    from pace_linkage.store.files import sha256_file
    from pace_linkage.store.outputs import RunWriter

    run = load_run(run_dir)
    must = cannot = None
    if clerical is not None:
        must, cannot = rc.decision_positions(run, read_clerical_decisions(clerical), clerical)
    clustering = rc.Reclusterer.load(run)
    result = clustering.at(threshold, must_link=must, cannot_link=cannot)
    id_column = clustering.meta["id_column"]
    figures = {"records": int(len(result.clusters)), **result.stats[id_column]}
    writer = RunWriter(out)
    try:
        writer.write_csv("clusters.csv", result.clusters)
        writer.write_csv("conflicts.csv", result.conflicts)
        writer.write_json("metrics.json", {"clusters": result.stats, "recluster": figures})
        writer.publish({"version": VERSION, "kind": "recluster", "threshold": float(threshold),
                        "source_run": {"config_hash": run.manifest.get("config_hash"),
                                       "manifest_sha256": sha256_file(run.path / "manifest.json"),
                                       "threshold": run.threshold},
                        "clerical_decisions": 0 if clerical is None else
                        sum(0 if d is None else len(d[0]) for d in (must, cannot))})
    except BaseException:
        writer.discard()
        raise
    return figures
