"""pairs.parquet written a row group at a time (the pairs frame built slice by slice, never whole) is the same
file, byte for byte, as the whole frame written at once with the same row group size."""

from __future__ import annotations

from unittest.mock import patch

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage import pipeline
from pace_linkage.evaluate import metrics
from pace_linkage.store import outputs
from pace_linkage.store.outputs import RunWriter, parquet_bytes, parquet_stream_bytes
from tests.evaluate.test_eval_speed import candidate_pairs


@settings(max_examples=20, deadline=None)
@given(candidate_pairs(), st.integers(1, 9))
def test_pairs_parquet_written_by_row_group_is_the_same_file(run, rows):
    with patch.object(outputs, "PARQUET_ROW_GROUP", rows):
        whole = parquet_bytes(metrics.pairs_frame(run))
        streamed = parquet_stream_bytes(metrics.pairs_slices(run, rows))
    assert streamed == whole
    assert pd.read_parquet(pd.io.common.BytesIO(streamed)).shape[0] == len(run.blocking.pairs)


@settings(max_examples=10, deadline=None)
@given(candidate_pairs(), st.integers(1, 5))
def test_pairs_file_staged_as_it_is_encoded_is_the_file_in_memory(tmp_path_factory, run, rows):
    writer = RunWriter(tmp_path_factory.mktemp("out"), None)
    try:
        with patch.object(outputs, "PARQUET_ROW_GROUP", rows):
            pipeline.stage_pairs_file(writer, run)
            in_memory = parquet_stream_bytes(metrics.pairs_slices(run, rows))
        staged = writer.staging / "pairs.parquet"
        assert staged.read_bytes() == in_memory and writer.files == ["pairs.parquet"]
        assert staged.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in writer.staging.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        writer.close()
