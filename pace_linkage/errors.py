"""Errors the pipeline raises on purpose.

Every message names *where* (file, key, line, column) and never *what*: no field value from a
partner's data may appear in an exception, because exception text ends up in logs and in Prefect's
API database. Tracebacks are reserved for bugs; the CLI turns a ``PaceError`` into one stderr line.
"""

from __future__ import annotations


class PaceError(Exception):
    """Base class: an expected failure with a one-line, value-free message."""

    exit_code = 1

    def __init__(self, message: str = "", *more: str):
        # Each problem is one line (inner whitespace collapsed); several problems -> several lines,
        # so that e.g. every config mistake is reported at once, each on its own line.
        lines = [" ".join(m.split()) for m in (message, *more) for m in str(m).split("\n") if m.strip()]
        self.lines = lines or [type(self).__name__]
        super().__init__("\n".join(self.lines))

    def __str__(self) -> str:
        return "\n".join(self.lines)


class ConfigError(PaceError):
    """The configuration is wrong: a key, a type, a missing column mapping."""

    exit_code = 2


class InputError(PaceError):
    """An input file cannot be used: unreadable, wrong encoding, missing a column."""

    exit_code = 3


class SharingError(PaceError):
    """A sharing agreement forbids the run (expired agreement, field not allowed)."""

    exit_code = 4


class LinkageError(PaceError):
    """The linkage cannot proceed safely (e.g. a blocking rule would produce too many pairs)."""

    exit_code = 5


# Errors that retrying cannot fix: Prefect tasks must not retry these.
NON_RETRYABLE = (ConfigError, InputError, SharingError, LinkageError)
