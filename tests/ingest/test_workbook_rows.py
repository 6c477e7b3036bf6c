"""The sheet parser's row reading (InlineTextParser.parse_row) gives every cell the value its per-cell reading
(parse_cell: openpyxl's, with the inline-string and uncalculated-formula rules) gives, for any cell a sheet's XML
may hold: references, types, styles (dates and durations among them), values, formulas, inline strings."""

from __future__ import annotations

import datetime as dt
import io
import math
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

from pace_linkage.ingest.workbook import InlineTextParser

SHARED = ["alpha", "", "  beta  ", "007"]
DATE_STYLES, DURATION_STYLES = {1, 3}, {3}

valid_refs = st.builds(lambda col, row: f"{col}{row}", st.sampled_from(["A", "B", "AB", "XFD"]),
                       st.sampled_from(["1", "2", "17"]))
refs = st.one_of(
    valid_refs, valid_refs, valid_refs,
    st.none(),
    st.builds(lambda col, row: f"{col}{row}", st.sampled_from(["A", "B", "Z", "AA", "XFD", "ZZZ", "a", "$A", "AAAA", ""]),
              st.sampled_from(["1", "2", "17", "0", "01", "", "1.5", "x"])),
)
numbers = st.one_of(st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=False).map(repr),
                    st.sampled_from(["1e3", "2.5E-4", "45301", "-1", "0", "1e400", "nan", "inf", " 3", "1_000",
                                     "2958466", "99999999", "", "x"]))
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=5)


@st.composite
def inline(draw) -> str:
    parts = draw(st.lists(st.one_of(
        texts.map(lambda t: f"<t>{escape(t)}</t>"),
        st.just("<t/>"),
        st.lists(st.one_of(texts.map(lambda t: f"<t>{escape(t)}</t>"), st.just("<rPr/>")), max_size=2)
        .map(lambda ts: f"<r>{''.join(ts)}</r>"),
        texts.map(lambda t: f"<rPh><t>{escape(t)}</t></rPh>"),
    ), max_size=3))
    return f"<is>{''.join(parts)}</is>"


@st.composite
def cell(draw) -> str:
    attrs = ""
    ref = draw(refs)
    if ref is not None:
        attrs += f' r="{ref}"'
    kind = draw(st.sampled_from([None, None, "n", "n", "s", "s", "inlineStr", "inlineStr", "b", "str", "e", "d", "x"]))
    if kind is not None:
        attrs += f' t="{kind}"'
    style = draw(st.sampled_from([None, None, "0", "1", "1", "2", "3", "3", "", " 1", "x"]))
    if style is not None:
        attrs += f' s="{style}"'
    body = ""
    if draw(st.booleans()):
        body += "<f>SUM(A1:A2)</f>"
    value = draw(st.one_of(st.none(), numbers, numbers, numbers, st.sampled_from(["0", "1", "3", "9"]),
                           st.just("2024-01-31T10:00:00"), texts))
    if value is not None:
        body += f"<v>{escape(value)}</v>"
    if kind == "inlineStr" or draw(st.integers(0, 4)) == 0:
        body += draw(inline())
    return f"<c{attrs}>{body}</c>"


def parser() -> InlineTextParser:
    return InlineTextParser(io.BytesIO(b""), SHARED, data_only=True, date_formats=DATE_STYLES,
                            timedelta_formats=DURATION_STYLES)


def comparable(v: object) -> tuple:
    if isinstance(v, float) and math.isnan(v):
        return (float, "nan")
    return (type(v), v)


def read(fn, row) -> tuple:
    """(row number, [(column, type, value)]) or the type of the exception raised."""
    try:
        number, cells = fn(row)
    except Exception as exc:  # noqa: BLE001 -- both readings must refuse the same cells
        return ("error", type(exc).__name__)
    cells = [(c["column"], c["value"]) if isinstance(c, dict) else c for c in cells]
    return number, [(col, *comparable(v)) for col, v in cells]


@settings(max_examples=100)
@given(st.lists(st.lists(cell(), max_size=6), min_size=1, max_size=4),
       st.lists(st.sampled_from([None, "1", "2", "5", "3.0", "2.5"]), min_size=4, max_size=4))
def test_row_reading_equals_the_per_cell_reading(rows, numbers):
    xml = "".join(f"<row{'' if n is None else f' r={chr(34)}{n}{chr(34)}'}>{''.join(cs)}</row>"
                  for cs, n in zip(rows, numbers, strict=False))
    sheet = ET.fromstring(f'<sheetData xmlns="{SHEET_MAIN_NS}">{xml}</sheetData>')
    fast, slow = parser(), parser()
    for row in sheet:
        assert read(fast.parse_row, row) == read(lambda r: WorkSheetParser.parse_row(slow, r), row)


def test_the_common_cells_read_as_openpyxl_reads_them():
    xml = (f'<row xmlns="{SHEET_MAIN_NS}" r="4"><c r="A4" t="inlineStr"><is><t>000001</t></is></c>'
           '<c r="B4" s="1" t="n"><v>45301</v></c><c r="C4" t="s"><v>3</v></c><c r="D4"><v>2.5</v></c>'
           '<c r="E4" s="3"><v>1.5</v></c><c r="F4"><f>A1</f></c><c r="AB4" t="inlineStr"><is><t>a</t>'
           '<r><t>b</t></r><rPh><t>x</t></rPh></is></c></row>')
    number, cells = parser().parse_row(ET.fromstring(xml))
    assert number == 4
    assert cells[:5] == [(1, "000001"), (2, dt.datetime(2024, 1, 10)), (3, "007"), (4, 2.5),
                         (5, dt.timedelta(days=1, hours=12))]
    assert repr(cells[5][1]) == "UNCALCULATED" and cells[5][0] == 6
    assert cells[6] == (28, "ab")
