"""Canonical fields: the kind of value each holds, and the record columns its normaliser produces.

:data:`DERIVED_SUFFIXES` is the one table of derived columns: the normalise stage names its output columns
by it (:func:`field_columns`) and the config checks that blocking rules and comparisons use columns it lists.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from pace_linkage.engine.settings import Strict

FieldKind = Literal["nino", "name", "dob", "date", "postcode", "postal_code", "sex", "phone", "email", "text", "id",
                    "org_name", "company_number"]

# the columns a field ``f`` of each kind produces, as suffixes of ``f``, in the order the normaliser returns
# them (kinds not listed produce ``f`` alone)
DERIVED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "nino": ("", "_suffix"),
    "name": ("", "_canon", "_sound", "_initial"),
    "dob": ("", "_year", "_month", "_day"),
    "date": ("", "_year", "_month", "_day"),
    "postcode": ("", "_area", "_district", "_sector"),
    "postal_code": ("", "_prefix2", "_prefix3", "_prefix4"),
    "email": ("", "_user", "_domain", "_text"),
    "org_name": ("", "_suffix", "_trading", "_core", "_first"),
    "company_number": ("", "_digits"),
}


NAME_RULE = "lower-case letters, digits and underscores"
_NAME = re.compile(r"[a-z0-9_]{1,63}")  # ASCII: names become file names, folder names and database roles


def is_name(value: str) -> bool:
    """A name a user gives a source, scenario, data item or dimension: 1 to 63 of :data:`NAME_RULE`."""
    return bool(_NAME.fullmatch(value))


def _checked_name(value: str) -> str:
    if not is_name(value):
        raise ValueError(f"must be {NAME_RULE}")
    return value


Name = Annotated[str, AfterValidator(_checked_name)]  # a field typed Name is checked by :func:`is_name`


def file_pattern_problem(pattern: str) -> str | None:
    """What is wrong with a source's ``file`` (None: nothing): it names a file or glob pattern inside the extracts
    folder, so it is relative and has no ``..`` part (a partner's file is never read from anywhere else)."""
    if not pattern.strip():
        return "must name a file in the extracts folder"
    if "\x00" in pattern:
        return "must not hold a NUL character"
    parts = re.split(r"[/\\]", pattern)
    if pattern.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", pattern):
        return "must be relative to the extracts folder, not an absolute path"
    if ".." in parts:
        return "must not leave the extracts folder (no '..' part)"
    return None


DATE_FORMAT_MAX = 64
# the directives datetime.strptime knows (``%%`` is a literal percent sign)
_DIRECTIVE = re.compile(r"%(.?)")
_DIRECTIVES = set("aAbBcdfGhHIjmMpSuUVwWxXyYzZ%")


def _checked_date_format(value: str) -> str:
    if len(value) > DATE_FORMAT_MAX:
        raise ValueError(f"a date format is at most {DATE_FORMAT_MAX} characters")
    found = _DIRECTIVE.findall(value)
    bad = [d for d in found if d not in _DIRECTIVES]
    if bad:
        raise ValueError("not a strptime format: '%" + bad[0] + "' is not a directive (e.g. %d/%m/%Y)")
    if not [d for d in found if d != "%"]:
        raise ValueError("not a strptime format: it holds no % directive (e.g. %d/%m/%Y)")
    return value


DateFormat = Annotated[str, AfterValidator(_checked_date_format)]  # a strptime format such as %d/%m/%Y


def field_columns(field: str, kind: str) -> list[str]:
    """The record columns a field of ``kind`` produces, in order (the field itself first)."""
    return [field + suffix for suffix in DERIVED_SUFFIXES.get(kind, ("",))]


class FieldSpec(Strict):
    """A canonical field: the normaliser ``kind`` decides its clean form and derived columns.

    Derived columns (used by blocking rules and comparisons), by kind:
      nino     -> ``f`` (8-character stem, e.g. ``AB123456``), ``f_suffix``
      name     -> ``f`` (clean upper case), ``f_canon`` (nickname/Mc-Mac folded), ``f_sound``
                  (phonetic code), ``f_initial``
      dob/date -> ``f`` (ISO date string), ``f_year``, ``f_month``, ``f_day``
      postcode -> ``f`` (``OUTWARD INWARD``), ``f_area``, ``f_district``, ``f_sector``
      postal_code -> ``f`` (a code of any country: upper case, no blanks or punctuation, no shape check),
                  ``f_prefix2``, ``f_prefix3``, ``f_prefix4`` (its first 2, 3, 4 characters)
      sex      -> ``f`` in {M, F, X}
      phone    -> ``f`` (E.164)
      email    -> ``f`` (a valid address, lower case), ``f_user`` (user part without a +tag), ``f_domain``,
                  ``f_text`` (as written, blanks dropped: kept for a malformed address too, to compare fuzzily)
      text     -> ``f`` (upper case, punctuation dropped, spaces collapsed)
      id       -> ``f`` (trimmed text; leading zeros kept)
      org_name -> ``f`` (business name without legal form or trading name), ``f_suffix`` (LTD, PLC, LLP,
                  CIC ...), ``f_trading`` (the t/a name), ``f_core`` (generic words dropped), ``f_first``
      company_number -> ``f`` (8-character Companies House number), ``f_digits`` (number without prefix)

    Dates (kinds ``dob`` and ``date``; see :mod:`pace_linkage.normalise.dates`): a configured ``date_format``
    (or a source's ``formats``) is strict -- a value it does not read is nulled as ``<kind>_wrong_format``,
    never re-read another way; unset, the layout is detected per value. ``earliest``, ``min_age``,
    ``max_age`` and ``allow_future`` are the plausibility limits; a value outside them is nulled with its
    reason, counted per source and column in the run log, metrics.json and the report.
    """

    kind: FieldKind
    date_format: DateFormat | None = None  # default strptime format for dob/date (a source may override)
    # dob/date: an earlier date is nulled (<kind>_before_earliest). Unset: 1900-01-01
    earliest: dt.date | None = None
    # dob only: an age on the run date under min_age or over max_age is nulled (dob_implausible_age).
    # Unset: 14 and 110
    min_age: int | None = Field(default=None, ge=0, le=1000)
    max_age: int | None = Field(default=None, ge=0, le=1000)
    # dob/date: keep dates after the run date? Unset: a dob no (dob_future), a date yes
    allow_future: bool | None = None
    placeholders: list[str] = Field(default_factory=list)  # values meaning "unknown" -> null
    # name kind only: does the field hold given names (nickname -> formal name folding)? Unset: inferred
    # from the field name (first/fore/given/middle/christian).
    given_name: bool | None = None

    @model_validator(mode="after")
    def _date_settings_fit_the_kind(self) -> FieldSpec:
        problems = []
        dated = ("earliest", "allow_future", "date_format")
        for key in dated if self.kind not in ("dob", "date") else ():
            if getattr(self, key) is not None:
                problems.append(f"{key} is a setting of kinds dob and date, not {self.kind}")
        for key in ("min_age", "max_age") if self.kind != "dob" else ():
            if getattr(self, key) is not None:
                problems.append(f"{key} is a setting of kind dob, not {self.kind}")
        lo, hi = self.min_age, self.max_age
        if lo is not None and hi is not None and lo > hi:
            problems.append(f"min_age ({lo}) is above max_age ({hi})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

