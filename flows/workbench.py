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
    save_to: Annotated[Path | None, typer.Option("--save-to", help="Folder where 'Save these ids' writes a set of ids at the chosen threshold (ids-at-<threshold>/, as `recluster` writes); not inside --run. Without it nothing is saved.")] = None,
) -> None:
    """Open a finished run in a local web application: choose a threshold and see what it would give (estimated without truth), look inside clusters and pairs, label pairs with the keyboard.

    It listens on 127.0.0.1 only and prints an address with a random token: open that address in your browser;
    a request without the token is refused. Labels are kept in the run folder (labels.csv, and the decisions in
    clerical.csv for `recluster --clerical` and the next incremental run); with --save-to, the ids at the
    chosen threshold can be saved as a set of their own, the labels' decisions honoured. Stop it with Ctrl-C.
    """
    import secrets

    try:
        from flows.api import free_port
        from pace_linkage.errors import InputError
        from pace_linkage.evaluate.recluster import out_problem
        from pace_linkage.workbench.app import create_app

        if save_to is not None and (problem := out_problem(run_dir, save_to)):
            raise InputError(problem.replace("--out", "--save-to", 1))
        port = port or free_port()
        token = secrets.token_urlsafe(32)
        application = create_app(run_dir, token, port, save_to)
    except Exception as exc:  # noqa: BLE001
        fail(exc)
    import uvicorn

    typer.echo(f"workbench    run={run_dir}\nopen         http://127.0.0.1:{port}/?token={token}\n"
               "(Ctrl-C stops it)")
    uvicorn.run(application, host="127.0.0.1", port=port, access_log=False, log_level="warning")
