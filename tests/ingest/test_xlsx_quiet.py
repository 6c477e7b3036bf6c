"""Reading a workbook says nothing of its own: openpyxl's warnings (one quotes a date serial out of range) are
silenced while the reader and the pre-flight check read it."""

from __future__ import annotations

import warnings

import openpyxl

from pace_linkage.config.sources import SourceConfig
from pace_linkage.ingest import preflight
from pace_linkage.ingest.extract import read_source

SERIAL = 9.87654321e16  # a date-formatted cell far outside the dates a workbook can hold


def _workbook(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "dob"])
    ws.append(["001", SERIAL])
    ws["B2"].number_format = "yyyy-mm-dd"
    wb.save(path)


def test_a_date_serial_out_of_range_is_read_without_a_warning_quoting_it(tmp_path, capsys):
    _workbook(tmp_path / "p.xlsx")
    src = SourceConfig(name="p", file="p.xlsx", format="xlsx", record_id="id", columns={"surname": "dob"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ext = read_source(src, tmp_path)
        header = preflight._xlsx_header(src, tmp_path / "p.xlsx")  # the pre-flight check reads row 1 too
    assert header == ["id", "dob"]
    assert ext.rows_in == 1
    assert [str(w.message) for w in caught] == []
    out = capsys.readouterr()
    assert "9876" not in out.out + out.err
