"""Every reader we have, fed hostile bytes: text stays text, nothing is padded, dropped or garbled silently."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pace_linkage.errors import InputError
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.ingest.extract import looks_like_value, read_source
from pace_linkage.ingest.validate import ROW_REASONS, map_columns
from pace_linkage.normalise import name_columns

from .conftest import CANARY_DOB, CANARY_NINO, CANARY_SURNAME, source, write_bytes

BOM = b"\xef\xbb\xbf"


def reasons_by_line(ext) -> dict[int, str]:
    return dict(zip(ext.quarantine["line"], ext.quarantine["reasons"], strict=True))


# ------------------------------------------------------------------------------------------ byte-order mark
@pytest.mark.parametrize("bom", [b"", BOM], ids=["no_bom", "bom"])
def test_csv_reader_never_puts_a_bom_in_a_column_name(tmp_path, bom):
    write_bytes(tmp_path / "p.csv", bom + b"id,surname\n007,Smith\n")
    ext = read_source(source(), tmp_path)
    assert ext.header == ["id", "surname"] and ext.frame["id"].tolist() == ["007"]


@pytest.mark.parametrize("bom", [b"", BOM], ids=["no_bom", "bom"])
def test_jsonl_reader_never_puts_a_bom_in_a_key(tmp_path, bom):
    write_bytes(tmp_path / "p.jsonl", bom + b'{"id": "007", "surname": "Smith"}\n')
    ext = read_source(source(format="jsonl", file="p.jsonl"), tmp_path)
    assert ext.header == ["id", "surname"] and ext.frame["id"].tolist() == ["007"]


@pytest.mark.parametrize("bom", [b"", BOM], ids=["no_bom", "bom"])
def test_truth_loader_never_puts_a_bom_in_a_column_name_and_keeps_ids_as_text(tmp_path, bom):
    path = write_bytes(tmp_path / "truth.csv", bom + b"source,record_id,person_id\np,007,NA\np,008,NULL\n")
    truth = load_truth(path)
    assert list(truth.columns) == ["source", "record_id", "person_id"]
    assert truth["record_id"].tolist() == ["007", "008"] and truth["person_id"].tolist() == ["NA", "NULL"]


def test_a_file_holding_only_a_bom_is_a_one_line_empty_file_error(tmp_path):
    for name, fmt in (("p.csv", "csv"), ("p.jsonl", "jsonl")):
        write_bytes(tmp_path / name, BOM)
        with pytest.raises(InputError, match="file is empty") as err:
            read_source(source(format=fmt, file=name), tmp_path)
        assert "\n" not in str(err.value)


def test_a_bom_on_a_file_declared_cp1252_is_refused_naming_byte_zero(tmp_path):
    write_bytes(tmp_path / "p.csv", BOM + b"id,surname\n1,A\n")
    with pytest.raises(InputError, match="byte 0: .*byte-order mark"):
        read_source(source(encoding="cp1252"), tmp_path)


# ------------------------------------------------------------------------------------------------ encodings
def test_windows_1252_file_declared_cp1252_decodes_curly_quotes_and_accents(tmp_path):
    write_bytes(tmp_path / "p.csv", "id;surname\n1;O’Neill\n2;Ménard\n3;Müller–Smith\n", encoding="cp1252")
    ext = read_source(source(encoding="cp1252", delimiter=";"), tmp_path)
    assert ext.frame["surname"].tolist() == ["O’Neill", "Ménard", "Müller–Smith"]


@pytest.mark.parametrize("surname", ["Ménard", "O’Neill", "Wiśniewski", "Dvořák", "Żółć"])
@pytest.mark.parametrize("declared", ["cp1252", "latin-1"])
def test_utf8_declared_single_byte_is_refused_not_turned_into_mojibake(tmp_path, surname, declared):
    write_bytes(tmp_path / "p.csv", f"id,surname\n1,{surname}\n".encode())
    with pytest.raises(InputError) as err:
        read_source(source(encoding=declared), tmp_path)
    msg = str(err.value)
    offset = 13 + next(i for i, ch in enumerate(surname) if not ch.isascii())  # the first byte of the first é
    assert f"p.csv: line 2, byte {offset}: UTF-8 text read as {declared} (mojibake)" in msg and "\n" not in msg
    assert surname not in msg and surname.encode().decode("latin-1") not in msg


def test_cp1252_declared_latin1_is_refused_for_its_control_bytes(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname\n1,O’Neill\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"line 2, byte 14: a control byte"):
        read_source(source(encoding="latin-1"), tmp_path)


def test_cp1252_declared_utf8_is_one_line_naming_file_line_byte_and_encoding(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname\n1,Smith\n2,Ménard\n".encode("cp1252"))
    with pytest.raises(InputError) as err:
        read_source(source(), tmp_path)
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "p.csv")) and "line 3, byte 22: not valid utf-8" in msg
    assert "\n" not in msg and "nard" not in msg


def test_byte_offsets_count_the_bom_so_they_point_into_the_file_on_disk(tmp_path):
    write_bytes(tmp_path / "p.csv", BOM + b"id,surname\n1,M\xe9nard\n")
    with pytest.raises(InputError, match="byte 17"):
        read_source(source(), tmp_path)


def test_mis_declared_lines_are_quarantined_as_bad_encoding_when_config_allows(tmp_path):
    write_bytes(tmp_path / "p.csv", b"id,surname\n1,Smith\n2,M\xc3\xa9nard\n3,Brown\n")
    ext = read_source(source(encoding="cp1252", on_bad_encoding="quarantine"), tmp_path)
    assert ext.frame["id"].tolist() == ["1", "3"]
    assert reasons_by_line(ext) == {3: "bad_encoding"}
    assert ext.rows_in == 3


def test_plausible_cp1252_text_is_not_mistaken_for_mojibake(tmp_path):
    text = "id;name\n1;JOSÉ\xa0\n2;POSPÍŠIL\n3;Ñº 5\n4;CAFÉ «X»\n5;£5 • 10°C ±2 ½\n"
    write_bytes(tmp_path / "p.csv", text, encoding="cp1252")
    ext = read_source(source(encoding="cp1252", delimiter=";", columns={}), tmp_path)
    assert len(ext.frame) == 5 and ext.quarantine.empty


# ------------------------------------------------------------------------------------------- row structure
def test_a_short_row_in_a_three_column_file_is_quarantined_never_padded(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname,first\n1,Smith,Ann\n2,Jones\n")
    ext = read_source(source(), tmp_path)
    assert ext.frame["id"].tolist() == ["1"]
    assert reasons_by_line(ext) == {3: "too_few_fields"}
    assert ext.quarantine["raw"].tolist() == ["2,Jones"]


def test_a_long_row_is_quarantined_never_truncated(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname\n1,Smith\n2,Jones,Ann\n")
    ext = read_source(source(), tmp_path)
    assert reasons_by_line(ext) == {3: "too_many_fields"}
    assert ext.quarantine["raw"].tolist() == ["2,Jones,Ann"]


def test_quoted_newlines_stay_in_their_field_with_crlf_line_endings(tmp_path):
    write_bytes(tmp_path / "p.csv", b'id,surname\r\n1,"Mac\r\nDonald"\r\n2,Brown\r\n')
    ext = read_source(source(), tmp_path)
    assert ext.frame["surname"].tolist() == ["Mac\r\nDonald", "Brown"]
    assert ext.frame.index.tolist() == [2, 4]


def test_an_unclosed_quote_is_quarantined_with_the_lines_it_swallowed(tmp_path):
    write_bytes(tmp_path / "p.csv", 'id,surname\n1,Smith\n2,"Jones\n3,Brown\n')
    ext = read_source(source(), tmp_path)
    assert ext.frame["id"].tolist() == ["1"]
    assert reasons_by_line(ext) == {3: "malformed_csv"}
    assert ext.quarantine["raw"].tolist() == ['2,"Jones\n3,Brown']  # nothing lost: the partner sees both lines


def test_a_stray_quote_after_a_quoted_field_is_quarantined_not_silently_repaired(tmp_path):
    write_bytes(tmp_path / "p.csv", 'id,surname\n1,"Sm"ith\n2,Brown\n')
    ext = read_source(source(), tmp_path)
    assert ext.frame["id"].tolist() == ["2"]
    assert reasons_by_line(ext) == {2: "malformed_csv"}
    assert ext.quarantine["raw"].tolist() == ['1,"Sm"ith']


def test_nul_bytes_quarantine_their_row_in_csv_and_jsonl(tmp_path):
    write_bytes(tmp_path / "p.csv", b"id,surname\n1,Sm\x00ith\n2,Ok\n")
    write_bytes(tmp_path / "p.jsonl", b'{"id": "0"}\n{"id": "1", "surname": "Sm\\u0000ith"}\n{"id": "2"}\n')
    for name, fmt, kept in (("p.csv", "csv", ["2"]), ("p.jsonl", "jsonl", ["0", "2"])):
        ext = read_source(source(format=fmt, file=name), tmp_path)
        assert ext.frame["id"].tolist() == kept and reasons_by_line(ext) == {2: "nul_byte"}


def test_a_one_megabyte_cell_quarantines_its_row_without_crashing(tmp_path):
    write_bytes(tmp_path / "p.csv", b"id,surname\n1," + b"x" * 1_000_000 + b"\n2,Ok\n")
    ext = read_source(source(), tmp_path)
    assert ext.frame["id"].tolist() == ["2"] and reasons_by_line(ext) == {2: "field_too_long"}


def test_a_one_megabyte_quoted_cell_with_newlines_is_quarantined_and_later_lines_stay_right(tmp_path):
    big = ("y" * 999 + "\n") * 1000
    write_bytes(tmp_path / "p.csv", f'id,surname\n1,"{big}"\n2,Ok\n')
    ext = read_source(source(), tmp_path)
    assert reasons_by_line(ext) == {2: "field_too_long"}
    assert ext.frame.index.tolist() == [1003]


@pytest.mark.parametrize("fmt,name", [("csv", "p.csv"), ("jsonl", "p.jsonl")])
@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\r\n"], ids=["zero_bytes", "blank_lines", "crlf"])
def test_empty_files_are_a_one_line_input_error(tmp_path, fmt, name, content):
    write_bytes(tmp_path / name, content)
    with pytest.raises(InputError, match="empty") as err:
        read_source(source(format=fmt, file=name), tmp_path)
    assert "\n" not in str(err.value)


def test_a_header_only_file_is_zero_rows_not_an_error(tmp_path):
    write_bytes(tmp_path / "p.csv", BOM + b"id,surname\r\n")
    ext = read_source(source(), tmp_path)
    assert ext.rows_in == 0 and ext.frame.empty and ext.header == ["id", "surname"]


def test_jsonl_trailing_newline_is_not_counted_as_a_blank_line(tmp_path):
    write_bytes(tmp_path / "p.jsonl", b'{"id": "1"}\n\n{"id": "2"}\n')
    ext = read_source(source(format="jsonl", file="p.jsonl"), tmp_path)
    assert ext.rows_in == 2 and ext.blank_lines == 1


# ------------------------------------------------------------------------------------------- text is text
@pytest.mark.parametrize("fmt,name", [("csv", "p.csv"), ("jsonl", "p.jsonl")])
def test_null_like_surnames_stay_text_through_extract(tmp_path, fmt, name):
    values = ["NULL", "NA", "None", "N/A", "nan", "#N/A", ""]
    if fmt == "csv":
        data = "id,surname\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))
    else:
        data = "".join(json.dumps({"id": str(i), "surname": v}) + "\n" for i, v in enumerate(values))
    write_bytes(tmp_path / name, data)
    ext = read_source(source(format=fmt, file=name), tmp_path)
    assert ext.frame["surname"].tolist() == values
    assert ext.frame["surname"].map(type).eq(str).all()


def test_the_name_normaliser_treats_null_like_surnames_as_placeholders_with_a_reason():
    # Documented in pace_linkage.normalise.names (rule 4): extract keeps them; the normaliser nulls them
    # with a counted reason, because in partner extracts they are missing-value markers.
    clean, *_, reason = name_columns(pd.Series(["NULL", "NA", "None", "N/A", "Nash"]), given_name=False)
    assert clean.isna().tolist() == [True, True, True, True, False]
    assert reason.tolist() == ["name_placeholder"] * 4 + [None]


def test_ids_and_phone_numbers_keep_leading_zeros_in_csv_jsonl_and_xlsx(tmp_path):
    import openpyxl

    write_bytes(tmp_path / "p.csv", "id,surname,phone\n007,A,01314960000\n")
    write_bytes(tmp_path / "p.jsonl", '{"id": "007", "surname": "A", "phone": "01314960000"}\n')
    wb = openpyxl.Workbook()
    wb.active.append(["id", "surname", "phone"])
    wb.active.append(["007", "A", "01314960000"])
    wb.save(tmp_path / "p.xlsx")
    for name, fmt in (("p.csv", "csv"), ("p.jsonl", "jsonl"), ("p.xlsx", "xlsx")):
        ext = read_source(source(format=fmt, file=name), tmp_path)
        assert ext.frame[["id", "phone"]].values.tolist() == [["007", "01314960000"]], fmt


# ----------------------------------------------------------------------------------- columns and ids
def test_missing_columns_fail_the_source_naming_every_key_and_the_header(tmp_path):
    from pace_linkage.config import PaceConfig  # noqa: F401  (map_columns takes the config for context)

    write_bytes(tmp_path / "p.csv", "id,Surname,Extra1,Extra2\n1,Smith,x,y\n")
    src = source(columns={"surname": "surname", "dob": "DOB"}, config_file="partners/p.yaml")
    with pytest.raises(InputError) as err:
        map_columns(read_source(src, tmp_path), src, None)
    msg = str(err.value)
    assert "partners/p.yaml: columns.surname: column 'surname' not found in p.csv" in msg
    assert "partners/p.yaml: columns.dob: column 'DOB' not found in p.csv" in msg
    assert "have: id, Surname, Extra1, Extra2" in msg and "\n" not in msg and "Smith" not in msg


def test_extra_columns_are_ignored_and_never_reach_the_records(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname,secret\n1,Smith,do-not-copy\n")
    src = source()
    out, q = map_columns(read_source(src, tmp_path), src, None)
    assert list(out.columns) == ["source", "record_id", "line", "surname"] and q.empty


def test_a_file_without_a_header_row_never_shows_its_first_record_in_the_error(tmp_path):
    first = f"{CANARY_NINO},{CANARY_SURNAME},{CANARY_DOB},EH1 2AB,a@b.com"
    write_bytes(tmp_path / "p.csv", first + "\nJG103760A,Other,01/01/1980,EH1 2AB,c@d.com\n")
    src = source(columns={"nino": "NINO", "surname": "Surname"})
    with pytest.raises(InputError) as err:
        map_columns(read_source(src, tmp_path), src, None)
    msg = str(err.value)
    assert "is the header missing?" in msg
    for value in (CANARY_NINO, CANARY_SURNAME, CANARY_DOB, "EH1 2AB", "a@b.com"):
        assert value not in msg


def test_a_repeated_value_like_header_cell_is_not_quoted(tmp_path):
    write_bytes(tmp_path / "p.csv", f"{CANARY_NINO},x,{CANARY_NINO}\n")
    with pytest.raises(InputError, match="column 3: header name repeats column 1") as err:
        read_source(source(), tmp_path)
    assert CANARY_NINO not in str(err.value)


@pytest.mark.parametrize("name", ["id", "Surname", "Date_of_Birth", "TEL_NO2", "Address_Line_1", "CLAIM_REF"])
def test_ordinary_column_names_do_not_look_like_values(name):
    assert not looks_like_value(name)


@pytest.mark.parametrize("value", [CANARY_NINO, "ab 12 34 56 c", "1980-03-12", "12/03/1980", "12 Mar 1980",
                                   "EH1 2AB", "a@b.com", "007", "+44 7700 900123", "C000123"])
def test_field_values_look_like_values(value):
    assert looks_like_value(value)


def test_duplicated_record_ids_are_all_accounted_for(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname\n1,A\n1,A\n2,B\n2,C\n 2 ,D\n3,E\n")
    src = source()
    ext = read_source(src, tmp_path)
    out, q = map_columns(ext, src, None)
    assert out["record_id"].tolist() == ["1", "3"]
    assert dict(zip(q["line"], q["reasons"], strict=True)) == {
        3: "duplicate_row", 4: "duplicate_record_id", 5: "duplicate_record_id", 6: "duplicate_record_id"}
    assert ext.rows_in == len(out) + len(q)
    assert set(q["reasons"]) <= set(ROW_REASONS)


def test_an_empty_jsonl_delivery_is_zero_records_when_the_partner_config_allows_it(tmp_path):
    write_bytes(tmp_path / "p.jsonl", b"")
    ext = read_source(source(format="jsonl", file="p.jsonl", allow_empty=True), tmp_path)
    assert ext.rows_in == 0 and ext.frame.empty and "id" in ext.header
