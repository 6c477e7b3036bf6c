"""``pace-linkage workbench``: the analyst's workbench over a finished run, in the browser, on this machine only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.command import app, fail


@app.command()
def workbench(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder (made since re-clustering was added).")],
    port: Annotated[int | None, typer.Option("--port", min=1024, max=65535, help="Port on 127.0.0.1 (default: a free one).")] = None,
    store: Annotated[str | None, typer.Option("--store", help="The central store (a DuckDB path, duckdb:// or postgresql:// URL, as for run): "
                                              "cluster histories across incremental runs, and labels kept there too.")] = None,
) -> None:
    """Open a finished run in a local web application: choose a threshold and see what it would give (estimated without truth), look inside clusters and pairs, label pairs with the keyboard.

    It listens on 127.0.0.1 only and prints an address with a random token: open that address in your browser;
    a request without the token is refused. Labels are kept in the run folder (labels.csv, and the decisions in
    clerical.csv for `recluster --clerical` and the next incremental run). Stop it with Ctrl-C.

    With --store (which must exist), the cluster studio shows the history of the cluster's pace ids across the
    store's incremental runs, and each label is also appended to the store's labels table: the next incremental
    run against that store honours match / non-match labels as --clerical decisions. Without it no store is touched.
    """
    import secrets

    try:
        from flows.api import free_port
        from pace_linkage.workbench.app import create_app

        port = port or free_port()
        token = secrets.token_urlsafe(32)
        application = create_app(run_dir, token, port, store)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    import uvicorn

    from pace_linkage.store.urls import describe

    shown = f"\nstore        {describe(store)}" if store else ""
    typer.echo(f"workbench    run={run_dir}{shown}\nopen         http://127.0.0.1:{port}/?token={token}\n"
               "(Ctrl-C stops it)")
    uvicorn.run(application, host="127.0.0.1", port=port, access_log=False, log_level="warning")
