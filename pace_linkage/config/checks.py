"""Cross-checks of a configuration that pydantic cannot make one model at a time: names that must exist,
columns that some field must produce, nothing given twice. Each check returns its mistakes as lines
``<file>: <dotted key>: <what is wrong>``; :func:`pace_linkage.config.load_config` reports them together."""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from pace_linkage.config.pace import PaceConfig
from pace_linkage.config.sources import SourceConfig, SourcesSection
from pace_linkage.config.study import ScenarioSpec


def check_references(cfg: PaceConfig) -> list[str]:
    """Every cross-check of a validated config: sources, the linkage section, pseudonymisation."""
    where = cfg.config_file or "config"
    names = [s.name for s in cfg.sources.items]
    errors = _source_names(names, where)
    for s in cfg.sources.items:
        errors += _source_fields(s, cfg)
        errors += _release_to(s, names)
    errors += _linkage_columns(cfg, where)
    errors += _pseudonymise_fields(cfg, where)
    return errors


def _source_names(names: list[str], where: str) -> list[str]:
    """At least one source, and no source name used twice."""
    errors = [] if names else [f"{where}: sources: no source configured"]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{where}: sources: source name '{dup}' is used more than once")
    return errors


def _source_fields(s: SourceConfig, cfg: PaceConfig) -> list[str]:
    """A source's columns, date formats and shared fields name declared fields (formats may also name one of
    the source's own data items, e.g. service_date)."""
    errors = []
    for field in s.columns:
        if field not in cfg.fields:
            errors.append(f"{s.config_file}: columns.{field}: not a declared field (fields: {', '.join(cfg.fields)})")
    for field in s.date_parts_fields():
        if field in cfg.fields and cfg.fields[field].kind not in ("dob", "date"):
            errors.append(f"{s.config_file}: columns.{field}: date parts map a field of kind dob or date, "
                          f"not {cfg.fields[field].kind}")
        if field in s.formats:
            errors.append(f"{s.config_file}: formats.{field}: the field is read from date parts (year, month, "
                          "day numbers), which need no format")
    for field in s.formats:
        if field not in cfg.fields and field not in s.items:
            errors.append(f"{s.config_file}: formats.{field}: not a declared field or one of the source's items")
    for field in (s.sharing.allowed_fields or []) if s.sharing else []:
        if field not in cfg.fields:
            errors.append(f"{s.config_file}: sharing.allowed_fields: '{field}' is not a declared field")
    return errors


def _release_to(s: SourceConfig, names: list[str]) -> list[str]:
    """``sharing.release_to`` names other sources (or ``*``) and only fields the partner shares into the centre."""
    errors: list[str] = []
    release_to = s.sharing.release_to if s.sharing else {}
    shared = set(s.columns) if not s.sharing or s.sharing.allowed_fields is None else (
        set(s.columns) & set(s.sharing.allowed_fields))
    for recipient, fields in release_to.items():
        key = f"{s.config_file}: sharing.release_to.{recipient}"
        if recipient != "*" and recipient not in names:
            errors.append(f"{key}: not a source (sources: {', '.join(names)}), or '*' for every other partner")
        elif recipient == s.name:
            errors.append(f"{key}: a partner does not release its own records to itself")
        for field in fields:
            if field not in shared:
                errors.append(f"{key}: '{field}' is not a field this partner shares into the centre"
                              f" (shared: {', '.join(sorted(shared)) or 'none'})")
    return errors


def _linkage_columns(cfg: PaceConfig, where: str) -> list[str]:
    """Blocking rules, comparisons and conflict fields use columns some field produces; each comparison level
    has what its type needs (a threshold, an ``other`` column)."""
    errors: list[str] = []
    derived = cfg.derived_columns()
    for i, rule in enumerate(cfg.linkage.blocking):
        for col in rule.columns():
            if col not in derived:
                errors.append(f"{where}: linkage.blocking.{i}.on: column '{col}' is not produced by any field")
    em = cfg.linkage.em
    trained = [(f"sessions.{i}", r) for i, r in enumerate(em.sessions or [])]
    trained += [(f"prior_rules.rules.{i}", r) for i, r in enumerate(em.prior_rules.rules if em.prior_rules else [])]
    for key, rule in trained:
        errors += [f"{where}: linkage.em.{key}.on: column '{col}' is not produced by any field"
                   for col in rule.columns() if col not in derived]
    for i, comp in enumerate(cfg.linkage.comparisons):
        for col in comp.columns():
            if col not in derived:
                errors.append(f"{where}: linkage.comparisons.{i}.column: '{col}' is not produced by any field")
        errors += [f"{where}: linkage.comparisons.{i}.{problem}" for problem in comp.level_problems()]
    for field in cfg.linkage.clustering.conflict_fields:
        if field not in derived:
            errors.append(f"{where}: linkage.clustering.conflict_fields: '{field}' is not produced by any field")
    return errors


def _pseudonymise_fields(cfg: PaceConfig, where: str) -> list[str]:
    """Pseudonymisation names declared fields, and puts a field in at most one key group."""
    if cfg.pseudonymise is None:
        return []
    errors = []
    ps = cfg.pseudonymise
    named = [("bloom", f) for f in ps.bloom] + [("keep_plain", f) for f in ps.keep_plain]
    named += [(f"key_groups.{g}", f) for g, fs in ps.key_groups.items() for f in fs]
    for key, field in named:
        if field not in cfg.fields:
            errors.append(f"{where}: pseudonymise.{key}: '{field}' is not a declared field")
    grouped = [f for fs in ps.key_groups.values() for f in fs]
    for dup in sorted({f for f in grouped if grouped.count(f) > 1}):
        errors.append(f"{where}: pseudonymise.key_groups: '{dup}' is in more than one group")
    return errors


def partial_references(data: dict, cfg_path: Path, included: list[SourceConfig]) -> list[str]:
    """Cross-checks on the sections that did validate, so that a config with both kinds of mistake is
    reported in one round. Sections that failed are stood in by empty defaults; only problems that the
    valid sections show on their own are returned."""
    sections = {}
    for name in ("fields", "identifying_fields", "linkage", "sources"):
        try:
            sections[name] = TypeAdapter(PaceConfig.model_fields[name].annotation).validate_python(data.get(name))
        except ValidationError:
            sections[name] = None
    if sections["fields"] is None or sections["linkage"] is None:
        return []  # nothing to cross-check against
    srcs = sections["sources"] or SourcesSection()
    cfg = PaceConfig.model_construct(
        fields=sections["fields"], identifying_fields=sections["identifying_fields"] or [],
        sources=SourcesSection.model_construct(include=srcs.include, items=list(srcs.items) + included),
        linkage=sections["linkage"], config_file=str(cfg_path))
    return [e for e in check_references(cfg) if "no source configured" not in e]


def scenario_references(sc: ScenarioSpec, base: PaceConfig, where: str) -> list[str]:
    """Partners and fields a scenario names must exist in its base config."""
    errors: list[str] = []
    sources = [s.name for s in base.sources.items]
    known_sources = f"(sources: {', '.join(sources)})"
    for p in sc.partners or []:
        if p not in sources:
            errors.append(f"{where}.partners: '{p}' is not a source of {Path(sc.config).name} {known_sources}")
    for field, partners in sc.withhold_fields.items():
        if field not in base.fields:
            errors.append(f"{where}.withhold_fields.{field}: not a declared field (fields: {', '.join(base.fields)})")
        if not partners:
            errors.append(f"{where}.withhold_fields.{field}: list one or more partners, or 'all'")
        for p in partners:
            if p != "all" and p not in sources:
                errors.append(f"{where}.withhold_fields.{field}: '{p}' is not a source of {Path(sc.config).name} "
                              f"{known_sources}")
    for field in sc.only_fields or []:
        if field not in base.fields:
            errors.append(f"{where}.only_fields: '{field}' is not a declared field (fields: {', '.join(base.fields)})")
    return errors
