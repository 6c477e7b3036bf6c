"""Canonical fields: the kind of value each holds, and the record columns its normaliser produces.

:data:`DERIVED_SUFFIXES` is the one table of derived columns: the normalise stage names its output columns
by it (:func:`field_columns`) and the config checks that blocking rules and comparisons use columns it lists.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pace_linkage.engine.settings import Strict

FieldKind = Literal["nino", "name", "dob", "date", "postcode", "sex", "phone", "email", "text", "id", "org_name",
                    "company_number"]

# the columns a field ``f`` of each kind produces, as suffixes of ``f``, in the order the normaliser returns
# them (kinds not listed produce ``f`` alone)
DERIVED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "nino": ("", "_suffix"),
    "name": ("", "_canon", "_sound", "_initial"),
    "dob": ("", "_year", "_month", "_day"),
    "date": ("", "_year", "_month", "_day"),
    "postcode": ("", "_area", "_district", "_sector"),
    "org_name": ("", "_suffix", "_trading", "_core", "_first"),
    "company_number": ("", "_digits"),
}


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
      sex      -> ``f`` in {M, F, X}
      phone    -> ``f`` (E.164)
      email    -> ``f`` (lower case)
      text     -> ``f`` (upper case, punctuation dropped, spaces collapsed)
      id       -> ``f`` (trimmed text; leading zeros kept)
      org_name -> ``f`` (business name without legal form or trading name), ``f_suffix`` (LTD, PLC, LLP,
                  CIC ...), ``f_trading`` (the t/a name), ``f_core`` (generic words dropped), ``f_first``
      company_number -> ``f`` (8-character Companies House number), ``f_digits`` (number without prefix)
    """

    kind: FieldKind
    date_format: str | None = None  # default strptime format for dob/date (a source may override)
    placeholders: list[str] = Field(default_factory=list)  # values meaning "unknown" -> null
    # name kind only: does the field hold given names (nickname -> formal name folding)? Unset: inferred
    # from the field name (first/fore/given/middle/christian).
    given_name: bool | None = None

