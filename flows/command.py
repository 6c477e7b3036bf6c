"""The ``pace-linkage`` Typer application and its one-line failures, shared by every module that adds a verb.

Expected failures (a :class:`PaceError`) print exactly one line on stderr and exit non-zero; a traceback is
printed only for bugs, and only with ``--debug``. Nothing printed carries a field value.
"""

from __future__ import annotations

import os
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

state = {"debug": False, "verbose": False}


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
    state["debug"] = debug
    state["verbose"] = verbose
    if debug:  # let the flow's stage guard pass unexpected exceptions through unchanged
        os.environ["PACE_LINKAGE_DEBUG"] = "1"


def fail(exc: BaseException) -> None:
    """One stderr line and an exit code; a traceback only for bugs with --debug. While a signal stops the
    command, whatever surfaced is that stop."""
    from flows.api import Stopped, received_signal

    if received_signal():
        raise Stopped(received_signal()) from None
    if isinstance(exc, PaceError):
        lines = str(exc).splitlines() or [type(exc).__name__]
        # several config mistakes are reported together, one per line (each one line on its own)
        for line in lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(exc.exit_code)
    if state["debug"]:
        raise exc
    typer.echo(f"internal error: {type(exc).__name__} (run again with --debug for a traceback)", err=True)
    raise typer.Exit(70)


def prefect_env() -> None:
    import flows.settings  # noqa: F401

    if not state["verbose"]:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")
