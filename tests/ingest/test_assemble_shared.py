"""The assembled records and the batches share memory: a run holds each record once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pace_linkage.config import load_config
from pace_linkage.ingest.sources import assemble, assemble_shared, count_totals, coverage
from pace_linkage.pipeline import read_batches


@pytest.fixture(scope="module")
def batches(synth_data):
    return read_batches(load_config(), synth_data / "extracts")[0]


def _buffer(values) -> np.ndarray:
    arr = values.array
    inner = getattr(arr, "_ndarray", None)
    if inner is None:
        inner = getattr(arr, "_data", None)
    return np.asarray(arr) if inner is None else inner


def test_same_records_counts_and_coverage(batches):
    records, shared = assemble_shared(batches)
    pd.testing.assert_frame_equal(records, assemble(batches))
    assert [b.source for b in shared] == [b.source for b in batches]
    assert count_totals(shared, []) == count_totals(batches, [])
    assert coverage(shared, load_config()) == coverage(batches, load_config())
    for old, new in zip(batches, shared, strict=True):
        assert list(new.records.columns) == list(old.records.columns)
        key = list(old.records.columns)
        expect = old.records.sort_values("record_id", key=lambda s: s.astype(str)).reset_index(drop=True)[key]
        pd.testing.assert_frame_equal(new.records, expect, check_dtype=False)


def test_batches_hold_no_copy(batches):
    records, shared = assemble_shared(batches)
    for b in shared:
        for col in b.records.columns:
            assert np.shares_memory(_buffer(b.records[col]), _buffer(records[col])), col
