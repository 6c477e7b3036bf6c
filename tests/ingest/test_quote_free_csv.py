"""A csv file without quote characters is split without the csv module: its rows, lines, quarantine reasons,
blank-line count and every error are the csv module's (the fast path against the slow one, on the same bytes)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.ingest import extract
from pace_linkage.ingest.rows import MAX_CELL_CHARS


def src(**kw) -> SourceConfig:
    base = dict(name="p", file="p.csv", record_id="id", columns={"surname": "surname"})
    base.update(kw)
    return SourceConfig(**base)


def outcome(path, source, monkeypatch, fast: bool):
    """What reading the file gives: the extract's parts, or the error line."""
    with monkeypatch.context() as m:
        if not fast:  # the csv module's reading
            m.setattr(extract, "_quote_free_records", lambda *a, **k: None)
        try:
            ext = extract.read_source(source, path.parent)
        except InputError as exc:
            return ("error", str(exc))
    return ("ok", ext)


def assert_same(a, b) -> None:
    assert a[0] == b[0]
    if a[0] == "error":
        assert a[1] == b[1]
        return
    x, y = a[1], b[1]
    assert x.header == y.header and x.rows_in == y.rows_in and x.blank_lines == y.blank_lines
    assert x.notes == y.notes
    pd.testing.assert_frame_equal(x.frame, y.frame, check_index_type=True)
    assert list(x.frame.dtypes) == list(y.frame.dtypes)
    pd.testing.assert_frame_equal(x.quarantine, y.quarantine)


HEADER = st.sampled_from(["id,surname", "id,surname,dob", "id", "id;surname", "id\tsurname"])
# mostly quote-free text (the fast path), sometimes a quote or a NUL byte (the csv module's path)
ALPHABET = st.sampled_from(list("ab 1,;\t\r\n") * 4 + ['"', "\r\n", "\x00", "é", "\ufeff", "\u2028", "\x85", "\x0b", "id"])
ROW_TEXT = st.lists(ALPHABET, max_size=12).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADER, rows=st.lists(ROW_TEXT, max_size=8), ending=st.sampled_from(["\n", "\r\n", "\r", ""]),
       repeat_header=st.booleans())
def test_quote_free_rows_equal_the_csv_modules(tmp_path, monkeypatch, header, rows, ending, repeat_header):
    delimiter = ";" if ";" in header else "\t" if "\t" in header else ","
    body = [header, *rows, *([header] if repeat_header else [])]
    path = tmp_path / "p.csv"
    path.write_bytes(ending.join(body).encode("utf-8") + (ending.encode() if rows else b""))
    source = src(delimiter=delimiter)
    assert_same(outcome(path, source, monkeypatch, fast=True), outcome(path, source, monkeypatch, fast=False))


@pytest.mark.parametrize("data", [
    b"id,surname\n1,Smith\n\n \n2,Jones,extra\n3\nid,surname\n4,Brown",  # blank, ragged, repeated header
    b"id,surname\r\n1,Smith\r2,Jones\r\n\r\n3,Brown\r\n",  # CR/LF mixes
    b"id,surname\n1," + b"x" * (MAX_CELL_CHARS + 1) + b"\n2,Ok\n",  # a cell too long
    b"id,surname\n1,Sm\xe9th\n",  # undecodable: the slow path and its error
    b"id,surname\n1,\"Smith, Jr\"\n2,Jones\n",  # a quoted field holding the delimiter: the slow path
    b"id,surname\n1,Smith\x00\n",  # a NUL byte
    b"id\n1\n \n2\n",  # one column, a blank line
    b"id,surname\n",  # header only
])
def test_hostile_files_read_the_same_either_way(tmp_path, monkeypatch, data):
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    assert_same(outcome(path, src(), monkeypatch, fast=True), outcome(path, src(), monkeypatch, fast=False))


def test_a_quote_free_file_takes_the_fast_path_and_a_quoted_one_does_not(tmp_path):
    plain = "id,surname\n1,Smith\n\n2,Jones,x\n"
    rows = extract._quote_free_records(plain, ["id", "surname"], [], src())
    assert rows is not None and rows.kept.tolist() == [["1", "Smith"]] and rows.lines == [2]
    assert rows.blank == 1 and rows.quarantined == [(4, "too_many_fields", "2,Jones,x")]
    assert extract._quote_free_records('id,surname\n1,"Smith"\n', ["id", "surname"], [], src()) is None
    assert extract._quote_free_records(plain, ["id", "surname"], [3], src()) is None  # an undecodable line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("text", ["", " ", "\n\r\n", "\x1c\u3000\t", "\ufeff\n"])
def test_a_file_of_blanks_is_empty_unless_allowed(tmp_path, fmt, text):
    path = tmp_path / f"p.{fmt}"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(InputError, match="file is empty"):
        extract.read_source(src(file=path.name, format=fmt), tmp_path)
    ext = extract.read_source(src(file=path.name, format=fmt, allow_empty=True), tmp_path)
    assert ext.rows_in == 0 and len(ext.frame) == 0
