"""One hostile row never aborts a run: it is quarantined with a reason, or the file is refused with one line naming
the file and the limit; the rows still add up (``rows_in = accepted + quarantined + withheld``).

Deep JSON nesting, lone surrogates, duplicate JSON keys, a sparse or formula-only spreadsheet, byte-order marks
and invisible characters inside rows, and files that deliver no rows -- each built here, small, in the test.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pace_linkage.errors import InputError
from pace_linkage.ingest.extract import read_source
from pace_linkage.ingest.jsonl import MAX_JSON_DEPTH
from pace_linkage.ingest.rows import MAX_COLUMNS
from pace_linkage.ingest.sources import ingest_source, source_notes
from pace_linkage.ingest.validate import ROW_REASONS, map_columns

from .conftest import CANARY_NINO, build_hostile, source, write_bytes

GOOD = '{"id": "1", "surname": "Smith", "nino": "JK104729A"}\n'
LAST = '{"id": "3", "surname": "Brown", "nino": "JK120567B"}\n'


def jsonl(tmp_path: Path, *middle: str, **kw):
    """An Extract of p.jsonl: a good first and last line around the ``middle`` lines."""
    write_bytes(tmp_path / "p.jsonl", GOOD + "".join(m + "\n" for m in middle) + LAST)
    return read_source(source(format="jsonl", file="p.jsonl", **kw), tmp_path)


def reasons_by_line(ext) -> dict[int, str]:
    return dict(zip(ext.quarantine["line"], ext.quarantine["reasons"], strict=True))


def assert_accounted(ext) -> None:
    assert ext.rows_in == len(ext.frame) + len(ext.quarantine)
    for code in ext.quarantine["reasons"]:
        assert set(code.split(";")) <= set(ROW_REASONS), code
    for raw in ext.quarantine["raw"]:
        raw.encode("utf-8")  # every kept original can be written out


# ------------------------------------------------------------------------------------------------ nesting
def test_a_jsonl_value_nested_10000_deep_is_quarantined_and_the_other_lines_read(tmp_path):
    deep = '{"id": "2", "surname": ' + "[" * 10_000 + "]" * 10_000 + "}"
    ext = jsonl(tmp_path, deep)
    assert ext.frame["id"].tolist() == ["1", "3"] and reasons_by_line(ext) == {2: "too_deep"}
    assert_accounted(ext)


def test_nesting_up_to_the_limit_is_read_and_brackets_inside_strings_do_not_count(tmp_path):
    at_limit = '{"id": "2", "x": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    over = '{"id": "4", "x": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"
    in_string = json.dumps({"id": "5", "surname": "[{" * 4000 + '\\"[' * 100})
    ext = jsonl(tmp_path, at_limit, over, in_string)
    assert ext.frame["id"].tolist() == ["1", "2", "5", "3"] and reasons_by_line(ext) == {3: "too_deep"}
    assert_accounted(ext)


def test_a_ten_megabyte_line_of_brackets_is_quarantined_without_a_quadratic_walk(tmp_path):
    t0 = time.perf_counter()
    ext = jsonl(tmp_path, "[" * 5_000_000 + "]" * 5_000_000, '{"id": "4", "x": "' + "[]" * 2_500_000 + '"}')
    # about 0.5 s on an idle core; a walk quadratic in the line would take hours, so a loaded machine's
    # slowdown (3.6 s seen with every core busy) is no failure
    assert time.perf_counter() - t0 < 15
    assert reasons_by_line(ext) == {2: "too_deep", 3: "field_too_long"}


# -------------------------------------------------------------------------------------------- surrogates
@pytest.mark.parametrize("line", [
    '{"id": "\\ud800", "surname": "Smith"}',  # the record id
    '{"id": "2", "surname": "Sm\\udc00ith"}',  # another field
    '{"id": "2", "sur\\ud800name": "Smith"}',  # a key
    '{"id": "2", "address": {"line": ["\\udbff"]}}',  # a nested value
    '{"id": "2", "surname": "\\ude00\\ud83d"}',  # a pair in the wrong order is two lone surrogates
], ids=["record_id", "field", "key", "nested", "reversed_pair"])
def test_a_lone_surrogate_anywhere_in_a_json_record_quarantines_it_as_bad_encoding(tmp_path, line):
    ext = jsonl(tmp_path, line)
    assert ext.frame["id"].tolist() == ["1", "3"] and reasons_by_line(ext) == {2: "bad_encoding"}
    assert_accounted(ext)
    assert ext.quarantine["raw"].tolist() == [line]  # the original line, escapes and all


def test_an_escaped_surrogate_pair_is_one_character_and_is_kept(tmp_path):
    ext = jsonl(tmp_path, '{"id": "2", "surname": "Smith \\ud83d\\ude00"}')
    assert ext.frame["surname"].tolist() == ["Smith", "Smith \U0001f600", "Brown"] and ext.quarantine.empty


def test_a_lone_surrogate_in_a_csv_cell_is_quarantined_and_its_raw_text_is_writable(tmp_path):
    # UTF-7 decodes "+2AA-" to the lone surrogate U+D800: the one text codec path to one in a csv file
    write_bytes(tmp_path / "p.csv", b"id,surname\n1,Smith\n2,Sm+2AA-ith\n3,Brown\n")
    ext = read_source(source(encoding="utf-7"), tmp_path)
    assert ext.frame["id"].tolist() == ["1", "3"] and reasons_by_line(ext) == {3: "bad_encoding"}
    assert ext.quarantine["raw"].tolist() == ["2,Sm\\ud800ith"]
    assert_accounted(ext)


def test_a_lone_surrogate_in_a_header_name_refuses_the_file_in_one_line(tmp_path):
    write_bytes(tmp_path / "p.csv", b"id,sur+2AA-name\n1,Smith\n")
    with pytest.raises(InputError, match=r"p.csv: line 1, column 2: header name is not valid text") as err:
        read_source(source(encoding="utf-7"), tmp_path)
    assert "\n" not in str(err.value)
    str(err.value).encode("utf-8")


def test_hostile_json_lines_do_not_stop_the_run_and_every_output_is_written(tmp_path):
    """Deep nesting, surrogates and duplicate keys in one partner's file: the library stages run to the end, the
    rows add up, and the CSV, parquet, report and DuckDB store are all written."""
    from conftest import library_run

    from pace_linkage.config import load_config
    from pace_linkage.pipeline import evaluate_run, run_report, store_run, write_outputs

    paths = build_hostile(tmp_path / "in")
    beta = paths["extracts"] / "beta.jsonl"
    hostile = ['{"ref": "\\ud800", "ni": "' + CANARY_NINO + '", "surname": "Reid"}',
               '{"ref": "0090", "surname": "Ka\\udfffy", "ni": "JK104729A"}',
               '{"ref": "0091", "surname": ' + "[" * 10_000 + "]" * 10_000 + "}",
               '{"ref": "0092", "ni": "JK104729A", "ni": "JL112648B", "surname": "Reid"}']
    beta.write_bytes(beta.read_bytes() + ("\n".join(hostile) + "\n").encode())
    cfg = load_config(paths["config"])
    run = library_run(paths["extracts"], cfg)
    metrics = evaluate_run(run, None)
    counts = metrics["counts"]["by_source"]["beta"]
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"] + counts["rows_withheld"]
    assert counts["reasons"]["bad_encoding"] == 2 and counts["reasons"]["too_deep"] == 1
    assert counts["reasons"]["duplicate_key"] == 1
    out = tmp_path / "out"
    write_outputs(run, metrics, run_report(run, metrics), out, "hostile-rows")
    store_run(str(tmp_path / "store.duckdb"), run, "hostile-rows")
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".csv", ".json", ".html"):
            f.read_bytes().decode("utf-8")  # strict: no surrogate escaped into any output
    assert CANARY_NINO not in (out / "report.html").read_text() + (out / "metrics.json").read_text()


# -------------------------------------------------------------------------------------------- duplicate keys
@pytest.mark.parametrize("line", [
    '{"id": "2", "nino": "JK104729A", "surname": "Reid", "nino": "JL112648B"}',
    '{"id": "2", "surname": "Reid", "surname": "Reid"}',  # the same value twice: still two keys
    '{"id": "2", "address": {"postcode": "EH1 1AB", "postcode": "G1 1AA"}}',  # at any depth
], ids=["two_ni_numbers", "same_value", "nested"])
def test_a_json_record_naming_a_key_twice_is_quarantined_as_duplicate_key(tmp_path, line):
    ext = jsonl(tmp_path, line)
    assert ext.frame["id"].tolist() == ["1", "3"] and reasons_by_line(ext) == {2: "duplicate_key"}
    assert_accounted(ext)


def test_keys_differing_in_case_or_blanks_are_different_keys(tmp_path):
    ext = jsonl(tmp_path, '{"id": "2", "nino": "JK104729A", "NINO": "x", "nino ": "y"}')
    assert ext.quarantine.empty and ext.frame["id"].tolist() == ["1", "2", "3"]


# ------------------------------------------------------------------------------------------------ columns
def test_a_json_record_with_more_keys_than_the_limit_is_quarantined(tmp_path):
    wide = json.dumps({"id": "2", **{f"k{i}": "x" for i in range(MAX_COLUMNS + 1)}})
    ext = jsonl(tmp_path, wide)
    assert reasons_by_line(ext) == {2: "too_many_fields"} and len(ext.header) == 3


def test_json_records_naming_more_keys_together_than_the_limit_refuse_the_file(tmp_path):
    lines = [json.dumps({"id": str(i), f"k{i}": "x"}) for i in range(MAX_COLUMNS + 5)]
    write_bytes(tmp_path / "p.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"p.jsonl: line 1: the records name {MAX_COLUMNS + 1} columns, "
                                         rf"over the limit of {MAX_COLUMNS}"):
        read_source(source(format="jsonl", file="p.jsonl"), tmp_path)


def test_a_csv_header_wider_than_the_limit_refuses_the_file_in_one_line(tmp_path):
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    write_bytes(tmp_path / "p.csv", header + "\n")
    with pytest.raises(InputError, match=rf"p.csv: line 1: header has {MAX_COLUMNS + 1} columns, over the limit"):
        read_source(source(), tmp_path)


# ------------------------------------------------------------------------------------------------- xlsx
def workbook(path: Path, rows: list[list], cells: dict[str, object] | None = None) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    for ref, value in (cells or {}).items():
        wb.active[ref] = value
    wb.save(path)
    return path


def sheet_xml(path: Path, edit) -> Path:
    """Rewrite the first sheet's XML of the workbook at ``path`` with ``edit`` (bytes -> bytes)."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    parts["xl/worksheets/sheet1.xml"] = edit(parts["xl/worksheets/sheet1.xml"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def xlsx(tmp_path: Path, **kw):
    return read_source(source(format="xlsx", file="p.xlsx", **kw), tmp_path)


def test_a_single_cell_at_xfd1048576_is_read_in_well_under_a_second(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"]], {"XFD1048576": "x"})
    assert b"A1:XFD1048576" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")  # declared, as Excel does
    t0 = time.perf_counter()
    ext = xlsx(tmp_path)
    assert time.perf_counter() - t0 < 1.0
    assert ext.frame["id"].tolist() == ["1"] and reasons_by_line(ext) == {1_048_576: "too_many_fields"}
    assert json.loads(ext.quarantine["raw"].iloc[0]) == ["", "", {"XFD": "x"}]
    assert ext.blank_lines == 1_048_576 - 3  # the rows between are blank, counted, never built
    assert_accounted(ext)


def test_a_cell_at_column_xfd_in_a_data_row_quarantines_only_that_row(tmp_path):
    workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"], ["2", "Brown"]], {"XFD2": "x"})
    t0 = time.perf_counter()
    ext = xlsx(tmp_path)
    assert time.perf_counter() - t0 < 1.0
    assert ext.frame["id"].tolist() == ["2"] and reasons_by_line(ext) == {2: "too_many_fields"}
    assert json.loads(ext.quarantine["raw"].iloc[0]) == ["1", "Smith", {"XFD": "x"}]


def test_a_huge_declared_dimension_over_two_rows_costs_nothing(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"]])
    sheet_xml(path, lambda x: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', x))
    t0 = time.perf_counter()
    ext = xlsx(tmp_path)
    assert time.perf_counter() - t0 < 1.0
    assert ext.frame["id"].tolist() == ["1"] and ext.blank_lines == 0 and ext.rows_in == 1


def test_a_sheet_header_wider_than_the_limit_refuses_the_file_naming_the_limit(tmp_path):
    workbook(tmp_path / "p.xlsx", [["id", "surname"]], {"XFD1": "wide"})
    with pytest.raises(InputError, match=rf"p.xlsx: line 1: header has 16384 columns, over the limit of {MAX_COLUMNS}"):
        xlsx(tmp_path)


def test_sheet_rows_out_of_order_or_beyond_excel_refuse_the_file_in_one_line(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"], ["2", "Brown"]])
    sheet_xml(path, lambda x: x.replace(b'<row r="3"', b'<row r="2"').replace(b'r="A3"', b'r="A2"'))
    with pytest.raises(InputError, match=r"p.xlsx: sheet row 2 comes after row 2"):
        xlsx(tmp_path)
    sheet_xml(path, lambda x: x.replace(b'<row r="2"><c r="A2"', b'<row r="2000000"><c r="A2"', 1))
    with pytest.raises(InputError, match=r"p.xlsx: sheet row 2000000 is beyond the sheet limit"):
        xlsx(tmp_path)


def test_a_sheet_row_holding_a_cell_twice_is_quarantined_as_duplicate_key(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"], ["2", "Brown"]])
    sheet_xml(path, lambda x: x.replace(b'r="B2"', b'r="A2"'))
    ext = xlsx(tmp_path)
    assert ext.frame["id"].tolist() == ["2"] and reasons_by_line(ext) == {2: "duplicate_key"}


def test_a_broken_sheet_xml_is_one_line_not_a_traceback(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"]])
    sheet_xml(path, lambda x: x.replace(b"</sheetData>", b"<row><c></sheetData>"))
    with pytest.raises(InputError, match=r"p.xlsx: not a readable .xlsx workbook \(ParseError in the sheet\)"):
        xlsx(tmp_path)


# -------------------------------------------------------------------------------------- formula cells
def test_a_formula_without_a_calculated_value_quarantines_its_row_if_the_column_is_mapped(tmp_path):
    # openpyxl writes formulas without a calculated value, as does any program that does not calculate
    workbook(tmp_path / "p.xlsx", [["id", "surname", "note"], ["1", "Smith", "=A2&B2"], ["2", '=UPPER("x")', "n"],
                                   ["=1+2", "Brown", ""], ["4", "Reid", "=1/0"]])
    ext = xlsx(tmp_path)
    assert ext.frame["id"].tolist() == ["1", "4"] and ext.frame["note"].tolist() == ["", ""]
    assert reasons_by_line(ext) == {3: "formula_without_value", 4: "formula_without_value"}
    assert ext.notes == ["2 formula cell(s) without a calculated value in unmapped columns read as empty"]
    assert_accounted(ext)


def test_a_formula_with_its_calculated_value_in_the_file_reads_as_that_value(tmp_path):
    path = workbook(tmp_path / "p.xlsx", [["id", "surname"], ["1", "Smith"], ["2"]])
    sheet_xml(path, lambda x: x.replace(b'<row r="3"><c r="A3" t="inlineStr"><is><t>2</t></is></c>',
                                        b'<row r="3"><c r="A3"><f>1+1</f><v>2</v></c>'
                                        b'<c r="B3" t="str"><f>"Br"&amp;"own"</f><v>Brown</v></c>'))
    ext = xlsx(tmp_path)
    assert ext.frame[["id", "surname"]].values.tolist() == [["1", "Smith"], ["2", "Brown"]] and ext.quarantine.empty
    # a calculated text result that is empty is an empty cell, not a formula without a value
    sheet_xml(tmp_path / "p.xlsx", lambda x: x.replace(b"<v>Brown</v>", b"<v></v>"))
    ext = xlsx(tmp_path)
    assert ext.frame[["id", "surname"]].values.tolist() == [["1", "Smith"], ["2", ""]] and ext.quarantine.empty


# ------------------------------------------------------------------------------- marks inside rows
def test_a_bom_at_the_start_of_a_later_csv_row_is_removed_and_a_repeated_header_quarantined(tmp_path):
    # two exports concatenated: the second starts with its own BOM and header line
    write_bytes(tmp_path / "p.csv", b"\xef\xbb\xbfid,surname\r\n1,Smith\r\n\xef\xbb\xbfid,surname\r\n"
                                    b"\xef\xbb\xbf2,Brown\r\n3,Reid\r\n")
    ext = read_source(source(), tmp_path)
    assert ext.frame["id"].tolist() == ["1", "2", "3"] and reasons_by_line(ext) == {3: "header_row"}
    assert_accounted(ext)


def test_a_bom_at_the_start_of_a_later_json_line_is_removed(tmp_path):
    write_bytes(tmp_path / "p.jsonl", (GOOD + "\ufeff" + LAST).encode())
    ext = read_source(source(format="jsonl", file="p.jsonl"), tmp_path)
    assert ext.frame["id"].tolist() == ["1", "3"] and ext.quarantine.empty


def test_invisible_characters_at_the_ends_of_a_record_id_are_trimmed_so_repeats_are_found(tmp_path):
    ids = ["A1", "A1\u200b", "\ufeffA2", "A\u200b3", "\u2060A4\u200d"]
    write_bytes(tmp_path / "p.csv", "id,surname\n" + "".join(f"{i},S{n}\n" for n, i in enumerate(ids)))
    src = source()
    out, q = map_columns(read_source(src, tmp_path), src, None)
    assert out["record_id"].tolist() == ["A2", "A\u200b3", "A4"]  # inside an id nothing changes
    assert dict(zip(q["line"], q["reasons"], strict=True)) == {2: "duplicate_record_id", 3: "duplicate_record_id"}


# ------------------------------------------------------------------------------------ no rows delivered
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_header_only_file_is_zero_rows_with_a_note_naming_the_source(tmp_path, fmt):
    if fmt == "csv":
        write_bytes(tmp_path / "p.csv", "id,surname\n\n")
    else:
        workbook(tmp_path / "p.xlsx", [["id", "surname"]])
    src = source(format=fmt, file=f"p.{fmt}")
    batch = ingest_source(src, None, tmp_path, features=())
    assert batch.rows_in == 0 and batch.counts()["notes"] == ["no records: the file has a header and no rows"]
    assert source_notes([batch]) == [f"source p (p.{fmt}): no records: the file has a header and no rows"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_empty_file_is_zero_rows_with_a_note_only_when_the_source_allows_it(tmp_path, fmt):
    write_bytes(tmp_path / f"p.{fmt}", b"")
    with pytest.raises(InputError, match="file is empty"):
        read_source(source(format=fmt, file=f"p.{fmt}"), tmp_path)
    batch = ingest_source(source(format=fmt, file=f"p.{fmt}", allow_empty=True), None, tmp_path, features=())
    assert batch.rows_in == 0 and batch.counts()["notes"] == ["no records: the file is empty"]


def test_a_source_with_rows_has_no_notes_in_its_counts(tmp_path):
    write_bytes(tmp_path / "p.csv", "id,surname\n1,Smith\n")
    batch = ingest_source(source(), None, tmp_path, features=())
    assert "notes" not in batch.counts() and source_notes([batch]) == []


def test_the_report_names_a_source_that_delivered_no_rows():
    from pace_linkage.pipeline import report_page

    counts = {"rows_in": 0, "rows_accepted": 0, "rows_quarantined": 0, "rows_withheld": 0}
    metrics = {"counts": {**counts, "by_source": {"p": {**counts, "label": "Partner P",
                                                        "notes": ["no records: the file is empty"]}}}}
    page = report_page(metrics, title="t")
    assert re.search(r"<li>Partner P[^<]*: no records: the file is empty</li>", page)


def test_every_new_reason_code_is_in_the_closed_set():
    assert {"too_deep", "duplicate_key", "header_row", "formula_without_value"} <= set(ROW_REASONS)


# ------------------------------------------------------------------------------- a column named "line"
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_a_partner_column_named_line_is_a_column_like_any_other(tmp_path, fmt):
    rows = [["id", "surname", "line"], ["1", "Smith", "12 High St"], ["", "Brown", "3 Low Rd"]]
    if fmt == "csv":
        write_bytes(tmp_path / "p.csv", "".join(",".join(r) + "\n" for r in rows))
    elif fmt == "jsonl":
        write_bytes(tmp_path / "p.jsonl", "".join(json.dumps(dict(zip(rows[0], r, strict=True))) + "\n"
                                                  for r in rows[1:]))
    else:
        workbook(tmp_path / "p.xlsx", rows)
    src = source(format=fmt, file=f"p.{fmt}", columns={"surname": "surname", "address": "line"})
    batch = ingest_source(src, None, tmp_path, features=())
    first = 2 if fmt != "jsonl" else 1
    assert batch.records[["record_id", "line", "address"]].values.tolist() == [["1", first, "12 High St"]]
    assert batch.quarantine[["line", "reasons"]].values.tolist() == [[first + 1, "missing_record_id"]]
    assert batch.quarantine["raw"].str.contains("3 Low Rd").all()


def test_a_file_name_that_is_not_utf8_is_refused_in_one_writable_line(tmp_path):
    import os

    with open(os.path.join(os.fsencode(tmp_path), b"p\xff.csv"), "wb") as fh:
        fh.write(b"id,surname\n1,Smith\n")
    with pytest.raises(InputError, match=r"p\\udcff.csv: source 'p': the file name is not valid UTF-8") as err:
        read_source(source(file="p*.csv"), tmp_path)
    str(err.value).encode("utf-8")


def test_the_engine_clusters_a_frame_holding_a_lone_surrogate_and_keeps_every_other_id():
    from pace_linkage.engine.cluster import cluster

    rec = pd.DataFrame({"source": ["a", "a", "a"], "record_id": ["r0", "r\ud800", "Ménard"]})
    pairs = pd.DataFrame({"l": [0], "r": [1], "match_weight": [10.0], "match_probability": [0.999]})
    ids = cluster(rec, pairs, 0.9).clusters["pace_id"]
    assert ids[0] == ids[1] and ids[2] == "P" + hashlib.sha256("a\x1fMénard".encode()).hexdigest()[:16]
