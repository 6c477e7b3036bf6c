"""A field read from several source columns: date parts (year, month, day) and name parts / address lines joined
with a space. Pre-flight and the column mapping name every part; row accounting is unchanged."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import write
from hypothesis import given
from hypothesis import strategies as st

from pace_linkage.config import DateParts, load_config
from pace_linkage.errors import ConfigError, InputError
from pace_linkage.ingest.extract import read_source
from pace_linkage.ingest.preflight import mapped_columns, source_problems
from pace_linkage.ingest.sources import ingest_source, normalise_source
from pace_linkage.ingest.validate import map_columns, mapped_column

CFG = """
fields:
  surname: {kind: name}
  address: {kind: text}
  dob: {kind: dob, date_format: "%d/%m/%Y"}
identifying_fields: [surname, dob]
sources:
  items:
    - name: p
      file: p.csv
      record_id: id
      columns:
        surname: [Family1, Family2]
        address: [Addr1, Addr2, Addr3]
        dob: {parts: {year: BirthYear, month: BirthMonth, day: BirthDay}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""
HEADER = "id,Family1,Family2,Addr1,Addr2,Addr3,BirthYear,BirthMonth,BirthDay\n"


@pytest.fixture
def cfg(tmp_path):
    return load_config(write(tmp_path / "pace.yaml", CFG))


def test_parts_and_lists_are_read_as_one_field_each(tmp_path, cfg):
    write(tmp_path / "p.csv", HEADER + "1,Smith,Jones,1 High St,,Leeds,1980,3,7\n"
                                       "2,Brown,,,,,1975.0,12.0,31.0\n"
                                       "3,,,,,,,,\n"
                                       "4,Lee,,,,,1990,,5\n"
                                       "5,Ng,,,,,2001,Sept.,5\n"
                                       "6,Ng,,,,,2001,Smarch,5\n")
    src = cfg.sources.items[0]
    ext = read_source(src, tmp_path)
    out, q = map_columns(ext, src, cfg)
    assert out["surname"].tolist() == ["Smith Jones", "Brown", None, "Lee", "Ng", "Ng"]
    assert out["address"].tolist() == ["1 High St Leeds", None, None, None, None, None]
    assert out["dob"].tolist() == ["1980-3-7", "1975-12-31", None, "1990--5", "2001-9-5", "2001-Smarch-5"]
    assert q.empty and ext.rows_in == len(out) + len(q)  # row accounting as for one column each


def test_date_parts_normalise_to_the_date_whatever_the_field_format(tmp_path, cfg):
    write(tmp_path / "p.csv", HEADER + "1,Smith,,,,,1980,3,7\n2,Lee,,,,,1990,,5\n3,Ng,,,,,,,\n")
    src = cfg.sources.items[0]
    batch = ingest_source(src, cfg, tmp_path, features=[])
    done = normalise_source(batch, src, cfg, today=dt.date(2026, 1, 1), features=[])
    assert done.records["dob"].tolist()[:1] == ["1980-03-07"]
    assert pd.isna(done.records["dob"]).tolist() == [False, True, True]
    assert done.reasons["count"].sum() == 1  # the row with a part missing is counted; the empty one is absent


def test_a_missing_part_column_is_one_line_naming_its_key(tmp_path, cfg):
    write(tmp_path / "p.csv", "id,Family1,Family2,Addr1,Addr2,Addr3,BirthYear,BirthMonth\n1,A,,,,,1980,3\n")
    src = cfg.sources.items[0]
    with pytest.raises(InputError) as err:
        map_columns(read_source(src, tmp_path), src, cfg)
    msg = str(err.value)
    assert "pace.yaml: columns.dob.parts.day: column 'BirthDay' not found in p.csv" in msg
    assert "\n" not in msg and "1980" not in msg
    problems = source_problems(src, tmp_path)
    assert len(problems) == 1 and "columns.dob.parts.day: column 'BirthDay' not found in p.csv" in problems[0]


def test_preflight_knows_every_mapped_column(cfg):
    wanted = mapped_columns(cfg.sources.items[0])
    assert wanted["columns.surname[1]"] == "Family2" and wanted["columns.address[2]"] == "Addr3"
    assert wanted["columns.dob.parts.year"] == "BirthYear"
    assert set(cfg.sources.items[0].source_columns()) == set(wanted.values()) - {"id"}


@pytest.mark.parametrize(("mapping", "needle"), [
    ('dob: {parts: {year: Y, month: M}}', "lacking: day"),
    ('surname: []', "one or more non-empty column names"),
    ('surname: {parts: {year: Y, month: M, day: D}}', "date parts map a field of kind dob or date, not name"),
])
def test_bad_mappings_are_one_line(tmp_path, mapping, needle):
    text = CFG.replace("        surname: [Family1, Family2]\n", "").replace(
        "        dob: {parts: {year: BirthYear, month: BirthMonth, day: BirthDay}}", "        " + mapping)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", text))
    assert needle in str(err.value) and "\n" not in str(err.value).strip()


def test_a_format_for_a_parts_field_is_refused(tmp_path):
    text = CFG.replace("      record_id: id\n", "      record_id: id\n      formats: {dob: '%Y%m%d'}\n")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", text))
    assert "formats.dob: the field is read from date parts" in str(err.value)


cell = st.one_of(st.just(""), st.just(None), st.text(alphabet="ab ", max_size=4))


@given(st.lists(st.tuples(cell, cell), max_size=8))
def test_joined_columns_drop_blanks_and_keep_every_word(rows):
    frame = pd.DataFrame(rows, columns=["a", "b"], dtype=object)
    out = mapped_column(frame, ["a", "b"])
    for (a, b), got in zip(rows, out, strict=True):
        words = f"{a or ''} {b or ''}".split()
        assert (got is None) == (not words)
        assert got is None or got.split(" ") == words


def test_date_parts_model_orders_the_parts():
    assert list(DateParts(parts={"day": "D", "year": "Y", "month": "M"}).parts) == ["year", "month", "day"]


def test_an_allowed_empty_file_maps_to_no_records(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", CFG.replace("      record_id: id\n",
                                                                "      record_id: id\n      allow_empty: true\n")))
    write(tmp_path / "p.csv", "")
    src = cfg.sources.items[0]
    batch = ingest_source(src, cfg, tmp_path, features=[])
    assert list(batch.records.columns)[-3:] == ["surname", "address", "dob"] and batch.records.empty


def test_date_parts_with_day_and_month_columns_the_other_way_round_are_named_in_a_warning(tmp_path, cfg):
    from pace_linkage.ingest.nulls import DAY_MONTH, normalise_warnings
    from pace_linkage.ingest.sources import coverage

    rows = "".join(f"{i},Smith,,,,,1980,{13 + i % 15},{1 + i % 12}\n" for i in range(20))  # day in BirthMonth
    write(tmp_path / "p.csv", HEADER + rows)
    src = cfg.sources.items[0]
    batch = normalise_source(ingest_source(src, cfg, tmp_path, features=[]), src, cfg,
                             today=dt.date(2026, 1, 1), features=[])
    warned = [w for w in normalise_warnings(coverage([batch], cfg), cfg) if w["kind"] == DAY_MONTH]
    assert len(warned) == 1 and warned[0]["column"] == "BirthYear+BirthMonth+BirthDay"
    assert "columns.dob.parts" in warned[0]["message"] and "1980" not in warned[0]["message"]
