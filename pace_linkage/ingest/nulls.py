"""What the normalisers nulled, said aloud: one warning per source and column whose values were nulled for a
reason more than a configured share of the time (``report.null_warning_share``), and one per date column whose
values contradict its configured day/month order.

The input is the ``coverage`` entry of ``metrics.json`` (:func:`pace_linkage.ingest.sources.coverage`: per
source and field the present values, the nulled ones by reason, a date field's day/month fit), so the run
log, ``metrics.json`` (``normalise_warnings``) and the report say the same thing. A warning names the source,
the column and the field, and gives counts and reason codes only: never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pace_linkage.config import PaceConfig
from pace_linkage.ingest.validate import PARTS_FORMAT
from pace_linkage.normalise.dates import DAY_FIRST, MONTH_FIRST
from pace_linkage.normalise.reasons import REASONS

NULL_SHARE, DAY_MONTH = "null_share", "day_month_order"


def source_column(cfg: PaceConfig, source: str, field: str) -> str:
    """The name of the partner's column (or columns, joined by ``+``) a field is read from; the field's own
    name when the source does not map it by name."""
    for src in cfg.sources.items:
        if src.name == source and src.columns_of(field):
            return "+".join(src.columns_of(field))
    return field


def _where(cfg: PaceConfig, source: str, field: str) -> str:
    return f"source {source}, column '{source_column(cfg, source, field)}' (field {field})"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def null_share_warning(cfg: PaceConfig, source: str, field: str, entry: Mapping[str, Any], share: float) -> dict | None:
    """The warning for one source and field whose values one reason or more nulled in over ``share`` of the
    present values (None: no such reason)."""
    present, nulled = int(entry.get("present") or 0), entry.get("nulled") or {}
    over = {code: int(n) for code, n in sorted(nulled.items()) if present and n > share * present}
    if not over:
        return None
    total = sum(int(n) for n in nulled.values())
    said = "; ".join(f"{code} {n:,} ({_percent(n, present)}: {REASONS.get(code, code)})" for code, n in over.items())
    message = (f"normalise: {_where(cfg, source, field)}: {total:,} of {present:,} present values nulled "
               f"({_percent(total, present)}); over {share:.0%}: {said}")
    return {"kind": NULL_SHARE, "source": source, "field": field, "column": source_column(cfg, source, field),
            "present": present, "nulled": total, "reasons": over, "message": message}


def _parts(cfg: PaceConfig, source: str, field: str) -> bool:
    """Whether the source reads the field from date parts (joined year-month-day)."""
    return any(src.name == source and field in src.date_parts_fields() for src in cfg.sources.items)


def _configured(cfg: PaceConfig, source: str, field: str) -> str | None:
    if _parts(cfg, source, field):
        return PARTS_FORMAT
    for src in cfg.sources.items:
        if src.name == source and field in src.formats:
            return src.formats[field]
    spec = cfg.fields.get(field)
    return spec.date_format if spec is not None else None


def day_month_warning(cfg: PaceConfig, source: str, field: str, entry: Mapping[str, Any], share: float) -> dict | None:
    """The warning for one date column whose values look written in the other day/month order than its
    format reads (more values only the other order reads than values only the configured one reads, or more
    than ``share`` of the present values); None otherwise."""
    fit = entry.get("day_month")
    if not fit:
        return None
    order, mine, other, both = fit["order"], int(fit["fit_order"]), int(fit["fit_other"]), int(fit["fit_both"])
    present = int(entry.get("present") or 0)
    if not other or (other <= mine and other <= share * max(present, 1)):
        return None
    flipped = MONTH_FIRST if order == DAY_FIRST else DAY_FIRST
    fmt = _configured(cfg, source, field)
    kind = cfg.fields[field].kind if field in cfg.fields else "dob"
    if _parts(cfg, source, field):
        how = f"its date parts are read as year-month-day ({order})"
        fate = f"nulled as {kind}_wrong_format"
        fix = f"check columns.{field}.parts in the source's config (month and day columns the other way round?)"
    elif fmt:
        how = f"its format {fmt} reads {order}"
        fate = f"nulled as {kind}_wrong_format"
        fix = f"check formats.{field} in the source's config"
    else:
        how = f"with no format configured, dates like nn/nn/yyyy are read {order}"
        fate = f"read {flipped}"
        fix = f"set formats.{field} in the source's config"
    message = (f"normalise: {_where(cfg, source, field)}: values contradict the day/month order: {how}, but "
               f"{other:,} of {present:,} present values can only be {flipped} ({fate}), {mine:,} only {order}, "
               f"and {both:,} read either way were read {order}, perhaps wrongly; {fix}")
    return {"kind": DAY_MONTH, "source": source, "field": field, "column": source_column(cfg, source, field),
            "format": fmt, "order": order, "fit_order": mine, "fit_other": other, "fit_both": both,
            "present": present, "message": message}


def normalise_warnings(cov: Mapping[str, Mapping[str, Mapping[str, Any]]], cfg: PaceConfig) -> list[dict]:
    """Every warning of the module docstring, by source then field (config order), day/month order first."""
    share = cfg.report.null_warning_share
    out = []
    for source, fields in cov.items():
        for field in cfg.fields:
            entry = (fields or {}).get(field)
            if not entry:
                continue
            for make in (day_month_warning, null_share_warning):
                warning = make(cfg, source, field, entry, share)
                if warning is not None:
                    out.append(warning)
    return out


__all__ = ["DAY_MONTH", "NULL_SHARE", "day_month_warning", "normalise_warnings", "null_share_warning",
           "source_column"]
