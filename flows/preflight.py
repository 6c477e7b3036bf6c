"""What the run commands check before Prefect starts: every mistake in a run's parameters and inputs that can be
known from the command line, the config and the files' headers, reported at once, one line each."""

from __future__ import annotations

from pathlib import Path

import typer

from pace_linkage.errors import ConfigError


def _input_files(**paths: Path | None) -> list[str]:
    """One line for each given input file (``--truth``, ``--model``...) that is not there."""
    return [f"{path}: --{name} file not found" for name, path in paths.items()
            if path is not None and not Path(path).is_file()]


def _truth_problems(path: Path, cfgs: list) -> list[str]:
    """A truth file that cannot be read, or that names none of the run's sources (the truth of other extracts)."""
    from pace_linkage.errors import PaceError
    from pace_linkage.evaluate.metrics import load_truth
    from pace_linkage.schema import SOURCE

    try:
        truth = load_truth(path)
    except PaceError as exc:
        return list(exc.lines)
    names = sorted({s.name for c in cfgs for s in c.sources.items})
    if len(truth) and not set(truth[SOURCE].astype(str).str.strip()) & set(names):
        return [f"{path}: the truth file names none of the run's sources ({', '.join(names)}) in its source column: "
                "is it the truth of other extracts?"]
    return []


def preflight(cfg, extracts: Path, *, run_id: str | None = None, threshold: float | None = None,
              run_id_max: int | None = None, allow_partial: bool = False, **files: Path | None) -> None:
    """Every mistake in a run's parameters and inputs that can be known before Prefect starts, at once: one
    :class:`ConfigError` (a bad parameter) or :class:`InputError` (a missing folder, file or column) line each.
    ``cfg`` is the run's config (or a scenarios run's configs); ``files`` are other input files by option name
    (truth, model, clerical)."""
    from flows.params import run_id_problem
    from pace_linkage.errors import InputError
    from pace_linkage.ingest.preflight import check_inputs
    from pace_linkage.pipeline import DEFAULT_FEATURES
    from pace_linkage.schema import RUN_ID_MAX

    params = []
    if problem := run_id_problem(run_id, run_id_max or RUN_ID_MAX):
        params.append(f"--run-id: {problem}")
    if threshold is not None and not 0 < threshold < 1:
        params.append("--threshold: must be a probability strictly between 0 and 1")
    cfgs = cfg if isinstance(cfg, list) else [cfg]  # several: a scenarios run's configs, each checked
    found = [check_inputs(c, extracts, DEFAULT_FEATURES, allow_partial) for c in cfgs]
    inputs = list(dict.fromkeys(line for stops, _ in found for line in stops))
    for line in dict.fromkeys(line for _, warnings in found for line in warnings):
        typer.echo(f"warning: {line} (the run goes on without this source)", err=True)
    inputs += _input_files(**files)
    truth = files.get("truth")
    if truth is not None and Path(truth).is_file():
        inputs += _truth_problems(Path(truth), cfgs)
    if params or inputs:
        raise (ConfigError if params else InputError)(*params, *inputs)
