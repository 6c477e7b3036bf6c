"""``pace-linkage recluster``: a finished run's stored pairs clustered again at another threshold, as a new set
of ids in a folder of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.command import app, fail


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
    from pace_linkage.evaluate.recluster import out_problem

    try:
        if not 0 < threshold < 1:
            raise ConfigError("--threshold: must be a probability strictly between 0 and 1")
        if problem := out_problem(run_dir, out):
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

    decisions = None if clerical is None else read_clerical_decisions(clerical)
    return rc.save(load_run(run_dir), threshold, out, decisions=decisions, decisions_path=clerical)
