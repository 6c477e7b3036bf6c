"""Where the pipeline runs its partition tasks: the flow's task runner, local by default or a Dask cluster.

- ``local`` (the default): the flow as defined, every task called in this process, partitions in turn.
- ``dask``: the same flow through ``pace_linkage_pipeline.with_options(task_runner=DaskTaskRunner(...))``
  (prefect-dask, the optional ``dask`` extra). The per-partition tasks (``compare-partition``,
  ``score-partition``) are submitted to the cluster; every other stage still runs in the flow's process.
  With ``dask_address`` (``tcp://HOST:PORT``) the runner connects to a running scheduler; without it, it
  starts a temporary ``LocalCluster`` of ``dask.n_workers`` worker processes (config, default 2), with
  ``dask.threads_per_worker`` threads each, no dashboard, everything on 127.0.0.1 (the scheduler's small
  HTTP endpoint on a free port, not :8787), and spilling to disk turned off: a worker holds records, so it
  pauses when short of memory rather than writing them to ``dask-scratch-space``.
- The records go to each worker once: :func:`partition_mapper` scatters the partition context (records
  and settings, :class:`pace_linkage.engine.partition.PartitionContext`) with the task runner's own Dask client
  (a future must come from the client that submits the tasks, so not from a temporary ``get_dask_client``),
  broadcast to every worker, and each task receives that future. Partition results come back in
  partition order, whatever order the workers finish in.
- Worker processes talk to the Prefect API to report their task runs. With no ``PREFECT_API_URL`` set,
  the command's temporary server (:func:`flows.api.local_api`) is theirs too: they inherit its URL
  (LocalCluster, or a scheduler on loopback). A remote cluster's workers need a Prefect API they can
  reach: set ``PREFECT_API_URL`` (for the flow and for them).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from pace_linkage.config import DaskSettings
from pace_linkage.errors import ConfigError

if TYPE_CHECKING:  # the CLI checks its options through this module before the heavy imports
    from pace_linkage.engine.partition import Mapper, PartitionContext

TASK_RUNNERS = ("local", "dask")
# workers never spill task data (records, pairs) to their scratch directory on disk: they pause instead
# (dotted keys: the nanny merges this shallowly into the worker's config)
NO_SPILL = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False}
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx)://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def check_address(address: str) -> str:
    """A Dask scheduler address: ``tcp://HOST:PORT`` (``tls://`` too; a bare ``HOST:PORT`` means tcp)."""
    if not _ADDRESS.match(address or ""):
        raise ConfigError("--dask-address: expected a scheduler address like tcp://HOST:PORT")
    return address


def choose(task_runner: str | None, dask_address: str | None) -> str:
    """The task runner a run asked for (``dask`` when only an address is given); ConfigError on a bad
    choice or address. Cheap: the CLI calls it before Prefect is imported."""
    runner = task_runner or ("dask" if dask_address else "local")
    if runner not in TASK_RUNNERS:
        raise ConfigError(f"--task-runner: expected one of {', '.join(TASK_RUNNERS)}")
    if dask_address:
        if runner != "dask":
            raise ConfigError("--dask-address needs --task-runner dask")
        check_address(dask_address)
    return runner


def dask_task_runner(address: str | None = None, settings: DaskSettings | None = None):
    """A prefect-dask ``DaskTaskRunner``: connected to ``address``, or a temporary LocalCluster."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError("--task-runner dask needs the dask extra: pip install 'pace-linkage[dask]'") from None
    if address:
        return DaskTaskRunner(address=check_address(address))
    settings = settings or DaskSettings()
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": settings.n_workers, "threads_per_worker": settings.threads_per_worker, "processes": True,
        "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0", "scheduler_kwargs": {"dashboard": False},
        "config": NO_SPILL})


def current_dask_client():
    """The Dask client of the running flow's task runner, or None when the flow does not run on Dask."""
    from prefect.context import FlowRunContext

    dask_runners = sys.modules.get("prefect_dask")  # a flow on Dask imported it; the local path never does
    if dask_runners is None:  # (importing Dask to find out would cost a local run a third of a second)
        return None
    run = FlowRunContext.get()
    runner = getattr(run, "task_runner", None)
    if not isinstance(runner, dask_runners.DaskTaskRunner):
        return None
    try:
        return runner.client
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"task runner: cannot reach the Dask scheduler ({type(exc).__name__})") from None


@contextlib.contextmanager
def partition_mapper(ctx: PartitionContext, tasks: Mapping[Callable, Callable]) -> Iterator[Mapper]:
    """Yields the :class:`~pace_linkage.engine.linker.Linker`'s mapper for a flow: each call ``fn(ctx, *args)``
    runs as the Prefect task ``tasks[fn]`` with arguments ``(ctx, *args, index)`` (the task run is named by the
    partition index), results in order. In turn in this process, or (on Dask) submitted to the cluster with
    ``ctx`` scattered to every worker."""
    client = current_dask_client()
    ref = ctx if client is None else client.scatter(ctx, broadcast=True, hash=False)

    def mapper(fn: Callable, calls: list[tuple]) -> list:
        task = tasks[fn]
        if any(call[0] is not ctx for call in calls):
            raise ValueError("partition_mapper: every call must be on the context it was made for")
        args = [(*call[1:], i) for i, call in enumerate(calls)]
        if client is None:
            return [task(ref, *a) for a in args]
        futures = [task.submit(ref, *a) for a in args]
        return [f.result() for f in futures]

    try:
        yield mapper
    finally:
        if client is not None:
            ref.release()
