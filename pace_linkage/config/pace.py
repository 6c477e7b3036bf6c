"""The top-level configuration of a run (default ``config/pace.yaml``) and its report and Dask sections.

Layout of the top-level file::

    entity: person                 # what is linked; names the id column (pace_id)
    seed: 42                       # every random choice (EM start, u sampling) derives from it
    fields:                        # canonical fields and the normaliser each uses
      nino: {kind: nino}
      surname: {kind: name}
      ...
    identifying_fields: [nino, surname, dob, postcode]   # a row needs >=1 of these, else quarantined
    sources:                       # inline source entries and/or include patterns
      include: [partners/*.yaml]
    linkage: {...}                 # blocking rules, comparisons, EM, thresholds, clustering
    report: {...}
    aggregates: {...}              # aggregate-only sharing: counted dimensions, small-count threshold
    dask: {n_workers: 2}           # the temporary LocalCluster of `run --task-runner dask` (execution only)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from pace_linkage.config.fields import FieldSpec, field_columns
from pace_linkage.config.sources import SourcesSection
from pace_linkage.config.study import (
    MAX_SMALL_COUNT,
    AggregatesSettings,
    PeopleLinkSettings,
    PseudonymiseSettings,
)
from pace_linkage.engine.settings import LinkageSettings, Strict


class DaskSettings(Strict):
    """The temporary Dask LocalCluster of ``pace-linkage run --task-runner dask`` (no ``--dask-address``):
    worker processes and threads per worker. Execution only: left out of config_hash."""

    n_workers: int = Field(default=2, ge=1, le=256)
    threads_per_worker: int = Field(default=1, ge=1, le=256)


class ReportSettings(Strict):
    small_count_threshold: int = Field(default=0, ge=0, le=MAX_SMALL_COUNT)  # counts below this shown as "*"
    # pairs just above and just below the threshold explained (waterfall, values masked); 0 = none
    explain_examples: int = Field(default=3, ge=0, le=50)
    # with truth: the highest-weighted false-positive and false-negative candidate pairs explained; 0 = none
    top_errors: int = Field(default=5, ge=0, le=50)
    title: str = Field(default="PACE linkage quality report", max_length=200)
    # statements about how this linkage treats its data, shown in the report as written (e.g. for employers:
    # how records at different sites were treated)
    notes: list[str] = Field(default_factory=list)
    # label-free recall: pairs drawn (seeded) and scored per looser key (a blocking rule with one column
    # dropped) to estimate the matches blocking never compared; 0 = no such estimate
    missed_sample_pairs: int = Field(default=20000, ge=0, le=10_000_000)
    # a looser key with more pairs than this many times the candidate pairs is not sampled (listed as skipped)
    missed_max_pairs_ratio: float = Field(default=100.0, gt=0)
    # a reason that nulls more than this share of a source column's present values is a warning (run log,
    # metrics.json normalise_warnings, report); so is a date column more of whose values read only in the
    # other day/month order than in the configured one, or more than this share
    null_warning_share: float = Field(default=0.05, ge=0, le=1)


class PaceConfig(Strict):
    entity: Literal["person", "employer"] = "person"
    id_column: str = "pace_id"
    seed: int = Field(default=42, ge=0, le=2**32 - 1)  # numpy's seeds: 0 .. 2^32 - 1
    # Date that ages and "future" dates are judged against (normally the extract date). Unset: the day of
    # the run, so a run on another day may judge a birth date at an age boundary differently.
    reference_date: dt.date | None = None
    fields: dict[str, FieldSpec]
    identifying_fields: list[str]
    sources: SourcesSection
    linkage: LinkageSettings
    report: ReportSettings = Field(default_factory=ReportSettings)
    pseudonymise: PseudonymiseSettings | None = None  # set: link on keyed tokens and Bloom filters
    aggregates: AggregatesSettings = Field(default_factory=AggregatesSettings)  # aggregate-only sharing
    people_link: PeopleLinkSettings | None = None  # employer configs: linking people to employers
    dask: DaskSettings = Field(default_factory=DaskSettings, exclude=True)  # --task-runner dask (execution only)
    config_file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _references_exist(self) -> PaceConfig:
        problems: list[str] = []
        for f in self.identifying_fields:
            if f not in self.fields:
                problems.append(f"identifying_fields: '{f}' is not a declared field")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def id_prefix(self) -> str:
        """First character of the run's ids: ``E`` for employers, ``P`` for persons."""
        return "E" if self.entity == "employer" else "P"

    def duplicate_free_sources(self) -> list[str]:
        """The sources whose partner guarantees one record per person (``duplicate_free: true``)."""
        return [s.name for s in self.sources.items if s.duplicate_free]

    def derived_columns(self) -> set[str]:
        """Every column the normalise stage produces (what blocking and comparisons may use)."""
        cols = {col for name, spec in self.fields.items() for col in field_columns(name, spec.kind)}
        if self.pseudonymise is not None:  # columns pseudonymise_records adds
            cols |= {f + "_bf" for f in self.pseudonymise.bloom}
            cols |= {f + "_swap" for f, spec in self.fields.items() if spec.kind in ("dob", "date")}
        return cols

    def hash(self) -> str:
        """Stable SHA-256 of the effective configuration (sources included)."""
        payload = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
