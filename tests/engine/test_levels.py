"""Comparison level types: one class each, registered in one place; settings validate against the registry."""

from __future__ import annotations

import pytest
from conftest import write
from pydantic import ValidationError

from pace_linkage.config import load_config
from pace_linkage.engine.levels import LEVEL_TYPES, LevelType
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec
from pace_linkage.errors import ConfigError

CONFIG = """
fields: {surname: {kind: name}}
identifying_fields: [surname]
sources: {items: [{name: p, file: p.csv, record_id: id, columns: {surname: Surname}}]}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [LEVEL]}]
"""


def test_every_level_type_is_registered_under_its_own_name_with_a_rule():
    assert {"exact", "prefix", "swapped", "date_swap", "date_diff", "numeric_diff", "jaro_winkler", "levenshtein",
            "damerau", "token_set", "jaccard", "weighted_jaccard", "dice"} <= set(LEVEL_TYPES)
    for name, kind in LEVEL_TYPES.items():
        assert kind.name == name and type(kind).holds is not LevelType.holds and type(kind).__doc__


def test_an_unknown_level_type_is_refused_naming_the_known_types(tmp_path):
    with pytest.raises(ValidationError, match="unknown level type 'jaro' .known: exact, prefix"):
        LevelSpec(type="jaro")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", CONFIG.replace("LEVEL", "{type: jaro}")))
    assert "pace.yaml: linkage.comparisons.0.levels.0.type: " in str(err.value)
    assert "unknown level type 'jaro'" in str(err.value)


def test_a_level_says_what_its_type_needs():
    spec = ComparisonSpec(name="n", column="n", levels=[
        LevelSpec(type="jaro_winkler"), LevelSpec(type="swapped"), LevelSpec(type="levenshtein", threshold=1.5),
        LevelSpec(type="exact"), LevelSpec(type="damerau", threshold=2)])
    assert spec.level_problems() == ["levels.0.threshold: required for type jaro_winkler",
                                     "levels.1.other: required for type swapped",
                                     "levels.2.threshold: must be a whole number for type levenshtein"]


def test_a_fractional_edit_distance_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"linkage.comparisons.0.levels.0.threshold: must be a whole number"):
        load_config(write(tmp_path / "pace.yaml", CONFIG.replace("LEVEL", "{type: damerau, threshold: 1.5}")))


def test_default_labels_are_the_type_and_its_threshold():
    assert LEVEL_TYPES["jaro_winkler"].label(LevelSpec(type="jaro_winkler", threshold=0.92)) == "jaro_winkler 0.92"
    assert LEVEL_TYPES["exact"].label(LevelSpec(type="exact")) == "exact"
    assert LEVEL_TYPES["exact"].label(LevelSpec(type="exact", label="same")) == "same"
