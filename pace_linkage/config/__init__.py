"""Configuration: pydantic models of ``config/*.yaml``, the only YAML reader, and the cross-checks.

``fields`` (canonical fields and the one table of derived columns), ``sources`` (partner extracts and sharing
agreements), ``study`` (pseudonymisation, aggregates, people -> employers, scenarios), ``pace`` (the top-level
file), ``load`` (reading YAML: :func:`load_config`, :func:`load_scenarios`) and ``checks`` (cross-checks). The
``linkage:`` section's models are the engine's own (:mod:`pace_linkage.engine.settings`).
"""

from pace_linkage.config.checks import check_references
from pace_linkage.config.fields import DERIVED_SUFFIXES, FieldKind, FieldSpec, field_columns
from pace_linkage.config.load import (
    DEFAULT_CONFIG,
    DEFAULT_SCENARIOS,
    ConfigLoader,
    load_config,
    load_scenarios,
    load_source,
)
from pace_linkage.config.pace import DaskSettings, PaceConfig, ReportSettings
from pace_linkage.config.sources import (
    DateParts,
    SharingAgreement,
    SourceConfig,
    SourcesSection,
    mapping_columns,
)
from pace_linkage.config.study import (
    AggregateDimension,
    AggregatesSettings,
    BloomSpec,
    Hardening,
    KeySource,
    PeopleLinkSettings,
    PseudonymiseSettings,
    ScenariosConfig,
    ScenarioSpec,
)

__all__ = [
    "DEFAULT_CONFIG", "DEFAULT_SCENARIOS", "DERIVED_SUFFIXES", "AggregateDimension", "AggregatesSettings", "BloomSpec",
    "ConfigLoader", "DaskSettings", "DateParts", "FieldKind", "FieldSpec", "Hardening", "KeySource", "PaceConfig",
    "PeopleLinkSettings", "PseudonymiseSettings", "ReportSettings", "ScenarioSpec", "ScenariosConfig",
    "SharingAgreement", "SourceConfig", "SourcesSection", "check_references", "field_columns", "load_config", "mapping_columns",
    "load_scenarios", "load_source",
]
