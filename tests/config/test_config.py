"""Config mistakes are all reported together, one line each, naming the file and the key."""

from __future__ import annotations

import pytest
from conftest import write

from pace_linkage.config import load_config
from pace_linkage.errors import ConfigError

GOOD = """
fields:
  surname: {kind: name}
  dob: {kind: dob}
identifying_fields: [surname, dob]
sources:
  items:
    - {name: p, file: p.csv, record_id: id, columns: {surname: Surname}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


def test_a_good_config_loads_with_yaml_on_as_a_key(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", GOOD))
    assert cfg.linkage.blocking[0].on == ["surname"]
    assert cfg.sources.items[0].config_file.endswith("pace.yaml")
    assert len(cfg.hash()) == 64


def test_every_mistake_is_reported_at_once_each_on_one_line(tmp_path):
    bad = GOOD.replace("blocking: [{name: s, on: [surname]}]", "blockng: []").replace(
        "levels: [{type: exact}]", "levels: [{type: jaro_winkler}]").replace("{kind: dob}", "{kind: birthday}")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", bad))
    lines = str(err.value).splitlines()
    assert any("linkage.blockng: unknown key" in ln for ln in lines)
    assert any("linkage.blocking: required key missing" in ln for ln in lines)
    assert any("fields.dob.kind" in ln for ln in lines)
    assert all("pace.yaml" in ln for ln in lines) and len(lines) >= 3


def test_references_to_unknown_columns_and_missing_thresholds_are_caught(tmp_path):
    bad = GOOD.replace("on: [surname]", "on: [surname_sound, nino]").replace(
        "levels: [{type: exact}]", "levels: [{type: jaro_winkler}]")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", bad))
    msg = str(err.value)
    assert "linkage.blocking.0.on: column 'nino' is not produced by any field" in msg
    assert "linkage.comparisons.0.levels.0.threshold: required for type jaro_winkler" in msg
    assert "surname_sound" not in msg  # derived from the name field, so it is fine


def test_include_patterns_and_source_files_are_validated(tmp_path):
    write(tmp_path / "partners" / "a.yaml", "name: a\nfile: a.csv\nrecord_id: id\ncolums: {}\n")
    cfg = GOOD.replace("sources:\n  items:", "sources:\n  include: [partners/*.yaml, nothing/*.yaml]\n  items:")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", cfg))
    msg = str(err.value)
    assert "a.yaml: colums: unknown key" in msg
    assert "'nothing/*.yaml' matches no file" in msg


def test_invalid_yaml_names_line_and_column(tmp_path):
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        load_config(write(tmp_path / "pace.yaml", "fields:\n  a: [\n"))


def test_a_key_given_twice_is_refused_with_its_line_instead_of_the_last_one_winning(tmp_path):
    doubled = GOOD.replace("linkage:\n", "linkage:\n  threshold: 0.5\n").replace(
        "  comparisons:", "  threshold: 0.99\n  comparisons:")
    with pytest.raises(ConfigError, match=r"pace.yaml: line 12, column 3: key 'threshold' is given twice") as err:
        load_config(write(tmp_path / "pace.yaml", doubled))
    assert "\n" not in str(err.value)


def test_missing_config_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.yaml")


def test_schema_and_reference_mistakes_are_reported_in_one_round(tmp_path):
    bad = GOOD.replace("on: [surname]", "on: [nino]").replace("identifying_fields: [surname, dob]",
                                                              "identifying_fields: [surname, dob]\nsed: 1")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", bad))
    lines = str(err.value).splitlines()
    assert any("sed: unknown key" in ln for ln in lines)
    assert any("linkage.blocking.0.on: column 'nino' is not produced by any field" in ln for ln in lines)
