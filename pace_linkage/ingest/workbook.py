"""Loading an .xlsx workbook for reading: openpyxl's read-only reader, reading only the cells the file holds.

:func:`load_workbook` is ``openpyxl.load_workbook(path, read_only=True, data_only=True)``, except that:

1. A sheet's declared ``<dimension>`` is never read and never used. openpyxl pads every row to the declared
   width and yields every absent row up to the declared height, so a 5 KB file declaring ``A1:XFD1048576``
   makes it yield 1,048,576 rows of 16,384 cells. :meth:`ReadOnlySheet.present_rows` yields instead the
   rows the XML holds, each with the cells it holds: the work is linear in the size of the sheet's XML.
2. Inline-string cells (``t="inlineStr"``) are read as plain text directly (``<t>`` plus each run's ``<t>``,
   phonetic runs excluded) instead of being parsed into a rich-text object only to be joined back into the
   same text. Every other cell goes through openpyxl's own ``parse_cell`` (:class:`InlineTextParser`).
3. A formula cell with no calculated value in the file (``<f>`` and no ``<v>``, or an empty ``<v/>`` where
   the result is not text: written by a program that does not calculate, openpyxl among them, or saved
   without recalculation) reads as :data:`UNCALCULATED`, not as an empty cell, so that the reader can tell
   "the partner left this empty" from "the partner's export never computed it". A text result that is
   empty (``t="str"`` and ``<v></v>``) is a calculated empty text.
4. A row's cells come out as (column, value) pairs (:meth:`InlineTextParser.parse_row`). The cells a sheet
   mostly holds (an ``A1``-style reference, and a number not styled as a date, a shared string or an inline
   string, with its value) are read there directly; every other cell goes through :meth:`parse_cell` as in
   2 and 3, so each cell has the value openpyxl's ``parse_cell`` (with 2 and 3) gives it.

This module imports openpyxl when it is imported: only sources in xlsx format load it.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import column_index_from_string, coordinate_to_tuple
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, VALUE_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

_T_TAG, _R_TAG = f"{{{SHEET_MAIN_NS}}}t", f"{{{SHEET_MAIN_NS}}}r"
_REFERENCE = re.compile(r"([A-Z]{1,3})[0-9]+")  # a cell reference openpyxl's coordinate_to_tuple reads as is


class Uncalculated:
    """The value of a formula cell whose file holds no calculated value (see the module docstring)."""

    def __repr__(self) -> str:
        return "UNCALCULATED"


UNCALCULATED = Uncalculated()


class InlineTextParser(WorkSheetParser):
    """openpyxl's sheet parser, reading an inline-string cell's text directly when values (not formulas)
    and plain text (not rich text) are wanted; the same text openpyxl's rich-text object would join."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.column_numbers: dict[str, int] = {}  # column letters -> number, as coordinate_to_tuple reads them

    def parse_cell(self, element):
        if element.get("t") != "inlineStr" or not self.data_only or self.rich_text:
            cell = super().parse_cell(element)
            if cell["value"] is None and self.data_only and element.find(FORMULA_TAG) is not None and (
                    element.get("t") != "str" or element.find(VALUE_TAG) is None):
                cell["value"] = UNCALCULATED  # (a text result may be empty: <v></v> with t="str")
            return cell
        style_id = element.get("s", 0)
        if style_id:
            style_id = int(style_id)
        coordinate = element.get("r")
        if coordinate:
            row, column = coordinate_to_tuple(coordinate)
            self.col_counter = column
        else:
            self.col_counter += 1
            row, column = self.row_counter, self.col_counter
        value = inline_text(element)
        data_type = "inlineStr" if value is None else "s"
        return {"row": row, "column": column, "value": value, "data_type": data_type, "style_id": style_id}

    def parse_row(self, row):
        """(row number, [(column, value), ...]): the row number as openpyxl reads it, each cell's value as
        :meth:`parse_cell` gives it (the common cells read here directly, see the module docstring)."""
        number = row.get("r")
        if number is None:
            self.row_counter += 1
        else:
            try:
                self.row_counter = int(number)
            except ValueError:
                val = float(number)
                if not val.is_integer():
                    raise ValueError(f"{number} is not a valid row number") from None
                self.row_counter = int(val)
        self.col_counter = 0
        columns, shared, dates, out = self.column_numbers, self.shared_strings, self.date_formats, []
        for element in row:
            ref, kind, style = element.get("r"), element.get("t"), element.get("s")
            m = _REFERENCE.fullmatch(ref) if ref and self.data_only and not self.rich_text else None
            if style and not (style.isascii() and style.isdigit()):
                m = None  # a style number openpyxl must read (or refuse)
            value = None
            if m is not None:
                if kind == "inlineStr":
                    value = inline_text(element)
                elif kind is None or kind == "n" or kind == "s":
                    text = element.findtext(VALUE_TAG, None)
                    if not text:
                        m = None  # no value: a formula's missing result, or an empty cell
                    elif kind == "s":
                        value = shared[int(text)]
                    else:  # openpyxl's reading of a number, and of a date or a duration by its style
                        value = float(text) if "." in text or "E" in text or "e" in text else int(text)
                        number = int(style) if style else 0
                        if number in dates:
                            try:
                                value = from_excel(value, self.epoch, timedelta=number in self.timedelta_formats)
                            except (OverflowError, ValueError):
                                m = None  # openpyxl warns and reads it as an error value
                else:
                    m = None
            if m is None:
                cell = self.parse_cell(element)
                out.append((cell["column"], cell["value"]))
                continue
            letters = m.group(1)
            column = columns.get(letters)
            if column is None:
                column = columns[letters] = column_index_from_string(letters)
            self.col_counter = column
            out.append((column, value))
        return self.row_counter, out


def inline_text(element) -> str | None:
    """An inline-string cell's plain text: ``<t>`` plus each run's ``<t>`` (phonetic runs excluded), as
    openpyxl's ``Text.from_tree(child).content`` joins them (a repeated ``<t>`` keeps its last one); None when
    the cell holds no ``<is>``."""
    child = element.find(INLINE_STRING)
    if child is None:
        return None
    if len(child) == 1 and child[0].tag == _T_TAG:  # the common shape: <is><t>text</t></is>
        return child[0].text or ""
    last, runs = None, []
    for sub in child:
        if sub.tag == _T_TAG:
            last = sub
        elif sub.tag == _R_TAG:
            texts = [t for t in sub if t.tag == _T_TAG]
            if texts:
                runs.append(texts[-1])
    parts = ([last] if last is not None else []) + runs
    return "".join(t.text for t in parts if t.text is not None)


class ReadOnlySheet(ReadOnlyWorksheet):
    """openpyxl's read-only worksheet that never reads the declared ``<dimension>`` and yields only the rows and
    cells the file holds (:meth:`present_rows`), parsed with :class:`InlineTextParser`."""

    def _get_size(self):
        """The declared dimension is not read (see the module docstring): min and max stay unknown."""

    def present_rows(self) -> Iterator[tuple[int, list[tuple[int, object]]]]:
        """(row number, [(column number, value), ...]) for each ``<row>`` of the sheet's XML, in file order,
        with the cells it holds in file order: never padded, and absent rows never yielded."""
        with self._get_source() as src:
            parser = InlineTextParser(
                src, self._shared_strings, data_only=self.parent.data_only, epoch=self.parent.epoch,
                date_formats=self.parent._date_formats, timedelta_formats=self.parent._timedelta_formats,
            )
            yield from parser.parse()


class WorkbookReader(ExcelReader):
    """openpyxl's workbook reader whose read-only worksheets are :class:`ReadOnlySheet`."""

    def read_worksheets(self):
        # the read-only branch of ExcelReader.read_worksheets, with ReadOnlySheet
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            ws = ReadOnlySheet(self.wb, sheet.name, rel.target, self.shared_strings)
            ws.sheet_state = sheet.state
            self.wb._sheets.append(ws)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """openpyxl's own warnings silenced while a workbook is read: some quote a cell's value (a date serial out
    of range), and what the reader says about a file is its own, value-free."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load_workbook(path: Path):
    """``openpyxl.load_workbook(path, read_only=True, data_only=True)``, faster (see the module docstring).
    The caller closes the workbook."""
    reader = WorkbookReader(path, read_only=True, data_only=True)
    reader.read()
    return reader.wb
