"""A config file is parsed once per process; what a caller gets is its own copy, and a changed file is read anew."""

from __future__ import annotations

from conftest import write

from pace_linkage.config import load, load_config


def test_loading_a_config_twice_parses_its_files_once():
    load._parsed.cache_clear()
    first = load_config()
    misses = load._parsed.cache_info().misses
    second = load_config()
    assert load._parsed.cache_info().misses == misses  # every document came from the first parse
    assert second.hash() == first.hash()


def test_a_document_is_a_copy_and_a_changed_file_is_parsed_again(tmp_path):
    path = write(tmp_path / "doc.yaml", "a:\n  b: 1\n")
    errors: list[str] = []
    doc = load.read_yaml(path, errors)
    doc["a"]["b"] = 2
    assert load.read_yaml(path, errors) == {"a": {"b": 1}}
    write(path, "a:\n  b: 3\n")
    assert load.read_yaml(path, errors) == {"a": {"b": 3}}
    assert errors == []


def test_a_document_that_does_not_parse_is_reported_every_time(tmp_path):
    path = write(tmp_path / "bad.yaml", "a: 1\na: 2\n")
    for _ in range(2):
        errors: list[str] = []
        assert load.read_yaml(path, errors) is None
        assert len(errors) == 1 and "given twice" in errors[0]
