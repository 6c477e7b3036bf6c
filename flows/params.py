"""What the flows' parameter models share: the run id's check and one-line errors for a bad parameter.

A flow's parameters come from the command line, from the Prefect UI or from a deployment's defaults; the
command checks them before Prefect starts, and the flows check them again here, because a deployment run
never passes through the command.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pace_linkage.errors import ConfigError
from pace_linkage.schema import RUN_ID_MAX, RUN_ID_RULE, is_run_id
from pace_linkage.store.urls import parse_url

# a scenario's run is <run id>-<scenario name>: a scenarios run id leaves room for the longest scenario name
SCENARIOS_RUN_ID_MAX = 64


def run_id_problem(value: str | None, max_len: int = RUN_ID_MAX) -> str | None:
    """What is wrong with a run id (None: nothing, or no run id given), without repeating it."""
    if value is None or is_run_id(value, max_len):
        return None
    return "must be " + RUN_ID_RULE.replace(str(RUN_ID_MAX), str(max_len))


def checked_run_id(value: str | None, max_len: int = RUN_ID_MAX) -> str | None:
    """``value`` if it is a safe run id (or None); a ValueError for a parameter model's validator otherwise."""
    problem = run_id_problem(value, max_len)
    if problem:
        raise ValueError(problem)
    return value


def checked_store(value: str | None) -> str | None:
    """``value`` if it is a store location :func:`pace_linkage.store.urls.parse_url` accepts (or None); a ValueError
    naming what is wrong (never the URL) otherwise."""
    if value is not None:
        try:
            parse_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("--store: ")) from None
    return value


M = TypeVar("M", bound=BaseModel)


def validated(params: type[M], /, **values) -> M:
    """``params(**values)``, or one :class:`ConfigError` line per bad parameter (its name and what is wrong,
    never the value given)."""
    try:
        return params(**values)
    except ValidationError as exc:
        lines = [f"parameter {'.'.join(str(p) for p in err['loc']) or '(all)'}: {err['msg']}"
                 for err in exc.errors(include_url=False, include_input=False)]
        raise ConfigError(*lines) from None
