"""What a person sees while the flow runs: a progress bar over the stages and a one-line summary per
stage (counts and seconds only: never a field value).

The flow talks to whichever :class:`Reporter` is current. The default one writes to Prefect's run logger
(so the lines land in the Prefect UI); the CLI installs :class:`ConsoleReporter`, a rich progress bar.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

STAGES = ["ingest", "normalise", "block", "compare", "train-model", "score", "cluster", "evaluate", "report",
          "publish"]


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4f}" if v < 1 else f"{v:,.2f}"
    return str(v)


def summary_line(stage: str, **figures) -> str:
    parts = []
    for k, v in figures.items():
        parts.append(f"{v:.2f} s" if k == "seconds" else f"{k}={_fmt(v)}")
    return f"{stage:<12} " + "  ".join(parts)


class Reporter:
    """Default: log through Prefect's run logger (falls back to the module logger outside a run)."""

    def _logger(self):
        try:
            from prefect.logging import get_run_logger

            return get_run_logger()
        except Exception:  # outside a flow run
            return logging.getLogger("pace_linkage")

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def summary(self, stage: str, **figures) -> None:
        self._logger().info(summary_line(stage, **figures))

    def warn(self, message: str) -> None:
        self._logger().warning(message)


class ConsoleReporter(Reporter):
    """A rich progress bar over the stages, with each stage's summary printed above it."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=False)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True,
        )
        self.task_id = None

    def __enter__(self):
        self.progress.start()
        self.task_id = self.progress.add_task("starting", total=len(STAGES))
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.task_id is not None:
            self.progress.update(self.task_id, description=name)
        yield
        if self.task_id is not None:
            self.progress.advance(self.task_id)

    def summary(self, stage: str, **figures) -> None:
        self.console.print(summary_line(stage, **figures), highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning[/]: {message}", highlight=False)


_current: Reporter = Reporter()


def current() -> Reporter:
    return _current


@contextlib.contextmanager
def use(reporter: Reporter) -> Iterator[Reporter]:
    global _current
    previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        _current = previous
