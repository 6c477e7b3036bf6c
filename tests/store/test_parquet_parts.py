"""Row groups encoded side by side and joined (pace_linkage.store.parquet_parts) make the file one writer
makes, byte for byte; the footer's Thrift encoding reads and writes back unchanged."""

from __future__ import annotations

import functools
from unittest.mock import patch

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage import pipeline
from pace_linkage.evaluate import metrics
from pace_linkage.store import outputs, parquet_parts
from pace_linkage.store.outputs import RunWriter, parquet_stream_bytes, write_parquet_parts
from tests.evaluate.test_eval_speed import candidate_pairs


@st.composite
def frames(draw):
    n = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    text = st.one_of(st.none(), st.text(max_size=5))
    out = []
    for size in sizes:
        out.append(pd.DataFrame({
            "s": pd.array(draw(st.lists(text, min_size=size, max_size=size)), dtype="string[pyarrow]"),
            "g": np.array(draw(st.lists(st.integers(-1, 3), min_size=size, max_size=size)), dtype=np.int8),
            "w": np.array(draw(st.lists(st.floats(allow_nan=True), min_size=size, max_size=size)))}))
    return out


def joined_bytes(parts: list[pd.DataFrame], workers: int) -> bytes:
    sink = pa.BufferOutputStream()
    write_parquet_parts(sink, [functools.partial(lambda f: f, f) for f in parts], workers)
    return sink.getvalue().to_pybytes()


@settings(max_examples=60, deadline=None)
@given(frames(), st.integers(1, 3))
def test_row_groups_joined_are_the_file_one_writer_makes(parts, workers):
    one_writer = parquet_stream_bytes(parts)
    assert joined_bytes(parts, workers) == one_writer
    back = pq.read_table(pa.BufferReader(one_writer))
    assert back.num_rows == sum(len(f) for f in parts) and pq.ParquetFile(pa.BufferReader(one_writer)
                                                                          ).num_row_groups == len(parts)


@settings(max_examples=15, deadline=None)
@given(candidate_pairs(), st.integers(1, 9))
def test_pairs_file_from_row_groups_side_by_side_is_the_same_file(tmp_path_factory, run, rows):
    writer = RunWriter(tmp_path_factory.mktemp("out"), None)
    try:
        with patch.object(outputs, "PARQUET_ROW_GROUP", rows):
            pipeline.stage_pairs_file(writer, run)
            one_writer = parquet_stream_bytes(metrics.pairs_slices(run, rows))
        assert (writer.staging / "pairs.parquet").read_bytes() == one_writer
    finally:
        writer.close()


def test_a_row_group_larger_than_the_default_page_and_many_groups():
    rng = np.random.default_rng(7)
    parts = [pd.DataFrame({"id": pd.array([f"R{v}" for v in rng.integers(0, 10**9, 30_000)], dtype="string[pyarrow]"),
                           "w": rng.normal(size=30_000)}) for _ in range(17)]
    assert joined_bytes(parts, 2) == parquet_stream_bytes(parts)


def test_footer_reads_and_writes_back_unchanged():
    data = parquet_stream_bytes([pd.DataFrame({"a": ["x", None], "b": [1.5, 2.0]})])
    body, meta = parquet_parts.split(data)
    assert data[:4] + body == data[:len(body) + 4]
    assert parquet_parts.encode(parquet_parts.decode(parquet_parts.encode(meta))) == parquet_parts.encode(meta)


def test_parts_of_another_schema_are_refused():
    a, b = pd.DataFrame({"x": [1]}), pd.DataFrame({"y": [1.0]})
    with pytest.raises(ValueError, match="schema"):
        joined_bytes([a, b], 2)
    with pytest.raises(parquet_parts.ThriftError):
        parquet_parts.split(b"PAR1" + b"\x05\x00\x00\x00" + b"PAR1")


def test_a_footer_the_join_cannot_read_falls_back_to_one_writer(tmp_path):
    parts = [pd.DataFrame({"g": np.arange(3, dtype=np.int8) + k}) for k in range(3)]
    makers = [functools.partial(lambda f: f, f) for f in parts]
    writer = RunWriter(tmp_path / "out", "fallback")
    try:
        with patch.object(parquet_parts, "decode", side_effect=parquet_parts.ThriftError("unknown field")):
            path = writer.write_parquet_parts("pairs.parquet", makers)
        assert path.read_bytes() == parquet_stream_bytes(parts)
        assert [p.name for p in path.parent.iterdir()] == ["pairs.parquet"]  # no temporary file left
    finally:
        writer.close()
