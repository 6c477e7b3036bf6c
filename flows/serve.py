"""Serve the pipeline as a Prefect deployment: analysts start runs, with parameters, from the Prefect UI.

Needs a Prefect server (``prefect server start --host 127.0.0.1``) and ``PREFECT_API_URL`` pointing at it;
the default ``pace-linkage run`` path needs neither.
"""

from __future__ import annotations

import flows.settings  # noqa: F401
from flows.pipeline import pace_linkage_pipeline


def serve_pipeline(name: str = "pace-linkage") -> None:
    pace_linkage_pipeline.serve(
        name=name,
        description="Link PACE partner extracts into PACE ids and write the quality report.",
        tags=["pace", "linkage"],
        parameters={"extracts": "out/data/extracts", "out": "out", "truth": "out/data/truth.csv"},
    )


if __name__ == "__main__":
    serve_pipeline()
