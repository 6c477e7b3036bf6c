"""pairs.parquet written a row group at a time (the pairs frame built slice by slice, never whole) is the same
file, byte for byte, as the whole frame written at once with the same row group size."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from unittest.mock import patch

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage import pipeline
from pace_linkage.evaluate import metrics
from pace_linkage.store import outputs
from pace_linkage.store.outputs import parquet_bytes, parquet_stream_bytes
from tests.evaluate.test_eval_speed import candidate_pairs


@settings(max_examples=20, deadline=None)
@given(candidate_pairs(), st.integers(1, 9))
def test_pairs_parquet_written_by_row_group_is_the_same_file(run, rows):
    with patch.object(outputs, "PARQUET_ROW_GROUP", rows):
        whole = parquet_bytes(metrics.pairs_frame(run))
        streamed = parquet_stream_bytes(metrics.pairs_slices(run, rows))
    assert streamed == whole
    assert pd.read_parquet(pd.io.common.BytesIO(streamed)).shape[0] == len(run.blocking.pairs)


class Run(SimpleNamespace):
    """A stand-in run that can be weakly referenced, as RunResults can."""


@settings(max_examples=10, deadline=None)
@given(candidate_pairs())
def test_pairs_file_started_early_is_the_file_written_late(run):
    run = Run(**vars(run))
    with patch.object(pipeline, "pairs_parquet", lambda r: parquet_stream_bytes(metrics.pairs_slices(r, 3))):
        pending = pipeline.start_pairs_file(run)
        early = pipeline.pairs_file(run)
        again = pipeline.pairs_file(run)  # once taken, made again: a retried stage gets the same bytes
    assert pending is not None and early == again == parquet_stream_bytes(metrics.pairs_slices(run, 3))


def test_a_run_dropped_before_its_outputs_takes_its_pending_file_with_it():
    run = Run(blocking=None)
    with patch.object(pipeline, "pairs_parquet", lambda r: b"bytes"):
        pipeline.start_pairs_file(run).result(timeout=10)
    assert any(ref() is run for ref, _ in pipeline._PENDING)
    del run
    gc.collect()
    assert pipeline._PENDING == []
