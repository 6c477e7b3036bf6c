"""Evaluating reads the column codes the comparisons derived (handed over in ``RunResults.column_codes``)
instead of coding the columns again: the codes, distinct values and every figure are the same as when
evaluate codes the columns itself."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import library_run
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.linker import Linker
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.pipeline import evaluate_run
from tests.evaluate.test_eval_speed import record_frames


@settings(max_examples=25, deadline=None)
@given(record_frames(), st.lists(st.sampled_from(["first", "surname", "dob"]), unique=True, max_size=3),
       st.booleans())
def test_a_cache_given_another_caches_codes_codes_every_column_as_a_fresh_cache(case, coded, as_text):
    records = case[0].astype("string") if as_text else case[0]
    subset = records[coded]  # the comparisons' context holds some of the columns only
    earlier = ColumnCache(subset)
    for col in coded:
        earlier.codes(col)
    known = earlier.coded()
    assert sorted(known) == sorted(coded)
    known["not_a_column"] = (np.zeros(len(records), np.int64), np.asarray([], dtype=object))
    cache, fresh = ColumnCache(records, known), ColumnCache(records)
    for col in records.columns:
        np.testing.assert_array_equal(cache.codes(col), fresh.codes(col))
        np.testing.assert_array_equal(cache.uniques(col), fresh.uniques(col))
        if col in coded:  # taken, not coded again
            assert cache.codes(col) is known[col][0]


def test_codes_of_other_records_are_not_taken():
    records = pd.DataFrame({"a": ["x", "y", "x"]}, dtype="string")
    other = ColumnCache(records.iloc[:2].reset_index(drop=True))
    other.codes("a")
    cache = ColumnCache(records, other.coded())
    np.testing.assert_array_equal(cache.codes("a"), [0, 1, 0])


@pytest.fixture(scope="module")
def linked(synth_data):
    run = library_run(synth_data / "extracts")
    truth = load_truth(synth_data / "truth.csv")
    linker = Linker.from_config(run.cfg)
    ctx = linker.context(run.records, truth)
    linker.compare(ctx, run.blocking.pairs)
    return run, truth, ctx.coded()


def test_metrics_with_the_comparisons_codes_are_the_metrics_without(linked):
    run, truth, coded = linked
    assert coded and all(len(c) == len(run.records) for c, _ in coded.values())
    handed = replace(run, column_codes=dict(coded))
    with_codes = evaluate_run(handed, truth)
    assert handed.column_codes == {}  # taken once: not held after evaluating
    without = evaluate_run(replace(run, column_codes={}), truth)
    assert json.dumps(with_codes, sort_keys=True, default=str) == json.dumps(without, sort_keys=True, default=str)
