"""Loading an .xlsx workbook for reading: openpyxl's read-only reader, minus two costs that change no value.

:func:`load_workbook` is ``openpyxl.load_workbook(path, read_only=True, data_only=True)``, except that:

1. A sheet's ``<dimension>`` is looked for only up to the start of ``<sheetData>``, not by parsing the
   *whole* sheet XML when the element is absent (as in every write-only openpyxl workbook). A dimension can
   only precede ``<sheetData>`` (and openpyxl never sees one after it either), so this finds exactly the
   same dimension, or none (:class:`ReadOnlySheet`).
2. Inline-string cells (``t="inlineStr"``) are read as plain text directly (``<t>`` plus each run's ``<t>``,
   phonetic runs excluded) instead of being parsed into a rich-text object only to be joined back into the
   same text. Every other cell goes through openpyxl's own ``parse_cell`` (:class:`InlineTextParser`).

This module imports openpyxl when it is imported: only sources in xlsx format load it.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import INLINE_STRING, WorkSheetParser
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

_DIMENSION_TAG, _DATA_TAG = f"{{{SHEET_MAIN_NS}}}dimension", f"{{{SHEET_MAIN_NS}}}sheetData"
_T_TAG, _R_TAG = f"{{{SHEET_MAIN_NS}}}t", f"{{{SHEET_MAIN_NS}}}r"


class InlineTextParser(WorkSheetParser):
    """openpyxl's sheet parser, reading an inline-string cell's text directly when values (not formulas)
    and plain text (not rich text) are wanted; the same text openpyxl's rich-text object would join."""

    def parse_cell(self, element):
        if element.get("t") != "inlineStr" or not self.data_only or self.rich_text:
            return super().parse_cell(element)
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
    """openpyxl's read-only worksheet, looking for ``<dimension>`` only before ``<sheetData>`` and parsing
    cells with :class:`InlineTextParser`."""

    def _get_size(self):
        with self._get_source() as src:
            for event, element in iterparse(src, events=("start", "end")):
                if event == "start" and element.tag == _DATA_TAG:
                    return
                if event == "end" and element.tag == _DIMENSION_TAG:
                    dims = SheetDimension.from_tree(element).boundaries
                    if dims is not None:
                        self._min_column, self._min_row, self._max_column, self._max_row = dims
                    return

    def _cells_by_row(self, min_col, min_row, max_col, max_row, values_only=False):
        # openpyxl's ReadOnlyWorksheet._cells_by_row (3.1), with InlineTextParser
        filler = None if values_only else EMPTY_CELL
        max_col = max_col or self.max_column
        max_row = max_row or self.max_row
        empty_row = (filler,) * (max_col + 1 - min_col) if max_col is not None else []
        counter = min_row
        idx = 1
        with self._get_source() as src:
            parser = InlineTextParser(
                src, self._shared_strings, data_only=self.parent.data_only, epoch=self.parent.epoch,
                date_formats=self.parent._date_formats, timedelta_formats=self.parent._timedelta_formats,
            )
            for idx, row in parser.parse():
                if max_row is not None and idx > max_row:
                    break
                for _ in range(counter, idx):
                    counter += 1
                    yield empty_row
                if counter <= idx:
                    counter += 1
                    yield self._get_row(row, min_col, max_col, values_only)
        if max_row is not None and max_row < idx:
            for _ in range(counter, max_row + 1):
                yield empty_row


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
