"""Blocking: exact-key and sorted-neighbourhood rules, union, link types, limits, truth statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pace_linkage.engine.blocking import block, blocking_stats_with_truth, composite_key
from pace_linkage.engine.settings import BlockingRule
from pace_linkage.errors import LinkageError


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "source": ["a", "a", "a", "b", "b", "b"],
        "record_id": ["1", "2", "3", "1", "2", "3"],
        "surname": ["SMITH", "SMITH", None, "SMITH", "JONES", "JONES"],
        "dob": ["1980-01-01", "1980-01-01", "1980-01-01", None, "1990-02-02", "1990-02-02"],
        "postcode": ["AB1 2CD", None, "AB1 2CD", "AB1 2CD", "EH1 1AA", np.nan],
    })


def brute_force(records: pd.DataFrame, cols: list[str]) -> set[tuple[int, int]]:
    out = set()
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            a, b = records.loc[i, cols], records.loc[j, cols]
            if a.notna().all() and b.notna().all() and (a.to_numpy() == b.to_numpy()).all():
                out.add((i, j))
    return out


def as_set(pairs: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(pairs["l"].tolist(), pairs["r"].tolist(), strict=True))


def test_exact_rule_pairs_match_brute_force_and_nulls_never_agree():
    rec = frame()
    res = block(rec, [BlockingRule(name="s", on=["surname"])])
    assert as_set(res.pairs) == brute_force(rec, ["surname"]) == {(0, 1), (0, 3), (1, 3), (4, 5)}


def test_pairs_are_typed_sorted_unique_and_left_below_right():
    rec = frame()
    res = block(rec, [BlockingRule(name="s", on=["surname"]), BlockingRule(name="d", on=["dob"])])
    p = res.pairs
    assert p["l"].dtype == np.int32 and p["r"].dtype == np.int32 and p["rule"].dtype == np.int8
    assert (p["l"] < p["r"]).all()
    assert not p.duplicated(["l", "r"]).any()
    assert p.sort_values(["l", "r"]).index.tolist() == list(range(len(p)))


def test_union_attributes_each_pair_to_the_first_rule_and_counts_net_additions():
    rec = frame()
    res = block(rec, [BlockingRule(name="s", on=["surname"]), BlockingRule(name="d", on=["dob"])])
    rules = dict(zip(zip(res.pairs["l"], res.pairs["r"], strict=True), res.pairs["rule"], strict=True))
    assert rules[(0, 1)] == 0 and rules[(4, 5)] == 0  # both rules hold; the first wins
    assert rules[(0, 2)] == 1 and rules[(1, 2)] == 1
    stats = res.stats.set_index("rule")
    assert stats.loc["s", "pairs_generated"] == 4 and stats.loc["s", "pairs_added"] == 4
    assert stats.loc["d", "pairs_generated"] == 4 and stats.loc["d", "pairs_added"] == 2


def test_composite_key_rule_needs_every_column_to_agree():
    rec = frame()
    res = block(rec, [BlockingRule(name="sd", on=["surname", "dob"])])
    assert as_set(res.pairs) == brute_force(rec, ["surname", "dob"]) == {(0, 1), (4, 5)}


def test_composite_key_is_null_when_any_column_is_null():
    key = composite_key(frame(), ["surname", "postcode"])
    assert key[1] == -1 and key[2] == -1 and key[5] == -1 and key[0] >= 0


def test_link_only_drops_same_source_pairs_and_dedupe_only_keeps_them():
    rec = frame()
    rule = [BlockingRule(name="s", on=["surname"])]
    assert as_set(block(rec, rule, "link_only").pairs) == {(0, 3), (1, 3)}
    assert as_set(block(rec, rule, "dedupe_only").pairs) == {(0, 1), (4, 5)}


def test_rule_over_the_pair_limit_raises_naming_rule_and_count_without_values():
    rec = frame()
    with pytest.raises(LinkageError) as err:
        block(rec, [BlockingRule(name="by_surname", on=["surname"])], max_pairs_per_rule=3)
    assert "by_surname" in str(err.value) and "4" in str(err.value) and "SMITH" not in str(err.value)


def test_sorted_neighbourhood_pairs_records_within_the_window():
    rec = pd.DataFrame({"source": "a", "record_id": list("abcde"),
                        "surname": ["D", "A", "C", None, "B"]})
    res = block(rec, [BlockingRule(name="sn", on=["surname"], window=2)])
    # sorted: A(1) B(4) C(2) D(0); neighbours: (1,4) (4,2) (2,0)
    assert as_set(res.pairs) == {(1, 4), (2, 4), (0, 2)}
    res3 = block(rec, [BlockingRule(name="sn", on=["surname"], window=3)])
    assert as_set(res3.pairs) == {(1, 4), (2, 4), (0, 2), (1, 2), (0, 4)}


def test_large_random_blocking_matches_brute_force_counts():
    rng = np.random.default_rng(0)
    rec = pd.DataFrame({"source": rng.choice(["a", "b"], 400), "record_id": [str(i) for i in range(400)],
                        "k": rng.integers(0, 30, 400).astype(str)})
    res = block(rec, [BlockingRule(name="k", on=["k"])])
    sizes = rec["k"].value_counts().to_numpy()
    assert len(res.pairs) == int((sizes * (sizes - 1) // 2).sum())
    assert (rec["k"].to_numpy()[res.pairs["l"]] == rec["k"].to_numpy()[res.pairs["r"]]).all()


def test_blocking_stats_with_truth_reports_completeness_and_reduction_ratio():
    rec = frame()
    res = block(rec, [BlockingRule(name="s", on=["surname"]), BlockingRule(name="d", on=["dob"])])
    truth = ["p1", "p1", "p1", "p2", "p3", "p3"]  # true pairs: (0,1) (0,2) (1,2) (4,5)
    st = blocking_stats_with_truth(res.pairs, len(rec), truth, ["s", "d"]).set_index("rule")
    assert st.loc["all", "pairs_completeness"] == 1.0
    assert st.loc["s", "true_pairs_found"] == 2 and st.loc["d", "true_pairs_found"] == 2
    assert st.loc["all", "reduction_ratio"] == pytest.approx(1 - 6 / 15)
