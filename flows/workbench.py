"""``pace-linkage workbench``: the analyst's workbench over a finished run, in the browser, on this machine only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.command import app, fail


def _records(extracts: Path, config: Path | None):
    """The extracts read and normalised with the config (default the package's), as `review export` reads them."""
    from pace_linkage.config import load_config
    from pace_linkage.errors import InputError
    from pace_linkage.pipeline import read_sources

    if not extracts.is_dir():
        raise InputError(f"{extracts}: extracts folder not found")
    cfg = load_config(config)
    return read_sources(cfg, extracts), cfg


@app.command()
def workbench(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder (made since re-clustering was added).")],
    port: Annotated[int | None, typer.Option("--port", min=1024, max=65535, help="Port on 127.0.0.1 (default: a free one).")] = None,
    save_to: Annotated[Path | None, typer.Option("--save-to", help="Folder where 'Save these ids' writes a set of ids at the chosen threshold (ids-at-<threshold>/, as `recluster` writes); not inside --run. Without it nothing is saved.")] = None,
    extracts: Annotated[Path | None, typer.Option("--extracts", help="The extracts the run linked: pairs then show both records' normalised values (read once at start, shown only in the page).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="The run's top-level config, to normalise the extracts (default config/pace.yaml).")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="Truth CSV (source,record_id,person_id): the curve and the figures at any threshold are then measured too, beside the estimates.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="The central store (a DuckDB path, duckdb:// or postgresql:// URL, as for run): "
                                              "cluster histories across incremental runs, and labels kept there too.")] = None,
) -> None:
    """Open a finished run in a local web application: choose a threshold and see what it would give (estimated without truth), look inside clusters and pairs, label pairs with the keyboard.

    It listens on 127.0.0.1 only and prints an address with a random token: open that address in your browser;
    a request without the token is refused. With --truth, the figures are measured as well as estimated.
    With --extracts, a pair's waterfall shows both records' normalised
    values (held in memory, shown only in the page, never logged). Labels are kept in the run folder (labels.csv,
    and the decisions in clerical.csv for `recluster --clerical` and the next incremental run); with --save-to,
    the ids at the chosen threshold can be saved as a set of their own, the labels' decisions honoured. Stop it
    with Ctrl-C.

    With --store (which must exist), the cluster studio shows the history of the cluster's pace ids across the
    store's incremental runs, and each label is also appended to the store's labels table: the next incremental
    run against that store honours match / non-match labels as --clerical decisions. Without it no store is touched.
    """
    import secrets
    import sys

    try:
        from flows.api import free_port
        from pace_linkage.errors import InputError
        from pace_linkage.evaluate.recluster import out_problem
        from pace_linkage.workbench.app import create_app

        if save_to is not None and (problem := out_problem(run_dir, save_to)):
            raise InputError(problem.replace("--out", "--save-to", 1))
        port = port or free_port()
        token = secrets.token_urlsafe(32)
        if sys.stderr.isatty():  # progress for a person at a terminal (a million records take about 15 s)
            typer.echo(f"workbench    reading {run_dir} ...", err=True)
        from pace_linkage.evaluate.metrics import load_truth

        records, cfg = _records(extracts, config) if extracts is not None else (None, None)
        application = create_app(run_dir, token, port, records, cfg, save_to=save_to, store=store,
                                 truth=None if truth is None else load_truth(truth))
        values = application.state.bench.values
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    import uvicorn

    from pace_linkage.store.urls import describe

    if values is not None and values.warning:
        typer.echo(f"warning: {values.warning}", err=True)
    loaded = "loaded" if values is not None else "not loaded (see --extracts)"
    shown = f"\nstore        {describe(store)}" if store else ""
    typer.echo(f"workbench    run={run_dir}  values={loaded}{shown}\nopen         http://127.0.0.1:{port}/?token={token}\n"
               "(Ctrl-C stops it)")
    uvicorn.run(application, host="127.0.0.1", port=port, access_log=False, log_level="warning")
