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

This module imports openpyxl when it is imported: only sources in xlsx format load it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, VALUE_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

_T_TAG, _R_TAG = f"{{{SHEET_MAIN_NS}}}t", f"{{{SHEET_MAIN_NS}}}r"


class Uncalculated:
    """The value of a formula cell whose file holds no calculated value (see the module docstring)."""

    def __repr__(self) -> str:
        return "UNCALCULATED"


UNCALCULATED = Uncalculated()


class InlineTextParser(WorkSheetParser):
    """openpyxl's sheet parser, reading an inline-string cell's text directly when values (not formulas)
    and plain text (not rich text) are wanted; the same text openpyxl's rich-text object would join."""

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
        value, data_type = None, "inlineStr"
        child = element.find(INLINE_STRING)
        if child is not None:
            data_type = "s"
            # as openpyxl's Text.from_tree(child).content: a repeated <t> keeps its last one
            texts = [child.findall(_T_TAG)] + [run.findall(_T_TAG) for run in child.iterfind(_R_TAG)]
            value = "".join(ts[-1].text for ts in texts if ts and ts[-1].text is not None)
        return {"row": row, "column": column, "value": value, "data_type": data_type, "style_id": style_id}


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
            for idx, cells in parser.parse():
                yield idx, [(c["column"], c["value"]) for c in cells]


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


def load_workbook(path: Path):
    """``openpyxl.load_workbook(path, read_only=True, data_only=True)``, faster (see the module docstring).
    The caller closes the workbook."""
    reader = WorkbookReader(path, read_only=True, data_only=True)
    reader.read()
    return reader.wb
