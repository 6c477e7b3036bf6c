"""Comparison levels for organisation names: word-IDF weighted Jaccard, token set, and their config checks."""

import numpy as np
import pandas as pd
import pytest

from pace_linkage.config import PaceConfig
from pace_linkage.engine.compare import ColumnCache, compare_one, level_holds
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec
from pace_linkage.errors import ConfigError


def _holds(values, pairs, level):
    cache = ColumnCache(pd.DataFrame({"name": pd.array(values, dtype="string")}))
    l_ = np.array([a for a, _ in pairs], dtype=np.int64)
    r_ = np.array([b for _, b in pairs], dtype=np.int64)
    return level_holds(cache, level, "name", l_, r_).tolist()


# Many names carry THE and BAKERY; CLYDE, FORTH and TAY are rare.
NAMES = [
    "THE CLYDE BAKERY",
    "THE FORTH BAKERY",
    "CLYDE BAKERY",
    "THE TAY BAKERY",
    "THE BAKERY SHOP",
    "THE BAKERY",
    "THE NESS BAKERY",
    "THE DEE BAKERY",
    "THE SPEY BAKERY",
    None,
]


def test_weighted_jaccard_counts_rare_words_more_than_common_ones():
    weighted = LevelSpec(type="weighted_jaccard", threshold=0.5)
    plain = LevelSpec(type="jaccard", threshold=0.5)
    # THE CLYDE BAKERY vs THE FORTH BAKERY share two of four words, but only the common ones
    assert _holds(NAMES, [(0, 1)], plain) == [True]
    assert _holds(NAMES, [(0, 1)], weighted) == [False]
    # dropping the common THE leaves the rare word in common: similar
    assert _holds(NAMES, [(0, 2)], weighted) == [True]


def test_weighted_jaccard_holds_for_identical_values_and_never_for_nulls():
    level = LevelSpec(type="weighted_jaccard", threshold=0.99)
    assert _holds(NAMES, [(5, 5), (0, 9), (9, 9)], level) == [True, False, False]


def test_token_set_sees_a_name_inside_a_longer_one():
    level = LevelSpec(type="token_set", threshold=0.9)
    values = ["KELLY ENGINEERING", "KELLY ENGINEERING GROUP", "KELLY FOODS"]
    assert _holds(values, [(0, 1), (0, 2)], level) == [True, False]


def test_an_org_name_comparison_gives_each_pair_its_first_holding_level():
    spec = ComparisonSpec(
        name="name",
        column="name",
        levels=[
            LevelSpec(type="exact"),
            LevelSpec(type="exact", column="core"),
            LevelSpec(type="weighted_jaccard", column="core", threshold=0.5),
        ],
    )
    records = pd.DataFrame(
        {
            "name": pd.array(
                ["THE CLYDE BAKERY", "THE CLYDE BAKERY", "CLYDE BAKERY", "BAKERY CLYDE", "FORTH MILLS"],
                dtype="string",
            ),
            "core": pd.array(
                ["CLYDE BAKERY", "CLYDE BAKERY", "CLYDE BAKERY", "BAKERY CLYDE", "FORTH MILLS"],
                dtype="string",
            ),
        }
    )
    l_, r_ = np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4])
    assert compare_one(ColumnCache(records), spec, l_, r_).tolist() == [0, 1, 2, 3]


def test_weighted_jaccard_needs_a_threshold_in_config():
    from pace_linkage.config import check_references

    cfg = PaceConfig.model_validate(
        {
            "entity": "employer",
            "id_column": "pace_employer_id",
            "fields": {"name": {"kind": "org_name"}},
            "identifying_fields": ["name"],
            "sources": {
                "items": [{"name": "bg", "file": "x.csv", "record_id": "id", "columns": {"name": "n"}}]
            },
            "linkage": {
                "blocking": [{"name": "core", "on": ["name_core"]}],
                "comparisons": [
                    {
                        "name": "name",
                        "column": "name",
                        "levels": [{"type": "weighted_jaccard", "column": "name_core"}],
                    }
                ],
            },
        }
    )
    errors = check_references(cfg)
    assert any("threshold: required for type weighted_jaccard" in e for e in errors)


def test_an_unknown_derived_column_of_an_org_name_is_a_config_error(tmp_path):
    from pace_linkage.config import load_config

    text = tmp_path / "e.yaml"
    text.write_text(
        "entity: employer\nid_column: pace_employer_id\nfields: {name: {kind: org_name}}\n"
        "identifying_fields: [name]\n"
        "sources: {items: [{name: bg, file: x.csv, record_id: id, columns: {name: n}}]}\n"
        "linkage: {blocking: [{name: b, on: [name_sound]}], comparisons: [{name: n, column: name, levels: "
        "[{type: exact}]}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="name_sound"):
        load_config(text)
