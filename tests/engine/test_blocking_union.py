"""The union of the rules' pairs: each pair once, attributed to the first rule producing it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.engine.blocking import rule_coded, union_pairs
from pace_linkage.schema import LEFT, RIGHT, RULE

pair_lists = st.lists(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=40), min_size=1,
                      max_size=6)


@settings(max_examples=60, deadline=None)
@given(rules=pair_lists)
def test_union_is_first_rule_per_pair(rules):
    n = 30
    rules = [[(min(a, b), max(a, b)) for a, b in pairs if a != b] for pairs in rules]
    codes = [rule_coded(np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], np.int64),
                        n, i) for i, pairs in enumerate(rules)]
    result = union_pairs(codes, n, [f"r{i}" for i in range(len(rules))])
    first: dict[tuple[int, int], int] = {}
    for i, pairs in enumerate(rules):
        for p in pairs:
            first.setdefault(p, i)
    expect = sorted(first.items())
    got = list(zip(result.pairs[LEFT].tolist(), result.pairs[RIGHT].tolist(), strict=True))
    assert got == [p for p, _ in expect]
    assert result.pairs[RULE].tolist() == [i for _, i in expect]
    assert [result.pairs[c].dtype for c in (LEFT, RIGHT, RULE)] == [np.int32, np.int32, np.int8]
    assert result.stats["pairs_generated"].tolist() == [len(set(pairs)) for pairs in rules]
    assert result.stats["pairs_added"].tolist() == [sum(1 for i2 in first.values() if i2 == i)
                                                    for i in range(len(rules))]
    assert codes == []  # the rules' arrays are released as they are joined


def test_kept_keys_are_the_rules_keys_and_are_handed_over_once(synth_data):
    from pace_linkage.config import load_config
    from pace_linkage.engine.blocking import block
    from pace_linkage.engine.linker import Linker
    from pace_linkage.engine.training import rule_keys
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.pipeline import read_batches

    cfg = load_config()
    records = Linker.from_config(cfg).prepare(assemble(read_batches(cfg, synth_data / "extracts")[0]))
    rules = cfg.linkage.blocking
    kept = block(records, rules, keep_keys=True)
    expect = rule_keys(records, rules)
    keys = kept.take_keys()
    assert kept.keys is None and kept.take_keys() is None
    assert len(keys) == len(expect) and any(k is not None for k in keys)
    for got, want in zip(keys, expect, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_array_equal(got, want)
    plain = block(records, rules)
    assert plain.keys is None
    assert plain.pairs.equals(kept.pairs) and plain.stats.equals(kept.stats)
