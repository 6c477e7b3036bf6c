"""A finished run folder for the workbench's tests, made through the library (no Prefect: seconds, not the
flow's start-up), with truth, as ``pace-linkage run`` publishes it; and its records as two incremental
deliveries into a DuckDB store, through the incremental flow's task functions (no Prefect flow)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import library_run

from pace_linkage.incremental import persist


@pytest.fixture(scope="session")
def bench_run(synth_data, tmp_path_factory):
    from pace_linkage import pipeline
    from pace_linkage.evaluate.metrics import load_truth

    run = library_run(synth_data / "extracts")
    doc = pipeline.evaluate_run(run, load_truth(synth_data / "truth.csv"))
    out = tmp_path_factory.mktemp("bench-run")
    pipeline.write_outputs(run, doc, pipeline.run_report(run, doc), out, "bench")
    return out


class Delivery:
    """One incremental run through the flow's tasks: load the state (and the store's labels), link, store."""

    def __init__(self, url, cfg, batches, records: pd.DataFrame, run_id: str, clerical: pd.DataFrame | None = None):
        from flows.incremental import link_batch, load_state, store_increment

        thr = cfg.linkage.threshold
        state, model, version, labels, seen = load_state.fn(str(url), cfg, records, run_id)
        self.labels = labels
        clerical = persist.with_labels(labels, clerical)  # as the flow does
        self.result = link_batch.fn(state, records, cfg, model=model, run_id=run_id, threshold=thr, deletions=None,
                                    clerical=clerical, refresh_model=False)
        run = persist.run_results(self.result, cfg, thr, batches, [], {}, None)
        store_increment.fn(run, self.result, str(url), run_id, version, labels_applied=seen)

    def pid(self, source: str, record_id: str) -> str:
        a = self.result.state.assignments
        return a.loc[(a["source"] == source) & (a["record_id"] == record_id), "pace_id"].item()


@pytest.fixture(scope="session")
def deliveries(synth_data, tmp_path_factory):
    """The bench run's records as two deliveries into one store (m1, then m2 with a must-link joining two of
    m1's persons); also a copy of the store as m1 left it."""
    from pace_linkage.config import load_config
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.pipeline import read_batches

    cfg = load_config()
    batches, _ = read_batches(cfg, synth_data / "extracts")
    records = assemble(batches)
    first = np.random.default_rng(3).random(len(records)) < 0.6
    base = tmp_path_factory.mktemp("wb-store")
    db = base / "pace.duckdb"
    m1 = Delivery(db, cfg, batches, records[first].reset_index(drop=True), "m1")
    shutil.copy(db, base / "after_m1.duckdb")
    persons = m1.result.state.assignments.drop_duplicates("pace_id")
    a, b = persons.iloc[[0, 1]].to_dict("records")
    must = pd.DataFrame([{"source_l": a["source"], "record_id_l": a["record_id"], "source_r": b["source"],
                          "record_id_r": b["record_id"], "decision": "must_link"}])
    m2 = Delivery(db, cfg, batches, records[~first].reset_index(drop=True), "m2", clerical=must)
    return {"cfg": cfg, "batches": batches, "records": records, "first": first, "db": db,
            "after_m1": base / "after_m1.duckdb", "m1": m1, "m2": m2, "a": a, "b": b}
