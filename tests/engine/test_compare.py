"""Compare: gamma levels per pair (null, first level that holds, else) and the recordlinkage seam."""

from __future__ import annotations

import numpy as np
import pandas as pd
import recordlinkage

from pace_linkage.engine.compare import compare
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec
from pace_linkage.engine.toolkit import MultiLevelFeature


def pairs_of(n: int) -> pd.DataFrame:
    """Pairs (0,1), (2,3), ... for records laid out two by two."""
    return pd.DataFrame({"l": np.arange(0, n, 2, dtype=np.int32), "r": np.arange(1, n, 2, dtype=np.int32)})


def two_by_two(**cols) -> pd.DataFrame:
    return pd.DataFrame({k: [x for pair in v for x in pair] for k, v in cols.items()})


NAME = ComparisonSpec(name="first_name", column="first_name", levels=[
    LevelSpec(type="exact"),
    LevelSpec(type="exact", column="first_name_canon"),
    LevelSpec(type="swapped", other="surname"),
    LevelSpec(type="jaro_winkler", threshold=0.92),
    LevelSpec(type="jaro_winkler", threshold=0.80),
])


def test_name_levels_pick_the_first_level_that_holds_and_null_is_minus_one():
    rec = two_by_two(
        first_name=[("JOHN", "JOHN"), ("BOB", "ROBERT"), ("SMITH", "JOHN"), ("MARTHA", "MARHTA"),
                    ("DWAYNE", "DUANE"), ("ANNA", "ZED"), ("ANNA", None)],
        first_name_canon=[("JOHN", "JOHN"), ("ROBERT", "ROBERT"), ("SMITH", "JOHN"), ("MARTHA", "MARHTA"),
                          ("DWAYNE", "DUANE"), ("ANNA", "ZED"), ("ANNA", None)],
        surname=[("X", "Y"), ("X", "Y"), ("JOHN", "SMITH"), ("X", "Y"), ("X", "Y"), ("X", "Y"), ("X", "Y")],
    )
    g = compare(rec, pairs_of(len(rec)), [NAME])["first_name"].tolist()
    assert g == [0, 1, 2, 3, 4, 5, -1]


def test_gamma_is_int8_and_aligned_with_the_pairs_index():
    rec = two_by_two(first_name=[("A", "A"), ("B", "C")], first_name_canon=[("A", "A"), ("B", "C")],
                     surname=[("X", "Y"), ("X", "Y")])
    pairs = pairs_of(4).set_axis([10, 20])
    gamma = compare(rec, pairs, [NAME])
    assert gamma["first_name"].dtype == np.int8 and gamma.index.tolist() == [10, 20]


def test_dob_levels_exact_swap_one_character_and_within_a_year():
    spec = ComparisonSpec(name="dob", column="dob", levels=[
        LevelSpec(type="exact"), LevelSpec(type="date_swap"), LevelSpec(type="levenshtein", threshold=1),
        LevelSpec(type="date_diff", threshold=366)])
    rec = two_by_two(dob=[("1980-03-04", "1980-03-04"), ("1980-03-04", "1980-04-03"), ("1980-03-04", "1980-03-05"),
                          ("1980-03-04", "1980-12-25"), ("1980-03-04", "1991-01-01"), ("1980-03-03", pd.NA)])
    assert compare(rec, pairs_of(len(rec)), [spec])["dob"].tolist() == [0, 1, 2, 3, 4, -1]


def test_null_columns_make_the_comparison_null_when_any_is_missing():
    spec = ComparisonSpec(name="pc", column="postcode", null_columns=["postcode", "postcode_sector"],
                          levels=[LevelSpec(type="exact"), LevelSpec(type="exact", column="postcode_sector")])
    rec = two_by_two(postcode=[("AB1 2CD", "AB1 2CE"), ("AB1 2CD", "AB1 2CD")],
                     postcode_sector=[("AB1 2", "AB1 2"), ("AB1 2", None)])
    assert compare(rec, pairs_of(4), [spec])["pc"].tolist() == [1, -1]


def test_damerau_counts_a_transposition_as_one_edit_and_levenshtein_as_two():
    dam = ComparisonSpec(name="d", column="x", levels=[LevelSpec(type="damerau", threshold=1)])
    lev = ComparisonSpec(name="v", column="x", levels=[LevelSpec(type="levenshtein", threshold=1)])
    rec = two_by_two(x=[("AB123456", "BA123456")])
    g = compare(rec, pairs_of(2), [dam, lev])
    assert g["d"].tolist() == [0] and g["v"].tolist() == [1]


def test_jaccard_token_set_prefix_and_numeric_levels():
    specs = [
        ComparisonSpec(name="jac", column="t", levels=[LevelSpec(type="jaccard", threshold=0.5)]),
        ComparisonSpec(name="tok", column="t", levels=[LevelSpec(type="token_set", threshold=0.99)]),
        ComparisonSpec(name="pre", column="t", levels=[LevelSpec(type="prefix", threshold=4)]),
        ComparisonSpec(name="num", column="n", levels=[LevelSpec(type="numeric_diff", threshold=2)]),
    ]
    rec = two_by_two(t=[("ACME LTD GLASGOW", "ACME GLASGOW"), ("ACME LTD", "BETA LTD CO")],
                     n=[(10, 12), (10, 13)])
    g = compare(rec, pairs_of(4), specs)
    assert g["jac"].tolist() == [0, 1]  # 2/3 shared words; then 1/4
    assert g["tok"].tolist() == [0, 1]
    assert g["pre"].tolist() == [0, 1]
    assert g["num"].tolist() == [0, 1]


def test_string_levels_give_the_same_gamma_with_and_without_value_pair_dedupe():
    rng = np.random.default_rng(1)
    names = np.array(["JOHN", "JON", "JOHNNY", "JANE", "JEAN", "JOAN"], dtype=object)
    n = 60_000
    rec = pd.DataFrame({"first_name": rng.choice(names, n), "first_name_canon": None, "surname": "X"})
    pairs = pd.DataFrame({"l": np.arange(0, n, 2, dtype=np.int32), "r": np.arange(1, n, 2, dtype=np.int32)})
    spec = ComparisonSpec(name="f", column="first_name",
                          levels=[LevelSpec(type="jaro_winkler", threshold=0.9)])
    big = compare(rec, pairs, [spec])["f"].to_numpy()  # repeated value pairs: computed once each
    small = np.concatenate([compare(rec, pairs.iloc[i:i + 1000], [spec])["f"].to_numpy()
                            for i in range(0, 3000, 1000)])
    assert (big[:3000] == small).all()


def test_multi_level_feature_plugs_into_recordlinkage_compare():
    df = pd.DataFrame({
        "first_name": ["JOHN", "JOHN", "BOB", "MARTHA", "MARHTA"],
        "first_name_canon": ["JOHN", "JOHN", "ROBERT", "MARTHA", "MARHTA"],
        "surname": ["X", "X", "Y", "Z", "Z"],
    })
    pairs = pd.MultiIndex.from_tuples([(0, 1), (0, 2), (3, 4)])
    cmp = recordlinkage.Compare()
    cmp.add(MultiLevelFeature(NAME))
    features = cmp.compute(pairs, df)
    assert features["first_name"].tolist() == [0, 5, 3]
