"""u pairs for small inputs: every allowed record pair once, instead of a random sample larger than them all."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.training import sample_random_pairs, total_pairs, u_pairs

LINK_TYPES = ("link_and_dedupe", "link_only", "dedupe_only")


def _records(sources: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"source": sources, "record_id": [str(i) for i in range(len(sources))]})


def _allowed(rec: pd.DataFrame, link_type: str) -> set[tuple[int, int]]:
    src = rec["source"].tolist()
    n = len(src)
    keep = {"link_and_dedupe": lambda a, b: True, "link_only": lambda a, b: a != b,
            "dedupe_only": lambda a, b: a == b}[link_type]
    return {(i, j) for i in range(n) for j in range(i + 1, n) if keep(src[i], src[j])}


@settings(max_examples=60, deadline=None)
@given(sources=st.lists(st.sampled_from("abc"), max_size=40), link_type=st.sampled_from(LINK_TYPES),
       extra=st.integers(0, 50))
def test_small_inputs_enumerate_every_allowed_pair_once(sources, link_type, extra):
    rec = _records(sources)
    total = total_pairs(rec, link_type)
    pairs = u_pairs(rec, max(total, 1) + extra, link_type, seed=3)
    got = list(zip(pairs["l"].tolist(), pairs["r"].tolist(), strict=True))
    assert len(got) == total == len(set(got))
    assert set(got) == _allowed(rec, link_type)
    assert pairs["l"].dtype == np.int32 and pairs["r"].dtype == np.int32


def test_larger_inputs_keep_the_seeded_random_sample():
    rec = _records(["a"] * 30 + ["b"] * 20)
    for link_type in LINK_TYPES:
        n_pairs = total_pairs(rec, link_type) - 1
        assert u_pairs(rec, n_pairs, link_type, seed=1).equals(sample_random_pairs(rec, n_pairs, link_type, seed=1))


def test_one_dominant_source_enumerates_cross_pairs_without_all_pairs():
    rec = _records(["a"] * 3000 + ["b"] * 2)
    pairs = u_pairs(rec, 10_000, "link_only", seed=0)
    assert len(pairs) == 6000
    src = rec["source"].to_numpy()
    assert (src[pairs["l"]] != src[pairs["r"]]).all()
