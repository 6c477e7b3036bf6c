"""u from every pair of a small input, counted over distinct value profiles: the same counts as comparing
every pair one by one."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare
from pace_linkage.engine.em import level_counts
from pace_linkage.engine.settings import ComparisonSpec
from pace_linkage.engine.training import all_pairs, estimate_u, profile_level_counts, total_pairs

LINK_TYPES = ("link_and_dedupe", "link_only", "dedupe_only")
NAMES = st.one_of(st.none(), st.sampled_from(["ann", "anne", "annie", "bob", "rob", "robert", "ann marie"]))

COMPARISONS = [
    ComparisonSpec(name="first_name", column="first_name", levels=[
        {"type": "exact"}, {"type": "jaro_winkler", "threshold": 0.85},
        {"type": "swapped", "other": "surname"}]),
    ComparisonSpec(name="surname", column="surname", levels=[{"type": "exact", "tf": True}, {"type": "jaccard",
                                                                                             "threshold": 0.5}]),
    ComparisonSpec(name="dob", column="dob", levels=[{"type": "exact"}, {"type": "date_diff", "threshold": 40}]),
]


def _records(rows) -> pd.DataFrame:
    src, first, last, dob = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pd.DataFrame({"source": list(src), "record_id": [str(i) for i in range(len(rows))],
                         "first_name": list(first), "surname": list(last), "dob": list(dob)}, dtype=object)


ROWS = st.lists(st.tuples(st.sampled_from("ab"), NAMES, NAMES,
                          st.one_of(st.none(), st.sampled_from(["1970-01-02", "1970-02-01", "1971-01-02"]))),
                min_size=2, max_size=40)


@settings(max_examples=60)
@given(rows=ROWS, link_type=st.sampled_from(LINK_TYPES))
def test_profile_counts_equal_the_counts_of_every_pair(rows, link_type):
    rec = _records(rows)
    pairs = all_pairs(rec, link_type)
    gamma = compare(rec, pairs, COMPARISONS, cache=ColumnCache(rec))
    cache = ColumnCache(rec)
    l_, r_ = pairs["l"].to_numpy(np.int64), pairs["r"].to_numpy(np.int64)
    for spec in COMPARISONS:
        want = level_counts(gamma[spec.name].to_numpy(), len(spec.levels) + 1)
        got = profile_level_counts(cache, spec, l_, r_)
        assert got.dtype == want.dtype
        assert np.array_equal(got, want), spec.name


def test_estimate_u_of_a_small_input_is_exact_and_counts_every_pair():
    rows = [("a", "ann", "smith", "1970-01-02"), ("a", "ann", "smith", "1970-01-02"), ("b", "anne", None, None),
            ("b", "bob", "jones", "1971-01-02"), ("a", None, "jones", "1970-02-01")]
    rec = _records(rows)
    total = total_pairs(rec, "link_and_dedupe")
    u, counts = estimate_u(rec, COMPARISONS, "link_and_dedupe", n_pairs=total, seed=0)
    pairs = all_pairs(rec, "link_and_dedupe")
    gamma = compare(rec, pairs, COMPARISONS)
    for spec in COMPARISONS:
        g = gamma[spec.name].to_numpy()
        assert counts[spec.name].sum() == (g >= 0).sum()
        assert np.array_equal(counts[spec.name], level_counts(g, len(spec.levels) + 1))
