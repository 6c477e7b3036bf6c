"""Stage tasks: Prefect takes their arguments as they are (no search through the config or the run's results),
and a task run's inputs still name the upstream task runs whose results it was given."""

from __future__ import annotations

import time

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import TaskRunResult
from prefect.exceptions import ObjectNotFound
from prefect.states import State

from flows.tasks import task


@task(name="make", persist_result=False)
def make(n: int) -> list:
    return [n]


@task(name="use", persist_result=False)
def use(upstream: list, nested: dict, scale: int = 1) -> dict:
    return {"n": upstream[0] * scale, "nested_is_a_state": isinstance(nested["inner"], State)}


@flow(persist_result=False)
def two_stages() -> tuple:
    up = make(3)
    earlier = make(4, return_state=True)  # a state inside an argument: Prefect would resolve it if it searched
    state = use(up, {"inner": earlier}, scale=2, return_state=True)
    return state.result(), state.state_details.task_run_id, earlier.state_details.task_run_id


def test_stage_task_arguments_are_taken_as_they_are_and_upstream_runs_are_recorded(prefect_harness):
    result, use_run, earlier_run = two_stages()
    assert result == {"n": 6, "nested_is_a_state": True}
    with get_client(sync_client=True) as client:
        inputs = _recorded(client, use_run).task_inputs
        upstream = {r.id for r in inputs["upstream"] if isinstance(r, TaskRunResult)}
        assert len(upstream) == 1 and earlier_run not in upstream
        assert _recorded(client, upstream.pop()).name.startswith("make")
        assert inputs["nested"] == []  # quoted: not searched


def _recorded(client, task_run_id, wait: float = 10.0):
    """The task run as the API recorded it (task runs reach it as events, a moment after they ran)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return client.read_task_run(task_run_id)
        except ObjectNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
