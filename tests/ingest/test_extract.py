"""Extract reads every cell as text, decodes strictly, and never pads or drops a row silently."""

from __future__ import annotations

import json

import pytest
from conftest import write

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.ingest.extract import read_source


def src(**kw) -> SourceConfig:
    base = dict(name="p", file="p.csv", record_id="id", columns={"surname": "surname"})
    base.update(kw)
    return SourceConfig(**base)


def test_cells_stay_text_with_leading_zeros_and_null_like_surnames(tmp_path):
    write(tmp_path / "p.csv", "id,surname,phone\n007,NULL,0131 496 0000\n008,NA,\n")
    ext = read_source(src(), tmp_path)
    assert ext.frame["id"].tolist() == ["007", "008"]
    assert ext.frame["surname"].tolist() == ["NULL", "NA"]
    assert ext.rows_in == 2 and ext.quarantine.empty


def test_ragged_rows_are_quarantined_both_ways_never_padded(tmp_path):
    write(tmp_path / "p.csv", "id,surname,first\n1,Jones,Ann\n2,Jones\n3,Smith,Bob,extra\n")
    ext = read_source(src(), tmp_path)
    assert ext.frame["id"].tolist() == ["1"]
    q = ext.quarantine.set_index("line")["reasons"].to_dict()
    assert q == {3: "too_few_fields", 4: "too_many_fields"}
    assert ext.rows_in == len(ext.frame) + len(ext.quarantine) == 3


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_a_bom_never_reaches_a_column_name(tmp_path, bom, encoding):
    write(tmp_path / "p.csv", bom + "id,surname\n1,Ó Briain\n".encode())
    ext = read_source(src(encoding=encoding), tmp_path)
    assert ext.header == ["id", "surname"]
    assert ext.frame["surname"].tolist() == ["Ó Briain"]


def test_cp1252_file_is_decoded_in_its_declared_encoding(tmp_path):
    write(tmp_path / "p.csv", "id;surname\n1;O’Neill\n", encoding="cp1252")
    ext = read_source(src(encoding="cp1252", delimiter=";"), tmp_path)
    assert ext.frame["surname"].tolist() == ["O’Neill"]


def test_undecodable_bytes_name_file_line_and_byte_offset(tmp_path):
    write(tmp_path / "p.csv", b"id,surname\n1,Smith\n2,M\xe9nard\n")
    with pytest.raises(InputError) as err:
        read_source(src(), tmp_path)
    msg = str(err.value)
    assert "p.csv" in msg and "line 3" in msg and "byte" in msg and "\n" not in msg
    assert "nard" not in msg  # no value in the message


def test_undecodable_lines_can_be_quarantined_instead(tmp_path):
    write(tmp_path / "p.csv", b"id,surname\n1,Smith\n2,M\xe9nard\n")
    ext = read_source(src(on_bad_encoding="quarantine"), tmp_path)
    assert ext.frame["id"].tolist() == ["1"]
    assert ext.quarantine["reasons"].tolist() == ["bad_encoding"]


def test_utf8_declared_as_latin1_is_refused_as_mojibake(tmp_path):
    write(tmp_path / "p.csv", "id,surname\n1,Ménard\n".encode())
    with pytest.raises(InputError, match="mojibake"):
        read_source(src(encoding="latin-1"), tmp_path)


def test_quoted_newlines_stay_in_their_field_and_lines_are_physical(tmp_path):
    write(tmp_path / "p.csv", 'id,surname\n1,"two\nlines"\n2,Brown\n')
    ext = read_source(src(), tmp_path)
    assert ext.frame["surname"].tolist() == ["two\nlines", "Brown"]
    assert ext.frame.index.tolist() == [2, 4]


def test_nul_bytes_and_huge_cells_quarantine_their_row(tmp_path):
    write(tmp_path / "p.csv", "id,surname\n1,Sm\x00ith\n2," + "x" * 1_000_000 + "\n3,Ok\n")
    ext = read_source(src(), tmp_path)
    assert ext.frame["id"].tolist() == ["3"]
    assert sorted(ext.quarantine["reasons"]) == ["field_too_long", "nul_byte"]


def test_empty_file_is_a_one_line_error_and_header_only_is_zero_rows(tmp_path):
    write(tmp_path / "p.csv", "")
    with pytest.raises(InputError, match="empty"):
        read_source(src(), tmp_path)
    write(tmp_path / "p.csv", "id,surname\n")
    ext = read_source(src(), tmp_path)
    assert ext.rows_in == 0 and list(ext.frame.columns) == ["id", "surname"]


def test_blank_lines_are_counted_not_records(tmp_path):
    write(tmp_path / "p.csv", "id,surname\n\n1,A\n\n")
    ext = read_source(src(), tmp_path)
    assert ext.rows_in == 1 and ext.blank_lines == 2


def test_missing_file_names_the_source(tmp_path):
    with pytest.raises(InputError, match="source 'p'"):
        read_source(src(), tmp_path)


def test_jsonl_rows_become_text_and_bad_lines_are_quarantined(tmp_path):
    lines = [json.dumps({"id": "001", "surname": "NULL", "n": 5}), "{not json", json.dumps([1, 2])]
    write(tmp_path / "p.jsonl", "\n".join(lines) + "\n")
    ext = read_source(src(format="jsonl", file="p.jsonl"), tmp_path)
    assert ext.frame[["id", "surname", "n"]].values.tolist() == [["001", "NULL", "5"]]
    assert ext.quarantine["reasons"].tolist() == ["malformed_json", "malformed_json"]
    assert ext.rows_in == 3


def test_xlsx_dates_and_serials_become_text(tmp_path):
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "surname", "dob"])
    ws.append(["001", "Smith", dt.datetime(1980, 3, 12)])
    ws.append([2, "Brown", 29292])
    ws.append([None, None, None])
    ws.append([3, "Extra", "x", "spill"])
    wb.save(tmp_path / "p.xlsx")
    ext = read_source(src(format="xlsx", file="p.xlsx"), tmp_path)
    assert ext.frame[["id", "dob"]].values.tolist() == [["001", "1980-03-12"], ["2", "29292"]]
    assert ext.quarantine["reasons"].tolist() == ["too_many_fields"]
    assert ext.rows_in == 3 and ext.blank_lines == 1
