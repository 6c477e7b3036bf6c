"""Writers: partner files in their own formats, truth files and the data dictionary.

Output is byte-for-byte reproducible: CSV/JSONL are plain text; xlsx workbooks get fixed document
properties and are re-zipped with fixed entry timestamps (openpyxl stamps the current time).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import yaml

from pace_linkage.config import PaceConfig, SourceConfig

FIXED_TIME = dt.datetime(2025, 1, 1, 0, 0, 0)
ZIP_TIME = (2025, 1, 1, 0, 0, 0)


def write_csv(frame: pd.DataFrame, path: Path, encoding: str, delimiter: str, crlf: bool = False) -> None:
    """Text with the partner's delimiter and encoding; characters the encoding lacks become '?', as
    legacy systems do."""
    frame.to_csv(
        path,
        sep=delimiter,
        index=False,
        encoding=encoding,
        errors="replace",
        lineterminator="\r\n" if crlf else "\n",
    )


def write_jsonl(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> None:
    if frame.empty:  # JSON lines have no header: nothing to deliver is an empty file
        path.write_bytes(b"")
        return
    text = frame.to_json(orient="records", lines=True, force_ascii=False)
    text = text.replace("\\/", "/")  # pandas escapes '/', which is legal but unusual
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_bytes(text.encode(encoding))


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str | None) -> None:
    """openpyxl write-only workbook: text cells, ``date`` values as date cells, ints as numbers."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    wb.properties.creator = "pace-linkage synthetic"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    ws = wb.create_sheet(title=sheet or "Sheet1")
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append(row)  # datetime.date values become real date cells (number format yyyy-mm-dd)
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_fixed_zip(buf.getvalue()))


def _fixed_zip(data: bytes) -> bytes:
    """Re-zip with fixed entry timestamps and a fixed dcterms:modified."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
                body = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    body,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, body)
    return out.getvalue()


def write_extract(frame: pd.DataFrame, src: SourceConfig, out_dir: Path, crlf: bool = False) -> Path:
    path = out_dir / src.file
    if src.format == "csv":
        write_csv(frame, path, src.encoding, src.delimiter, crlf)
    elif src.format == "jsonl":
        write_jsonl(frame, path, src.encoding)
    else:
        write_xlsx(frame, path, src.sheet if isinstance(src.sheet, str) else None)
    return path


# --------------------------------------------------------------------------------------------------
# Data dictionary
# --------------------------------------------------------------------------------------------------
def _delim_name(d: str) -> str:
    return {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}.get(d, repr(d))


def data_dictionary(
    pace: PaceConfig,
    settings,
    summary: dict,
    attributes: dict[str, str],
    employer_attributes: dict[str, str],
    partnership_file: Path | None,
) -> str:
    """Markdown describing every extract, generated from the configs."""
    from synthetic.partners import date_format

    lines = [
        "# PACE synthetic extracts: data dictionary",
        "",
        f"Generated from `{Path(pace.config_file or 'config/pace.yaml').name}`, its partner files and "
        f"`synthetic.yaml` (profile `{summary['profile']}`, seed {summary['seed']}, "
        f"{summary['people']} people, reference date {settings.reference_date}).",
        "",
        "Truth files (`truth.csv`, `employer_truth.csv`, `person_employer_truth.csv`) sit outside `extracts/`: "
        "columns `source,record_id,person_id` / `source,record_id,employer_id` / `source,record_id,employer_id` "
        "(the employer of each person record's person).",
        "",
    ]
    if partnership_file is not None and partnership_file.exists():
        part = yaml.safe_load(partnership_file.read_text(encoding="utf-8")) or {}
        lines += ["## The PACE partnership", "", "| Partner | Holds | Extract |", "|---|---|---|"]
        for p in part.get("partners", []):
            ext = p.get("source") or ""
            lines.append(f"| {p.get('label', p.get('name'))} | {p.get('data')} | {ext and '`' + ext + '`'} |")
        lines.append("")
    lines += ["## Client-level extracts", ""]
    for src in sorted(pace.sources.items, key=lambda s: s.name):
        ps = settings.partners[src.name]
        mapped = {col: field for field, col in src.columns.items()}
        is_cells = src.format == "xlsx" and ps.style.xlsx_dates == "cells"
        dfmt = "Excel date cells" if is_cells else f"`{date_format(src, pace)}`"
        lines += [
            f"### {src.label or src.name} (`{src.name}`)",
            "",
            f"- file: `extracts/{src.file}` ({src.format}"
            + (f", sheet `{src.sheet}`" if src.sheet is not None else "")
            + (
                f", {src.encoding}, {_delim_name(src.delimiter)}-delimited"
                if src.format == "csv"
                else f", {src.encoding}"
                if src.format == "jsonl"
                else ""
            )
            + ")",
            f"- records: {summary['records'].get(src.name, 0)}; record id column `{src.record_id}`",
            f"- dates: {dfmt}",
            "",
            "| Column | Canonical field | Holds |",
            "|---|---|---|",
        ]
        for col, attr in ps.columns.items():
            field = mapped.get(col, "record id" if col == src.record_id else "")
            lines.append(f"| `{col}` | {field} | {attributes.get(attr, attr)} |")
        lines.append("")
    if settings.employer_extracts:
        lines += ["## Employer extracts (linked by `config/employer.yaml`)", ""]
        for name, ext in settings.employer_extracts.items():
            lines += [
                f"### {ext.label} (`{name}`)",
                "",
                f"- file: `extracts/{ext.file}` (csv, {ext.encoding}, {_delim_name(ext.delimiter)}-delimited)",
                f"- records: {summary['employer_records'].get(name, 0)}; dates `{ext.date_format}`",
                "",
                "| Column | Holds |",
                "|---|---|",
            ]
            for col, attr in ext.columns.items():
                lines.append(f"| `{col}` | {employer_attributes.get(attr, attr)} |")
            lines.append("")
    return "\n".join(lines)
