"""Generator settings: pydantic models of ``config/synthetic.yaml`` and their cross-checks.

``config/synthetic.yaml`` says what each partner's system *holds* (coverage, duplicates, error
rates, the ordered columns it writes); ``config/partners/<name>.yaml`` (read through
:func:`pace_linkage.config.load_config`) says how the pipeline *reads* the file. :func:`load_settings`
validates the first and checks it agrees with the second, raising one
:class:`~pace_linkage.errors.ConfigError` with a line per mistake (file and key, never a value).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import ConfigError

Rate = float
UnitRate = Annotated[float, Field(ge=0, le=1)]

# Attributes a partner column can hold (see synthetic.partners.ATTRIBUTES for their meaning).
PersonAttribute = Literal[
    "record_id",
    "nino",
    "title",
    "first_name",
    "middle_name",
    "surname",
    "known_as",
    "dob",
    "sex",
    "postcode",
    "address_line",
    "email",
    "phone",
    "client_id",
    "employer",
    "employer_postcode",
    "sector",
    "redundancy_date",
    "pace_client",
    "pace_criterion",
    "consent",
    "consent_date",
    "services",
    "service_date",
    "outcome",
    "outcome_date",
    "feedback_score",
    "ethnicity",
    "uc_status",
    "jcp_office",
    "bureau",
    "course_code",
    "course_title",
    "funding",
    "debt_level",
    "union",
    "channel",
    "pension_pots",
    "support_hours",
    "created",
    "updated",
    "extract_date",
]
EmployerAttribute = Literal[
    "record_id",
    "name",
    "address_line",
    "town",
    "site_postcode",
    "sector",
    "number_affected",
    "announcement_date",
    "contact_name",
    "contact_phone",
    "contact_email",
    "services",
    "support_hours",
    "consent",
    "company_number",
]
# Canonical fields the generator produces (the values linkage columns carry).
LINKAGE_ATTRIBUTES = {
    "nino",
    "first_name",
    "middle_name",
    "surname",
    "dob",
    "sex",
    "postcode",
    "email",
    "phone",
    "client_id",
    "employer",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorRates(Strict):
    """Per-record probabilities of each error, applied where the error is possible."""

    typo: Rate = Field(default=0.0, ge=0, le=1)
    ocr: Rate = Field(default=0.0, ge=0, le=1)
    nickname: Rate = Field(default=0.0, ge=0, le=1)
    name_swap: Rate = Field(default=0.0, ge=0, le=1)
    marriage: Rate = Field(default=0.0, ge=0, le=1)
    mc_mac: Rate = Field(default=0.0, ge=0, le=1)
    dob_swap: Rate = Field(default=0.0, ge=0, le=1)
    dob_digit: Rate = Field(default=0.0, ge=0, le=1)
    dob_placeholder: Rate = Field(default=0.0, ge=0, le=1)
    nino_digit: Rate = Field(default=0.0, ge=0, le=1)
    nino_wrong_column: Rate = Field(default=0.0, ge=0, le=1)
    postcode_typo: Rate = Field(default=0.0, ge=0, le=1)
    moved: Rate = Field(default=0.0, ge=0, le=1)
    stale: Rate = Field(default=0.0, ge=0, le=1)
    spaces_case: Rate = Field(default=0.0, ge=0, le=1)
    excel_serial: Rate = Field(default=0.0, ge=0, le=1)
    employer_variant: Rate = Field(default=0.0, ge=0, le=1)

    def scaled(self, factor: float) -> ErrorRates:
        return ErrorRates(**{k: min(0.95, v * factor) for k, v in self.model_dump().items()})


class MissingRates(Strict):
    """Per-record probability that a value the partner could hold is left blank."""

    nino: Rate = Field(default=0.0, ge=0, le=1)
    first_name: Rate = Field(default=0.0, ge=0, le=1)
    middle_name: Rate = Field(default=0.0, ge=0, le=1)
    surname: Rate = Field(default=0.0, ge=0, le=1)
    dob: Rate = Field(default=0.0, ge=0, le=1)
    sex: Rate = Field(default=0.0, ge=0, le=1)
    postcode: Rate = Field(default=0.0, ge=0, le=1)
    email: Rate = Field(default=0.0, ge=0, le=1)
    phone: Rate = Field(default=0.0, ge=0, le=1)
    client_id: Rate = Field(default=0.0, ge=0, le=1)
    employer: Rate = Field(default=0.0, ge=0, le=1)

    def scaled(self, factor: float) -> MissingRates:
        # a rate of 1.0 means "never recorded" and stays so
        return MissingRates(
            **{k: v if v >= 1 else min(0.95, v * factor) for k, v in self.model_dump().items()}
        )


class IdStyle(Strict):
    """Record ids: prefix + zero-padded increasing number; gaps of 1..max_gap between ids."""

    prefix: str = ""
    width: int = Field(ge=1, le=12)
    start: int = Field(default=1, ge=0)
    max_gap: int = Field(default=1, ge=1)


class Style(Strict):
    """How a partner's system writes values."""

    name_case: Literal["title", "upper", "as_entered"] = "title"
    sex: dict[Literal["M", "F"], str] = Field(default_factory=lambda: {"M": "M", "F": "F"})
    nino: Literal["compact", "spaced"] = "compact"
    phone: Literal["national", "spaced", "international"] = "national"
    xlsx_dates: Literal["cells", "text"] = "text"
    line_terminator: Literal["lf", "crlf"] = "lf"


class PartnerSettings(Strict):
    coverage: float = Field(ge=0, le=1)  # share of eligible people the partner sees
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)  # share of its people with >1 record
    areas: list[str] | None = None  # only people living in these postcode areas
    min_age: int | None = None
    max_age: int | None = None
    id: IdStyle
    style: Style = Field(default_factory=Style)
    services: list[str] = Field(default_factory=list)
    errors: dict[str, UnitRate] = Field(default_factory=dict)  # overrides of default_errors
    missing: dict[str, UnitRate] = Field(default_factory=dict)  # overrides of default_missing
    columns: dict[str, PersonAttribute]


class EmployerExtractSettings(Strict):
    label: str
    file: str
    encoding: str = "utf-8"
    delimiter: str = ","
    date_format: str = "%Y-%m-%d"
    coverage: float = Field(ge=0, le=1)
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    id: IdStyle
    name_variant: float = Field(default=0.0, ge=0, le=1)
    postcode_typo: float = Field(default=0.0, ge=0, le=1)
    missing_contact: float = Field(default=0.0, ge=0, le=1)
    # a multi-site employer's record shows one of its other sites with this probability
    other_site: float = Field(default=0.0, ge=0, le=1)
    # registered number: written with spaces, lower case or without leading zeros / keyed wrongly (a digit
    # changed, two digits swapped, the SC prefix left off) / left blank although the company has one
    company_number_format: float = Field(default=0.0, ge=0, le=1)
    company_number_error: float = Field(default=0.0, ge=0, le=1)
    company_number_missing: float = Field(default=0.0, ge=0, le=1)
    columns: dict[str, EmployerAttribute]


class EmployerRegistry(Strict):
    """``employers:``: facts about the employers every partner shares (drawn once, from their own stream)."""

    registered: UnitRate = 0.0  # share of limited companies and LLPs with a Companies House number recorded
    scottish: UnitRate = 0.85  # share of registered ones registered in Scotland (SC / SO prefix)
    multi_site: UnitRate = 0.0  # share of employers with a second site (another postcode in the same area)


class PopulationSettings(Strict):
    nino_missing: Rate = Field(ge=0, le=1)
    nino_temporary: Rate = Field(ge=0, le=1)
    nino_placeholder: Rate = Field(ge=0, le=1)
    middle_name: Rate = Field(ge=0, le=1)
    double_barrelled: Rate = Field(ge=0, le=1)
    email: Rate = Field(ge=0, le=1)
    phone: Rate = Field(ge=0, le=1)
    landline: Rate = Field(ge=0, le=1)
    household_share: Rate = Field(ge=0, le=0.5)
    twin_share: Rate = Field(ge=0, le=0.1)
    local_to_employer: Rate = Field(ge=0, le=1)
    people_per_employer: int = Field(ge=1)
    postcodes_per_person: float = Field(gt=0, le=1)
    scn_born_after: int
    criterion_under_threat: Rate = Field(ge=0, le=1)
    consent: Rate = Field(ge=0, le=1)
    ethnicity: dict[str, float]
    service_propensity: dict[str, float]


class Profile(Strict):
    error_multiplier: float = Field(default=1.0, ge=0)
    missing_multiplier: float = Field(default=1.0, ge=0)
    duplicate_multiplier: float = Field(default=1.0, ge=0)


class ChangeWeights(Strict):
    """How the re-sent records of a delivery split between the kinds of change (each kind drawn among the
    records it is possible for; see :mod:`synthetic.batches`)."""

    postcode: float = Field(ge=0)  # moved, or a stale/mistyped/missing postcode brought up to date
    name: float = Field(ge=0)  # a keyboard or OCR slip in the name corrected
    nino: float = Field(ge=0)  # an NI number added where the record had none


class BatchSettings(Strict):
    """``batches:``: how records change between monthly deliveries (``synth --batches K``)."""

    updated: UnitRate  # per delivery after the first: share of earlier-delivered live records re-sent
    deleted: UnitRate  # per delivery after the first: share of earlier-delivered live records deleted
    consent_withdrawn: UnitRate  # share of deletions whose reason is consent_withdrawn (else deleted)
    changes: ChangeWeights


class SynthSettings(Strict):
    reference_date: dt.date
    population: PopulationSettings
    services: dict[str, str]
    profiles: dict[str, Profile]
    default_errors: ErrorRates = Field(default_factory=ErrorRates)
    default_missing: MissingRates = Field(default_factory=MissingRates)
    partners: dict[str, PartnerSettings]
    employer_extracts: dict[str, EmployerExtractSettings] = Field(default_factory=dict)
    employers: EmployerRegistry = Field(default_factory=EmployerRegistry)
    batches: BatchSettings | None = None  # required only by ``synth --batches``
    config_file: str | None = Field(default=None, exclude=True)

    def errors_for(self, partner: str, profile: str) -> ErrorRates:
        merged = {**self.default_errors.model_dump(), **self.partners[partner].errors}
        return ErrorRates(**merged).scaled(self.profiles[profile].error_multiplier)

    def missing_for(self, partner: str, profile: str) -> MissingRates:
        merged = {**self.default_missing.model_dump(), **self.partners[partner].missing}
        return MissingRates(**merged).scaled(self.profiles[profile].missing_multiplier)


def _messages(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = {"extra_forbidden": "unknown key (check spelling)", "missing": "required key missing"}.get(
            err["type"], err["msg"]
        )
        out.append(f"{path}: {key}: {msg}")
    return out


def load_settings(path: Path, pace: PaceConfig, profile: str = "default") -> SynthSettings:
    """Read and validate ``config/synthetic.yaml`` and check it against the partner configs."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        settings = SynthSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_messages(path, exc))) from None
    settings.config_file = str(path)
    problems = check_against_sources(settings, pace.sources.items, path)
    if profile not in settings.profiles:
        problems.append(
            f"{path}: profiles: no profile named '{profile}' (have {', '.join(settings.profiles)})"
        )
    if problems:
        raise ConfigError("\n".join(problems))
    return settings


def check_against_sources(settings: SynthSettings, sources: list[SourceConfig], path: Path) -> list[str]:
    """Every configured source has generator settings whose columns agree with its mapping."""
    problems: list[str] = []
    by_name = {s.name: s for s in sources}
    for name in sorted(set(settings.partners) - set(by_name)):
        problems.append(f"{path}: partners.{name}: no config/partners file defines this source")
    for name, src in by_name.items():
        where = src.config_file or "config"
        part = settings.partners.get(name)
        if part is None:
            problems.append(f"{path}: partners: no generator settings for source '{name}' ({where})")
            continue
        if part.columns.get(src.record_id) != "record_id":
            problems.append(f"{path}: partners.{name}.columns.{src.record_id}: must hold record_id ({where})")
        for field, col in src.columns.items():
            if field not in LINKAGE_ATTRIBUTES:
                problems.append(f"{where}: columns.{field}: the generator cannot produce this field")
            elif part.columns.get(col) != field:
                problems.append(f"{path}: partners.{name}.columns.{col}: must hold {field} ({where})")
        for col, attr in part.columns.items():
            if attr in LINKAGE_ATTRIBUTES and src.columns.get(attr) != col:
                problems.append(
                    f"{path}: partners.{name}.columns.{col}: linkage attribute {attr} is not "
                    f"mapped to this column in {where}"
                )
        for key in part.errors:
            if key not in ErrorRates.model_fields:
                problems.append(f"{path}: partners.{name}.errors.{key}: unknown error type")
        for key in part.missing:
            if key not in MissingRates.model_fields:
                problems.append(f"{path}: partners.{name}.missing.{key}: unknown field")
        for svc in part.services:
            if svc not in settings.services:
                problems.append(f"{path}: partners.{name}.services: unknown service '{svc}'")
        for area in part.areas or []:
            if not area.isalpha():
                problems.append(f"{path}: partners.{name}.areas: not a postcode area")
    if settings.batches is not None and sum(settings.batches.changes.model_dump().values()) <= 0:
        problems.append(f"{path}: batches.changes: at least one weight must be positive")
    for svc in settings.population.service_propensity:
        if svc not in settings.services:
            problems.append(f"{path}: population.service_propensity.{svc}: unknown service")
    return problems
