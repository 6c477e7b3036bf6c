"""Truth given row for row in the records' order is read without a key lookup: the same person codes as the
lookup gives, and a truth that only looks aligned (other types, other order, duplicates) takes the lookup."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.errors import InputError
from pace_linkage.evaluate import quality
from pace_linkage.evaluate.quality import person_codes

ids = st.sampled_from(["1", "2", "a", " ", "", "x1"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dwp", "sds"]), ids), unique=True, max_size=12),
       st.lists(st.one_of(st.none(), st.sampled_from(["P1", "P2", " ", ""])), min_size=12, max_size=12),
       st.booleans(), st.booleans())
def test_aligned_truth_gives_the_codes_of_the_lookup(keys, people, numeric_ids, shuffle):
    records = pd.DataFrame(keys or [("dwp", "1")], columns=["source", "record_id"], dtype=object)
    truth = records.assign(person_id=people[:len(records)])
    if numeric_ids and records["record_id"].str.fullmatch(r"\d+").all():
        truth["record_id"] = truth["record_id"].astype(int)  # looks equal, but keys match as text
    if shuffle:
        truth = truth.iloc[::-1].reset_index(drop=True)
    got = person_codes(records, truth)
    with patch.object(quality, "_same_keys", lambda r, t: False):
        want = person_codes(records, truth)
    np.testing.assert_array_equal(got.codes, want.codes)
    assert (got.absent, got.not_clustered) == (want.absent, want.not_clustered)


def test_duplicate_records_are_refused_even_when_truth_is_aligned():
    records = pd.DataFrame({"source": ["dwp", "dwp"], "record_id": ["1", "1"]})
    with pytest.raises(InputError, match="records"):
        person_codes(records, records.assign(person_id=["P1", "P2"]))
