"""Serve the pipeline as a Prefect deployment: analysts start runs, with parameters, from the Prefect UI.

Needs a Prefect server (``prefect server start --host 127.0.0.1``) and ``PREFECT_API_URL`` pointing at it;
the default ``pace-linkage run`` path needs neither.
"""

from __future__ import annotations

import flows.settings  # noqa: F401
from flows.pipeline import pace_linkage_pipeline

DEFAULT_PARAMETERS = {"extracts": "out/data/extracts", "out": "out", "truth": "out/data/truth.csv"}


def deployment(name: str = "pace-linkage"):
    """The pipeline flow as a runnable deployment, with default parameters an analyst can change in the UI."""
    return pace_linkage_pipeline.to_deployment(
        name=name,
        description="Link PACE partner extracts into PACE ids and write the quality report.",
        tags=["pace", "linkage"],
        parameters=DEFAULT_PARAMETERS,
    )


def serve_pipeline(name: str = "pace-linkage") -> None:
    from prefect import serve

    serve(deployment(name))


if __name__ == "__main__":
    serve_pipeline()
