"""A rule's ``max_group``: key values shared by too many records pair nobody under that rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pace_linkage.engine.blocking import block, drop_common, rule_key
from pace_linkage.engine.settings import BlockingRule


def pairs(rec: pd.DataFrame, rule: BlockingRule, new=None) -> set[tuple[int, int]]:
    res = block(rec, [rule], new=new)
    return set(zip(res.pairs["l"].tolist(), res.pairs["r"].tolist(), strict=True))


def test_a_value_more_records_share_than_max_group_gives_no_pair():
    rec = pd.DataFrame({"surname": ["SMITH"] * 4 + ["ROSS"] * 2 + ["GUNN", None]})
    capped = BlockingRule(name="s", on=["surname"], max_group=3)
    assert pairs(rec, capped) == {(4, 5)}  # the four SMITHs are too many; the two ROSSes pair
    assert len(pairs(rec, BlockingRule(name="s", on=["surname"]))) == 6 + 1
    assert (rule_key(rec, capped)[:4] == -1).all() and rule_key(rec, capped)[7] == -1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["A", "B", "C", "D", None]), min_size=1, max_size=30), st.integers(2, 6),
       st.lists(st.booleans(), min_size=30, max_size=30))
def test_capped_pairs_are_the_uncapped_pairs_of_small_groups_and_incremental_agrees(values, cap, flags):
    rec = pd.DataFrame({"k": values})
    size = rec["k"].map(rec["k"].value_counts())
    full = pairs(rec, BlockingRule(name="k", on=["k"]))
    capped = pairs(rec, BlockingRule(name="k", on=["k"], max_group=cap))
    assert capped == {(a, b) for a, b in full if size[a] <= cap}
    assert len(capped) <= len(rec) * (cap - 1) / 2
    new = np.array(flags[: len(rec)])
    touching = {(a, b) for a, b in capped if new[a] or new[b]}
    assert pairs(rec, BlockingRule(name="k", on=["k"], max_group=cap), new=new) == touching


def test_drop_common_leaves_a_key_without_limit_alone():
    key = np.array([0, 0, 1, -1])
    assert drop_common(key, None) is key


def test_max_group_is_for_exact_key_rules():
    with pytest.raises(ValidationError, match="not to a sorted-neighbourhood window"):
        BlockingRule(name="w", on=["surname"], window=3, max_group=5)
    with pytest.raises(ValidationError):
        BlockingRule(name="s", on=["surname"], max_group=1)
