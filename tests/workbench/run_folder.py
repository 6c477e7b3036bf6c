"""A finished run folder for the workbench's tests, made through the library (no Prefect: seconds, not the
flow's start-up), with truth, as ``pace-linkage run`` publishes it."""

from __future__ import annotations

import pytest
from conftest import library_run


@pytest.fixture(scope="session")
def bench_run(synth_data, tmp_path_factory):
    from pace_linkage import pipeline
    from pace_linkage.evaluate.metrics import load_truth

    run = library_run(synth_data / "extracts")
    doc = pipeline.evaluate_run(run, load_truth(synth_data / "truth.csv"))
    out = tmp_path_factory.mktemp("bench-run")
    pipeline.write_outputs(run, doc, pipeline.run_report(run, doc), out, "bench")
    return out
