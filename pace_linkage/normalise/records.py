"""The normalise stage: raw text columns in, clean and derived columns plus reason counts out.

Column layout of ``records`` (in this order): ``source``, ``record_id``, ``line`` (copied), then for
each configured field ``f`` (in config order; absent fields are all-null) the columns its kind
produces (:func:`pace_linkage.config.field_columns`, from the one table of derived columns)::

    nino     f (8-character stem), f_suffix
    name     f (clean), f_canon, f_sound (Soundex of f_canon), f_initial
    dob/date f (ISO yyyy-mm-dd), f_year, f_month, f_day
    postcode f (OUTWARD INWARD), f_area, f_district, f_sector
    postal_code f (any country's code, compact), f_prefix2, f_prefix3, f_prefix4
    email    f (valid address), f_user, f_domain, f_text (as written, malformed kept)
    org_name f (no legal form), f_suffix, f_trading, f_core, f_first
    company_number f (8 characters), f_digits
    other    f

then ``flags``. Dtypes: every text column is pandas ``string`` dtype with ``pd.NA`` for null;
``f_year``/``f_month``/``f_day`` are nullable ``Int16`` with ``pd.NA``. ``flags`` is ``string``,
never null: the sorted, de-duplicated, ``;``-joined reason codes of the row's nulled values, or
``""``. The index is the input frame's index.

Name fields whose name looks like a given name (contains ``first``, ``fore``, ``given``,
``middle`` or ``christian``) get the nickname lookup in ``f_canon``; other name fields (surnames)
do not.

A field's configured ``placeholders`` (``FieldSpec.placeholders``) null any value equal to one of
them, either as raw text (trimmed, case-insensitive) or after normalisation, with reason
``<kind>_placeholder``. For dob/date fields they are compared as dates instead (see ``dates``).

``reasons`` is a long frame ``source, field, reason, count`` (int64) of nulled values, sorted.
Every present-but-nulled value has exactly one reason, so per source and field
``present = valid + sum(count)`` (see :func:`coverage_counts`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from pace_linkage import schema
from pace_linkage.config.fields import FieldSpec, field_columns
from pace_linkage.errors import InputError
from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import STRING, as_text
from pace_linkage.normalise.contact import email_columns, phone_series, sex_series
from pace_linkage.normalise.dates import EARLIEST, MAX_AGE, MIN_AGE, DateLimits, date_columns
from pace_linkage.normalise.names import name_columns
from pace_linkage.normalise.nino import nino_columns
from pace_linkage.normalise.organisation import company_number_columns, org_name_columns
from pace_linkage.normalise.postal import postal_code_columns
from pace_linkage.normalise.postcode import postcode_columns
from pace_linkage.normalise.text import ident_series, text_series

ISO_FORMAT = "%Y-%m-%d"  # the clean form of a dob/date field
_GIVEN_NAME = re.compile(r"first|fore|given|middle|christian", re.IGNORECASE)
_SIMPLE = {"sex": sex_series, "phone": phone_series, "text": text_series, "id": ident_series}
# kinds whose normaliser returns derived columns then reasons, from the raw column alone
_COLUMNS = {"postcode": postcode_columns, "postal_code": postal_code_columns, "email": email_columns,
            "org_name": org_name_columns, "company_number": company_number_columns}
_BIT = {code: 1 << i for i, code in enumerate(R.CODES)}
assert len(R.CODES) < 63, "reason codes must fit in an int64 bit mask"


def is_given_name_field(field: str) -> bool:
    """Whether a name field holds given names (gets the nickname lookup)."""
    return bool(_GIVEN_NAME.search(field))


def normalise_field(
    raw: pd.Series, field: str, spec: FieldSpec, fmt: str | None = None, today: dt.date | None = None
) -> tuple[list[pd.Series], pd.Series]:
    """Normalise one raw column: (derived columns in :func:`field_columns` order, reasons)."""
    kind = spec.kind
    if kind == "nino":
        *cols, reason = nino_columns(raw)
    elif kind == "name":
        given = spec.given_name if spec.given_name is not None else is_given_name_field(field)
        *cols, reason = name_columns(raw, given_name=given)
    elif kind in ("dob", "date"):
        *cols, reason = date_columns(raw, kind, fmt or spec.date_format, spec.placeholders, today, date_limits(spec))
    elif kind in _COLUMNS:
        *cols, reason = _COLUMNS[kind](raw)
    else:
        *cols, reason = _SIMPLE[kind](raw)
    if spec.placeholders and kind not in ("dob", "date"):
        cols, reason = _apply_placeholders(raw, cols, reason, field, spec)
    return list(cols), reason


def date_limits(spec: FieldSpec) -> DateLimits:
    """The plausibility limits of a dob/date field: its settings, the module defaults where unset."""
    return DateLimits(
        earliest=spec.earliest or EARLIEST,
        min_age=MIN_AGE if spec.min_age is None else spec.min_age,
        max_age=MAX_AGE if spec.max_age is None else spec.max_age,
        allow_future=spec.allow_future,
    )


def derive_columns(records: pd.DataFrame, columns: Sequence[str], fields: Mapping[str, FieldSpec]) -> pd.DataFrame:
    """``records`` (a copy) with the derived ``columns`` added, each made by its field's normaliser from the
    field's own column as given (clean values normalise to themselves): what :func:`normalise_records` would
    have produced. Columns no field of ``fields`` derives, or whose field column is absent, are left out."""
    out = records.copy()
    for field, spec in fields.items():
        names = field_columns(field, spec.kind)
        wanted = [c for c in names if c in columns and c not in records.columns]
        if not wanted or field not in records.columns:
            continue
        clean_format = ISO_FORMAT if spec.kind in ("dob", "date") else None  # the clean form, not the source's
        cols, _ = normalise_field(records[field], field, spec, clean_format)
        for name, col in zip(names, cols, strict=True):
            if name in wanted:
                out[name] = col
    return out


def deriver(fields: Mapping[str, FieldSpec]) -> Callable[[pd.DataFrame, list[str]], pd.DataFrame]:
    """``derive(records, columns)`` for :class:`pace_linkage.engine.linker.Linker`: :func:`derive_columns`
    with a config's ``fields``."""
    return functools.partial(derive_columns, fields=fields)


def _apply_placeholders(
    raw: pd.Series, cols: list[pd.Series], reason: pd.Series, field: str, spec: FieldSpec
) -> tuple[list[pd.Series], pd.Series]:
    ph_raw = {t.upper() for t in (as_text(p) for p in spec.placeholders) if t}
    ph_series = pd.Series(list(spec.placeholders), dtype=object)
    ph_clean = set(normalise_field(ph_series, field, spec.model_copy(update={"placeholders": []}))[0][0].dropna())
    codes, uniques = pd.factorize(raw.astype(object), use_na_sentinel=True)
    hit = np.array([(as_text(u) or "").upper() in ph_raw for u in uniques] + [False], dtype=bool)
    mask = hit[codes] | cols[0].isin(ph_clean).to_numpy(dtype=bool, na_value=False)
    if not mask.any():
        return cols, reason
    cols = [c.mask(mask) for c in cols]
    reason = reason.where(~mask, R.placeholder_code(spec.kind))
    return cols, reason


def _flags(reason_columns: list[pd.Series], n: int, index: pd.Index) -> pd.Series:
    """Sorted, de-duplicated ';'-joined reason codes per row, via an int64 bit mask."""
    bits = np.zeros(n, dtype=np.int64)
    for reason in reason_columns:
        codes, uniques = pd.factorize(reason, use_na_sentinel=True)
        if len(uniques) == 0:
            continue
        table = np.array([_BIT[u] for u in uniques] + [0], dtype=np.int64)
        bits |= table[codes]
    masks, inverse = np.unique(bits, return_inverse=True)
    labels = np.array([";".join(c for c in R.CODES if int(m) & _BIT[c]) for m in masks], dtype=object)
    return pd.Series(pd.array(labels[inverse.ravel()], dtype=STRING), index=index)


def normalise_records(
    df: pd.DataFrame,
    fields: Mapping[str, FieldSpec],
    formats: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise every configured field of a validated record frame.

    ``df`` has ``source``, ``record_id``, ``line`` and one raw text column per mapped field;
    ``formats`` maps field -> date format to try first (from the source config; falls back to the
    field's ``date_format``); ``today`` is the run date for dob plausibility (default: system date).
    Returns ``(records, reasons)`` as described in the module docstring.
    """
    missing = [c for c in (schema.SOURCE, schema.RECORD_ID) if c not in df.columns]
    if missing:
        raise InputError(f"normalise: input frame lacks column(s) {', '.join(missing)}")
    formats = formats or {}
    n, index = len(df), df.index
    out: dict[str, pd.Series] = {c: df[c] for c in (schema.SOURCE, schema.RECORD_ID, schema.LINE) if c in df.columns}
    reason_columns: list[pd.Series] = []
    reason_frames: list[pd.DataFrame] = []
    source = df[schema.SOURCE].astype(object)
    for field, spec in fields.items():
        raw = df[field] if field in df.columns else pd.Series(None, index=index, dtype=object)
        cols, reason = normalise_field(raw, field, spec, formats.get(field), today)
        out.update(zip(field_columns(field, spec.kind), cols, strict=True))
        reason_columns.append(reason)
        present = reason.notna().to_numpy()
        if present.any():
            counts = (
                pd.DataFrame({"source": source[present], "reason": reason[present]})
                .groupby(["source", "reason"], sort=True)
                .size()
                .reset_index(name="count")
            )
            counts.insert(1, "field", field)
            reason_frames.append(counts)
    out[schema.FLAGS] = _flags(reason_columns, n, index)
    records = pd.DataFrame(out, index=index)
    if reason_frames:
        reasons = pd.concat(reason_frames, ignore_index=True)
        reasons = reasons.sort_values(["source", "field", "reason"], kind="stable", ignore_index=True)
    else:
        reasons = pd.DataFrame({"source": [], "field": [], "reason": [], "count": []})
    reasons = reasons.astype({"source": object, "field": object, "reason": object, "count": np.int64})
    return records, reasons


def coverage_counts(
    records: pd.DataFrame, reasons: pd.DataFrame, fields: Mapping[str, FieldSpec] | list[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """``{source: {field: {"present", "valid", "rows"}}}`` from the stage's two outputs.

    ``valid`` = non-null clean values; ``present`` = valid + values nulled with a reason; ``rows``
    = records of the source. (The shape the report's ``coverage`` section expects.)
    """
    result: dict[str, dict[str, dict[str, int]]] = {}
    by_source = records.groupby(schema.SOURCE, sort=True, observed=True)
    nulled = reasons.groupby(["source", "field"], sort=True)["count"].sum().to_dict() if len(reasons) else {}
    for src, group in by_source:
        entry: dict[str, dict[str, int]] = {}
        for field in fields:
            valid = int(group[field].notna().sum()) if field in group.columns else 0
            entry[field] = {"present": valid + int(nulled.get((src, field), 0)), "valid": valid, "rows": len(group)}
        result[str(src)] = entry
    return result
