"""Column mapping fails a source with one line naming what is missing; duplicate rows are accounted for."""

from __future__ import annotations

import pytest
from conftest import write

from pace_linkage.config import load_config
from pace_linkage.errors import InputError
from pace_linkage.ingest.extract import read_source
from pace_linkage.ingest.validate import map_columns

CFG = """
fields:
  surname: {kind: name}
  dob: {kind: dob}
identifying_fields: [surname, dob]
sources:
  items:
    - {name: p, file: p.csv, record_id: id, columns: {surname: Surname, dob: DOB}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


@pytest.fixture
def cfg(tmp_path):
    return load_config(write(tmp_path / "pace.yaml", CFG))


def test_missing_column_fails_the_source_naming_config_key_column_and_header(tmp_path, cfg):
    write(tmp_path / "p.csv", "id,Surname,Birth\n1,Smith,1980-01-01\n")
    src = cfg.sources.items[0]
    with pytest.raises(InputError) as err:
        map_columns(read_source(src, tmp_path), src, cfg)
    msg = str(err.value)
    assert "pace.yaml: columns.dob: column 'DOB' not found in p.csv" in msg
    assert "have: id, Surname, Birth" in msg and "\n" not in msg
    assert "Smith" not in msg


def test_rows_are_mapped_to_canonical_fields(tmp_path, cfg):
    write(tmp_path / "p.csv", "id,Surname,DOB,Other\n 01 ,Smith,1980-01-01,x\n")
    src = cfg.sources.items[0]
    out, q = map_columns(read_source(src, tmp_path), src, cfg)
    assert list(out.columns) == ["source", "record_id", "line", "surname", "dob"]
    assert out.iloc[0].tolist() == ["p", "01", 2, "Smith", "1980-01-01"]
    assert q.empty


def test_duplicate_ids_exact_repeats_keep_one_and_conflicts_quarantine_all(tmp_path, cfg):
    write(tmp_path / "p.csv", "id,Surname,DOB\n1,A,1980-01-01\n1,A,1980-01-01\n2,B,x\n2,C,y\n,D,z\n3,E,w\n")
    src = cfg.sources.items[0]
    ext = read_source(src, tmp_path)
    out, q = map_columns(ext, src, cfg)
    assert out["record_id"].tolist() == ["1", "3"]
    assert dict(zip(q["line"], q["reasons"], strict=True)) == {
        3: "duplicate_row", 4: "duplicate_record_id", 5: "duplicate_record_id", 6: "missing_record_id"}
    assert q.loc[q["line"] == 4, "raw"].item() == "2,B,x"  # the original row is kept
    assert ext.rows_in == len(out) + len(q)


def test_duplicate_handling_does_not_depend_on_row_order(tmp_path, cfg):
    rows = ["1,A,d1", "1,A,d1", "2,B,x", "2,C,y", "3,E,w"]
    src = cfg.sources.items[0]
    results = []
    for order in (rows, rows[::-1]):
        write(tmp_path / "p.csv", "id,Surname,DOB\n" + "\n".join(order) + "\n")
        out, q = map_columns(read_source(src, tmp_path), src, cfg)
        results.append((sorted(out["record_id"]), sorted(q["reasons"])))
    assert results[0] == results[1]
