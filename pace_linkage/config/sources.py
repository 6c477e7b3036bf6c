"""Sources: one partner extract each (where it is, how to read it, how its columns map to fields), and the
sharing agreement under which the partner sends it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from pace_linkage.config.fields import NAME_RULE, DateFormat, Name, file_pattern_problem, is_name
from pace_linkage.engine.settings import Strict


class SharingAgreement(Strict):
    """What a partner shares into the centre (see pace_linkage.study.sharing)."""

    consent_column: str | None = None  # the partner's own column recording consent to share
    consent_values: list[str] = Field(default_factory=lambda: ["y", "yes", "true", "1"])
    allowed_fields: list[str] | None = None  # canonical fields shared into the centre (None: all mapped)
    expires: dt.date | None = None
    # rows without consent: always kept out of linkage and every record-level output; ``aggregates``: the
    # partner still contributes their counts (pace_linkage.study.aggregates, computed at ingest), ``exclude``: nothing
    without_consent: Literal["exclude", "aggregates"] = "exclude"
    # what this partner lets others receive back from the centre: recipient source (or "*": every other
    # partner) -> canonical fields of this partner's records that the recipient may see, for the persons
    # (pace ids) both of them hold (pace_linkage.study.sharing.released_fields; the store's `released` table)
    release_to: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _aggregates_need_consent_column(self) -> SharingAgreement:
        if self.without_consent == "aggregates" and not self.consent_column:
            raise ValueError("without_consent: aggregates needs a consent_column (which rows lack consent?)")
        return self


DATE_PARTS = ("year", "month", "day")


class DateParts(Strict):
    """A date held in three columns: ``{parts: {year: BirthYear, month: BirthMonth, day: BirthDay}}``. The
    normaliser reads them as one ``year-month-day`` date (numbers; a four-digit year): a row with no part is
    missing, a row with some parts only is unreadable (the field's usual reason)."""

    parts: dict[Literal["year", "month", "day"], str]

    @field_validator("parts")
    @classmethod
    def _all_three(cls, v: dict[str, str]) -> dict[str, str]:
        lacking = [p for p in DATE_PARTS if p not in v]
        if lacking:
            raise ValueError(f"name a column for each of year, month and day (lacking: {', '.join(lacking)})")
        if any(not str(c).strip() for c in v.values()):
            raise ValueError("a part's column name is empty")
        return {p: v[p] for p in DATE_PARTS}


# how a field is read from a source: one column; several columns joined with a space (name parts, address
# lines); or a date from year, month and day columns
def _mapping_kind(value: object) -> str:
    """Which form of :data:`ColumnMapping` a value is written in (so an error names that form alone)."""
    return "date" if isinstance(value, dict | DateParts) else "joined" if isinstance(value, list) else "column"


ColumnMapping = Annotated[
    Annotated[str, Tag("column")] | Annotated[list[str], Tag("joined")] | Annotated[DateParts, Tag("date")],
    Discriminator(_mapping_kind),
]


def mapping_columns(mapping: ColumnMapping) -> list[tuple[str, str]]:
    """``(key suffix, column)`` for each source column a field's mapping reads: ``("", col)`` for one column,
    ``("[i]", col)`` for the i-th of a list, ``(".parts.year", col)`` for a date part."""
    if isinstance(mapping, DateParts):
        return [(f".parts.{p}", c) for p, c in mapping.parts.items()]
    if isinstance(mapping, list):
        return [(f"[{i}]", c) for i, c in enumerate(mapping)]
    return [("", mapping)]


class SourceConfig(Strict):
    """One partner's extract: where it is, how to read it, and how its columns map to fields."""

    name: Name  # short id used in outputs (source column); [a-z0-9_]
    label: str | None = None  # human name, e.g. "Skills Development Scotland"
    file: str  # file name or glob, relative to the extracts directory (no absolute path, no '..')
    format: Literal["csv", "xlsx", "jsonl"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    sheet: str | int | None = None  # xlsx sheet name or index (default: first)
    record_id: str  # source column holding the partner's record id
    # canonical field -> source column; or a list of columns joined with a space (e.g. [Family1, Family2],
    # [Address1, Address2]); or date parts {parts: {year: Y, month: M, day: D}} (see DateParts)
    columns: dict[str, ColumnMapping] = Field(default_factory=dict)
    formats: dict[str, DateFormat] = Field(default_factory=dict)  # canonical field -> date format override
    duplicate_free: bool = False  # the partner guarantees one record per person
    # What the partner holds, for the report's "what each partner holds" section: data item -> the
    # partner's own column(s) holding it, e.g. {consent: [Consent_To_Share], name: [Forename, Surname]}.
    # Items are lower-case names (the study's items are listed in pace_linkage.study.holdings.STUDY_ITEMS);
    # completeness is the share of accepted rows with a value in any of the columns. A column missing
    # from the file is reported (item not held, with a warning), never a reason to fail the source.
    # Unset: the items implied by ``columns``.
    items: dict[str, list[str]] = Field(default_factory=dict)
    on_bad_encoding: Literal["fail", "quarantine"] = "fail"
    # An empty file (no header exists to say "zero rows") is an error by default, since it is more often a
    # failed export; a partner that sends an empty file for a month with no clients sets this (JSON lines or csv).
    # Either way a source that delivered no rows is named in the run's warnings, metrics and report.
    allow_empty: bool = False
    # A source that cannot be read fails the run; ``required: false`` lets the run go on without it (named as
    # missing in the first line of the report), as ``pace-linkage run --allow-partial`` does for every source.
    # Left out of the config hash: it decides whether a run goes on, never what a run computes.
    required: bool = Field(default=True, exclude=True)
    sharing: SharingAgreement | None = None
    config_file: str | None = Field(default=None, exclude=True)  # set by the loader, for messages

    @field_validator("columns")
    @classmethod
    def _lists_name_columns(cls, v: dict[str, ColumnMapping]) -> dict[str, ColumnMapping]:
        for field, mapping in v.items():
            if isinstance(mapping, list) and (not mapping or any(not str(c).strip() for c in mapping)):
                raise ValueError(f"columns.{field}: list one or more non-empty column names")
        return v

    def columns_of(self, field: str) -> list[str]:
        """The source columns field ``field`` is read from (none if it is not mapped)."""
        mapping = self.columns.get(field)
        return [] if mapping is None else [c for _, c in mapping_columns(mapping)]

    def source_columns(self) -> list[str]:
        """Every source column the mapped fields read, once each, in mapping order."""
        return list(dict.fromkeys(c for f in self.columns for c in self.columns_of(f)))

    def date_parts_fields(self) -> list[str]:
        """The fields this source maps from date parts (read as ``year-month-day``)."""
        return [f for f, m in self.columns.items() if isinstance(m, DateParts)]

    @field_validator("items")
    @classmethod
    def _items_named_with_columns(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for item, cols in v.items():
            if not is_name(item):
                raise ValueError(f"item '{item}': must be {NAME_RULE}")
            if not cols or any(not str(c).strip() for c in cols):
                raise ValueError(f"item '{item}': list one or more non-empty column names")
        return v

    @field_validator("file")
    @classmethod
    def _inside_extracts(cls, v: str) -> str:
        problem = file_pattern_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError("must be a single character")
        if v in "\"\r\n":
            raise ValueError("must not be a quote or a line break")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        try:
            b"a".decode(v)  # a codec that decodes bytes to text (not rot13, not base64)
        except LookupError:
            raise ValueError("not a known text encoding (e.g. utf-8, cp1252, latin-1)") from None
        except UnicodeError:
            pass  # a known text codec (utf-16 wants two bytes)
        return v

    @field_validator("sheet")
    @classmethod
    def _sheet_index(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, int) and not 0 <= v < 10_000:
            raise ValueError("a sheet index counts from 0")
        return v


class SourcesSection(Strict):
    include: list[str] = Field(default_factory=list)  # glob patterns relative to the config file
    items: list[SourceConfig] = Field(default_factory=list)  # inline sources

