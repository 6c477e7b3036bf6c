"""Configuration: pydantic models of ``config/*.yaml`` and the only place YAML is read.

A run is described by one top-level file (default ``config/pace.yaml``) that may ``include`` source
files (``config/partners/*.yaml``). Every model forbids unknown keys, and :func:`load_config` gathers
*all* mistakes before raising one :class:`~pace_linkage.errors.ConfigError` whose message has one
line per mistake, each naming the file and the dotted key (in the manner of Splink's ErrorLogger).

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
import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pace_linkage.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "pace.yaml"

FieldKind = Literal["nino", "name", "dob", "date", "postcode", "sex", "phone", "email", "text", "id", "org_name",
                    "company_number"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --------------------------------------------------------------------------------------------------
# Canonical fields
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Sources (one per partner extract)
# --------------------------------------------------------------------------------------------------
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


class SourceConfig(Strict):
    """One partner's extract: where it is, how to read it, and how its columns map to fields."""

    name: str  # short id used in outputs (source column); [a-z0-9_]
    label: str | None = None  # human name, e.g. "Skills Development Scotland"
    file: str  # file name or glob, relative to the extracts directory
    format: Literal["csv", "xlsx", "jsonl"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    sheet: str | int | None = None  # xlsx sheet name or index (default: first)
    record_id: str  # source column holding the partner's record id
    columns: dict[str, str] = Field(default_factory=dict)  # canonical field -> source column
    formats: dict[str, str] = Field(default_factory=dict)  # canonical field -> date format override
    duplicate_free: bool = False  # the partner guarantees one record per person
    # What the partner holds, for the report's "what each partner holds" section: data item -> the
    # partner's own column(s) holding it, e.g. {consent: [Consent_To_Share], name: [Forename, Surname]}.
    # Items are lower-case names (the study's items are listed in pace_linkage.study.holdings.STUDY_ITEMS);
    # completeness is the share of accepted rows with a value in any of the columns. A column missing
    # from the file is reported (item not held, with a warning), never a reason to fail the source.
    # Unset: the items implied by ``columns``.
    items: dict[str, list[str]] = Field(default_factory=dict)
    on_bad_encoding: Literal["fail", "quarantine"] = "fail"
    # An empty JSON-lines file (no header exists to say "zero rows") is an error by default, since it is more
    # often a failed export; a partner that sends an empty file for a month with no clients sets this.
    allow_empty: bool = False
    sharing: SharingAgreement | None = None
    config_file: str | None = Field(default=None, exclude=True)  # set by the loader, for messages

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not v.replace("_", "").isalnum() or not v.islower():
            raise ValueError("must be lower-case letters, digits and underscores")
        return v

    @field_validator("items")
    @classmethod
    def _items_named_with_columns(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for item, cols in v.items():
            if not item.replace("_", "").isalnum() or not item.islower():
                raise ValueError(f"item '{item}': must be lower-case letters, digits and underscores")
            if not cols or any(not str(c).strip() for c in cols):
                raise ValueError(f"item '{item}': list one or more non-empty column names")
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError("must be a single character")
        return v


class SourcesSection(Strict):
    include: list[str] = Field(default_factory=list)  # glob patterns relative to the config file
    items: list[SourceConfig] = Field(default_factory=list)  # inline sources


# --------------------------------------------------------------------------------------------------
# Linkage settings
# --------------------------------------------------------------------------------------------------
class BlockingRule(Strict):
    """Candidate pairs are record pairs that agree exactly on every column in ``on`` (nulls never
    agree), or, with ``window``, that sit within ``window`` places of each other when records are
    sorted by the concatenation of ``on`` (sorted neighbourhood)."""

    name: str
    on: list[str]
    window: int | None = Field(default=None, ge=2)


class LevelSpec(Strict):
    """One comparison level. ``type``:
      exact          columns equal (``column``)
      jaro_winkler   Jaro-Winkler similarity >= threshold
      levenshtein    edit distance <= threshold (integer)
      damerau        Damerau-Levenshtein (transpositions count 1) <= threshold
      jaccard        word-set Jaccard >= threshold
      weighted_jaccard  word-set Jaccard with each word weighted by its inverse document frequency among the
                     column's values in the records compared (common words such as THE or LTD count little)
      token_set      rapidfuzz token_set_ratio/100 >= threshold
      swapped        the pair's values agree when ``column`` and ``other`` are crossed
      date_swap      day and month swapped (dob/date kinds)
      date_diff      absolute difference in days <= threshold
      numeric_diff   absolute difference <= threshold
      prefix         first ``threshold`` characters equal
      dice           Dice coefficient of two Bloom-filter encodings (base64 text) >= threshold
    """

    type: Literal[
        "exact", "jaro_winkler", "levenshtein", "damerau", "jaccard", "weighted_jaccard", "token_set", "swapped",
        "date_swap", "date_diff", "numeric_diff", "prefix", "dice",
    ]
    column: str | None = None  # defaults to the comparison's column
    other: str | None = None  # for "swapped"
    threshold: float | None = None
    label: str | None = None
    tf: bool = False  # term-frequency adjust this level (exact levels only)


class ComparisonSpec(Strict):
    """A multi-level comparison of one field. Levels are tried in order; the first that holds is
    the pair's level. A null on either side is the ``null`` level (no evidence); if no level holds
    the pair is at the ``else`` level."""

    name: str
    column: str
    levels: list[LevelSpec]
    null_columns: list[str] | None = None  # null if any of these is null (default: [column])


class EMSettings(Strict):
    # rules: Splink-style, m by EM per blocking rule with that rule's own comparisons left out, u from
    # random pairs; candidates: one EM over all candidate pairs estimating m and u (fastLink/ECM style)
    method: Literal["rules", "candidates"] = "rules"
    max_iterations: int = Field(default=50, ge=1)
    tolerance: float = Field(default=1e-5, gt=0)
    u_sample_pairs: int = Field(default=1_000_000, ge=1000)
    prior: float | None = Field(default=None, gt=0, lt=1)  # fixed lambda; None = estimate


class ClusteringSettings(Strict):
    max_cluster_size: int = Field(default=50, ge=2)
    conflict_fields: list[str] = Field(default_factory=list)  # two different values => conflict
    # values of a conflict field within this many edits (Damerau-Levenshtein) of each other are one value
    # keyed twice, not two people (e.g. nino: 1 -- a mistyped digit or transposition)
    conflict_tolerance: dict[str, int] = Field(default_factory=dict)
    conflict_resolution: Literal["split", "flag"] = "split"


class LinkageSettings(Strict):
    link_type: Literal["link_and_dedupe", "link_only", "dedupe_only"] = "link_and_dedupe"
    max_pairs_per_rule: int = Field(default=50_000_000, ge=1)
    blocking: list[BlockingRule]
    comparisons: list[ComparisonSpec]
    em: EMSettings = Field(default_factory=EMSettings)
    # unsupervised: EM without labels (the default); supervised: m and u counted from candidate pairs
    # labelled by a truth file (synthetic truth or clerical review), when one is given
    training: Literal["unsupervised", "supervised"] = "unsupervised"
    threshold: float = Field(default=0.9, gt=0, lt=1)  # match probability for the chosen pace_id
    named_thresholds: dict[str, float] = Field(default_factory=dict)  # e.g. strict: 0.99
    clustering: ClusteringSettings = Field(default_factory=ClusteringSettings)
    # compare and score run on partitions of at most this many candidate pairs (pace_linkage.engine.partition),
    # one task each; results do not depend on it, so it is left out of config_hash (exclude=True)
    partition_pairs: int = Field(default=2_000_000, ge=100, exclude=True)


class DaskSettings(Strict):
    """The temporary Dask LocalCluster of ``pace-linkage run --task-runner dask`` (no ``--dask-address``):
    worker processes and threads per worker. Execution only: left out of config_hash."""

    n_workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)


class ReportSettings(Strict):
    small_count_threshold: int = Field(default=0, ge=0)  # counts below this shown as "*"
    # pairs just above and just below the threshold explained (waterfall, values masked); 0 = none
    explain_examples: int = Field(default=3, ge=0, le=50)
    # with truth: the highest-weighted false-positive and false-negative candidate pairs explained; 0 = none
    top_errors: int = Field(default=5, ge=0, le=50)
    title: str = "PACE linkage quality report"
    # statements about how this linkage treats its data, shown in the report as written (e.g. for employers:
    # how records at different sites were treated)
    notes: list[str] = Field(default_factory=list)


class KeySource(Strict):
    """Where the pseudonymisation key comes from -- never the key itself. ``env``: an environment variable
    holding >= 32 bytes as hex or base64; ``secret_block``: a Prefect Secret block name (resolved by the
    flow). Exactly one."""

    env: str | None = None
    secret_block: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> KeySource:
        if (self.env is None) == (self.secret_block is None):
            raise ValueError("give exactly one of env or secret_block")
        return self


class BloomSpec(Strict):
    """A field's Bloom-filter (CLK-style) encoding: ``l`` bits, ``bits_per_feature`` (k) keyed BLAKE2b
    positions per feature (clkhash's blakeHash), features = padded q-grams and/or position-tagged characters."""

    bits_per_feature: int = Field(ge=1, le=256)
    ngram: int = Field(default=2, ge=1, le=4)
    positional: bool = False  # add "position:character" features (for fixed-layout values: NINO, dates)


class Hardening(Strict):
    """Bloom-filter hardening (applied in this order): ``balance`` appends the complement and permutes the
    2l bits with a keyed permutation (exactly half the bits set); ``xor_fold`` XORs the two halves."""

    balance: bool = False
    xor_fold: bool = False


class PseudonymiseSettings(Strict):
    """Keyed pseudonymisation a partner applies before its extract leaves it (``pace_linkage.study.pseudonymise``).

    Every column of every configured field is replaced by an HMAC-SHA-256 token (64 hex) under a per-field
    HKDF key, except the fields in ``keep_plain``; fields in ``bloom`` also get a ``<field>_bf`` Bloom
    filter; dob/date fields get ``<field>_swap`` (the token of the date with day and month crossed).
    ``key_groups`` makes fields share one derived key (needed to compare across fields, e.g. first name
    and surname swapped)."""

    key: KeySource
    bloom_length: int = Field(default=1024, ge=64, le=8192)
    hash: Literal["blakeHash"] = "blakeHash"
    bloom: dict[str, BloomSpec] = Field(default_factory=dict)
    hardening: Hardening = Field(default_factory=Hardening)
    keep_plain: list[str] = Field(default_factory=lambda: ["sex"])
    key_groups: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("key", mode="before")
    @classmethod
    def _no_key_material(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError("a key must never be written in a config: name an environment variable "
                             "(key: {env: NAME}) or a Prefect Secret block (key: {secret_block: NAME})")
        return v

    @field_validator("bloom_length")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError("must be a power of two (blakeHash positions)")
        return v


# --------------------------------------------------------------------------------------------------
# Aggregate-only sharing (pace_linkage.study.aggregates): partners send counts, never records
# --------------------------------------------------------------------------------------------------
AggregateKind = Literal["month", "multi", "category", "council_area"]


class AggregateDimension(Strict):
    """One dimension partners count their clients by, from a data item of their ``items`` (the partner's own
    columns). ``kind``:
      month         YYYY-MM of a date (tried first: the source's ``formats[<item>]``, else the one format of its
                    dob/date fields); none/unparseable: unknown
      multi         several values per cell split on ``;`` ``,`` ``|``; a client counts once per value
      category      one value per cell, spacing and case variants merged; blank: none recorded
      council_area  council area of a postcode (pace_linkage.evaluate.groups); none/invalid: unknown
    """

    item: str
    kind: AggregateKind
    label: str | None = None  # heading in the report (default: from the dimension name)

    @field_validator("item")
    @classmethod
    def _item_is_identifier(cls, v: str) -> str:
        if not v.replace("_", "").isalnum() or not v.islower():
            raise ValueError("must be a data item name: lower-case letters, digits and underscores")
        return v


def _default_dimensions() -> dict[str, AggregateDimension]:
    return {"month": AggregateDimension(item="service_date", kind="month"),
            "service": AggregateDimension(item="services", kind="multi"),
            "outcome": AggregateDimension(item="outcome", kind="category"),
            "council_area": AggregateDimension(item="postcode", kind="council_area")}


class AggregatesSettings(Strict):
    """Aggregate-only sharing: the dimensions counted and the small-count threshold (cells 1..k-1 shown as
    ``*``, with secondary suppression so that totals cannot give them away)."""

    small_count_threshold: int = Field(default=10, ge=0)
    dimensions: dict[str, AggregateDimension] = Field(default_factory=_default_dimensions, min_length=1)

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, v: dict[str, AggregateDimension]) -> dict[str, AggregateDimension]:
        for name in v:
            if not name.replace("_", "").isalnum() or not name.islower():
                raise ValueError(f"dimension '{name}': must be lower-case letters, digits and underscores")
        return v


class PeopleLinkSettings(Strict):
    """People -> employers (an ``entity: employer`` config): how each person record's employer, as the partner
    wrote it, is matched to the linked employers (:mod:`pace_linkage.study.employers`)."""

    person_field: str = "employer"  # the person config's field holding the employer's name as written
    # person fields whose postcode area breaks ties between equally good employers (first one with a value;
    # fields the person config does not declare are skipped)
    postcode_fields: list[str] = Field(default_factory=lambda: ["employer_postcode", "postcode"])
    similarity_threshold: float = Field(default=0.9, gt=0, le=1)  # similar names: cores' token_sort_ratio/100
    first_word_similarity: float = Field(default=0.9, gt=0, le=1)  # ... and their first words' Jaro-Winkler
    max_word_employers: int = Field(default=200, ge=1)  # a word in more employer names proposes no candidates
    small_count_threshold: int = Field(default=10, ge=0)  # people counts 1..k-1 shown as "*"
    top_employers: int = Field(default=50, ge=1)  # employers listed in the report (all in the CSV)


class PaceConfig(Strict):
    entity: Literal["person", "employer"] = "person"
    id_column: str = "pace_id"
    seed: int = 42
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
        return _raise_if(problems, self)

    def derived_columns(self) -> set[str]:
        """Every column the normalise stage produces (what blocking and comparisons may use)."""
        suffixes = {
            "nino": ["", "_suffix"],
            "name": ["", "_canon", "_sound", "_initial"],
            "dob": ["", "_year", "_month", "_day"],
            "date": ["", "_year", "_month", "_day"],
            "postcode": ["", "_area", "_district", "_sector"],
            "org_name": ["", "_suffix", "_trading", "_core", "_first"],
            "company_number": ["", "_digits"],
        }
        cols: set[str] = set()
        for name, spec in self.fields.items():
            for s in suffixes.get(spec.kind, [""]):
                cols.add(name + s)
        if self.pseudonymise is not None:  # columns pseudonymise_records adds
            cols |= {f + "_bf" for f in self.pseudonymise.bloom}
            cols |= {f + "_swap" for f, spec in self.fields.items() if spec.kind in ("dob", "date")}
        return cols

    def hash(self) -> str:
        """Stable SHA-256 of the effective configuration (sources included)."""
        payload = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _raise_if(problems: list[str], value: Any) -> Any:
    if problems:
        raise ValueError("; ".join(problems))
    return value


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (YAML would silently keep the last one)."""

    def __init__(self, key: str, mark):
        super().__init__(problem=f"key '{key}' is given twice", problem_mark=mark)
        self.key = key


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 would read `on:`, `no`, `off` as booleans.) A key
    given twice in one mapping is an error, not a silent override."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(str(key), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list(_first)
    )


def _read_yaml(path: Path, errors: list[str]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(f"{path}: file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: cannot read ({type(exc).__name__})")
        return None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = f"key '{exc.key}' is given twice" if isinstance(exc, _DuplicateKey) else "invalid YAML"
        errors.append(f"{path}:{where}: {what}")
        return None


def _pydantic_messages(path: Path, exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        key = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check spelling)"
        elif err["type"] == "missing":
            msg = "required key missing"
        out.append(f"{path}: {key}: {msg}")
    return out


def load_source(path: Path, errors: list[str]) -> SourceConfig | None:
    data = _read_yaml(path, errors)
    if data is None:
        return None
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a mapping of source settings")
        return None
    try:
        src = SourceConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_messages(path, exc))
        return None
    src.config_file = str(path)
    return src


def load_config(path: str | os.PathLike | None = None) -> PaceConfig:
    """Read, include and validate the configuration; raise one ConfigError listing every mistake."""
    cfg_path = Path(path) if path else DEFAULT_CONFIG
    errors: list[str] = []
    data = _read_yaml(cfg_path, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg_path}: expected a mapping at the top level")

    sources_raw = data.get("sources", {})
    if isinstance(sources_raw, list):  # allow a plain list of inline sources
        sources_raw = {"items": sources_raw}
    included: list[SourceConfig] = []
    if isinstance(sources_raw, dict):
        for pattern in sources_raw.get("include", []) or []:
            matches = sorted(glob.glob(str(cfg_path.parent / pattern)))
            if not matches:
                errors.append(f"{cfg_path}: sources.include: '{pattern}' matches no file")
            for m in matches:
                src = load_source(Path(m), errors)
                if src is not None:
                    included.append(src)

    try:
        cfg = PaceConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_messages(cfg_path, exc))
        errors.extend(_partial_references(data, cfg_path, included))
        raise ConfigError("\n".join(errors)) from None

    cfg.config_file = str(cfg_path)
    for s in cfg.sources.items:
        s.config_file = str(cfg_path)
    cfg.sources.items = list(cfg.sources.items) + included
    errors.extend(check_references(cfg))
    if errors:
        raise ConfigError("\n".join(errors))
    return cfg


def _partial_references(data: dict, cfg_path: Path, included: list[SourceConfig]) -> list[str]:
    """Cross-checks on the sections that did validate, so that a config with both kinds of mistake is
    reported in one round. Sections that failed are stood in by empty defaults; only problems that the
    valid sections show on their own are returned."""
    from pydantic import TypeAdapter

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


def check_references(cfg: PaceConfig) -> list[str]:
    """Cross-checks pydantic cannot do alone: names exist, columns are produced, no duplicates."""
    errors: list[str] = []
    where = cfg.config_file or "config"
    names = [s.name for s in cfg.sources.items]
    if not names:
        errors.append(f"{where}: sources: no source configured")
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{where}: sources: source name '{dup}' is used more than once")
    for s in cfg.sources.items:
        for field in s.columns:
            if field not in cfg.fields:
                errors.append(f"{s.config_file}: columns.{field}: not a declared field (fields: {', '.join(cfg.fields)})")
        for field in s.formats:  # a declared field, or a data item of the source's (e.g. service_date)
            if field not in cfg.fields and field not in s.items:
                errors.append(f"{s.config_file}: formats.{field}: not a declared field or one of the source's items")
        for field in (s.sharing.allowed_fields or []) if s.sharing else []:
            if field not in cfg.fields:
                errors.append(f"{s.config_file}: sharing.allowed_fields: '{field}' is not a declared field")
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
    derived = cfg.derived_columns()
    for i, rule in enumerate(cfg.linkage.blocking):
        for col in rule.on:
            if col not in derived:
                errors.append(f"{where}: linkage.blocking.{i}.on: column '{col}' is not produced by any field")
    for i, comp in enumerate(cfg.linkage.comparisons):
        cols = [comp.column, *(comp.null_columns or [])]
        cols += [lv.column for lv in comp.levels if lv.column] + [lv.other for lv in comp.levels if lv.other]
        for col in cols:
            if col not in derived:
                errors.append(f"{where}: linkage.comparisons.{i}.column: '{col}' is not produced by any field")
        for j, lv in enumerate(comp.levels):
            needs = {"jaro_winkler", "levenshtein", "damerau", "jaccard", "weighted_jaccard", "token_set", "date_diff",
                     "numeric_diff", "prefix", "dice"}
            if lv.type in needs and lv.threshold is None:
                errors.append(f"{where}: linkage.comparisons.{i}.levels.{j}.threshold: required for type {lv.type}")
            if lv.type == "swapped" and not lv.other:
                errors.append(f"{where}: linkage.comparisons.{i}.levels.{j}.other: required for type swapped")
    for field in cfg.linkage.clustering.conflict_fields:
        if field not in derived:
            errors.append(f"{where}: linkage.clustering.conflict_fields: '{field}' is not produced by any field")
    if cfg.pseudonymise is not None:
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


# --------------------------------------------------------------------------------------------------
# Sharing scenarios (config/scenarios.yaml): named variations of a base config, compared in one report.
# pace_linkage.study.scenarios.apply_scenario applies them; flows/scenarios.py runs them.
# --------------------------------------------------------------------------------------------------
DEFAULT_SCENARIOS = DEFAULT_CONFIG.parent / "scenarios.yaml"


class ScenarioSpec(Strict):
    """One named sharing scenario: what the partners share, as transforms of a base config.

    Transforms (applied in this order by :func:`pace_linkage.study.scenarios.apply_scenario`):
      partners         only these sources take part (the others send nothing)
      withhold_fields  field -> partners that do not share it (``all``: no partner does)
      only_fields      every partner shares only these fields (of those it holds)
      consent          ``required``: each partner's ``items.consent`` column becomes its
                       ``sharing.consent_column`` (rows without consent are withheld); a partner that records
                       no consent shares as before
      mode             ``aggregates``: no linkage, partners send counts only (pace_linkage.study.aggregates)
    Restricting fields sets ``sharing.allowed_fields``; unshared fields are then never read, and blocking rules
    and comparisons on them find nulls (no pairs, no evidence).
    """

    name: str  # [a-z0-9_]; also the scenario's output folder OUT/<name>
    label: str
    description: str | None = None
    config: str = "pace.yaml"  # base config, relative to the scenarios file
    mode: Literal["linkage", "aggregates"] = "linkage"
    partners: list[str] | None = Field(default=None, min_length=1)
    withhold_fields: dict[str, list[str]] = Field(default_factory=dict)
    only_fields: list[str] | None = Field(default=None, min_length=1)
    consent: Literal["as_configured", "required"] = "as_configured"
    config_path: str | None = Field(default=None, exclude=True)  # the base config, resolved by load_scenarios

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not v.replace("_", "").isalnum() or not v.islower():
            raise ValueError("must be lower-case letters, digits and underscores")
        return v


class ScenariosConfig(Strict):
    """The scenarios file: the scenarios in report order and the one the others are compared against."""

    baseline: str = "full"
    scenarios: list[ScenarioSpec] = Field(min_length=1)
    config_file: str | None = Field(default=None, exclude=True)

    def get(self, name: str) -> ScenarioSpec:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise ConfigError(f"{self.config_file or 'scenarios'}: no scenario named '{name}' "
                          f"(scenarios: {', '.join(s.name for s in self.scenarios)})")


def load_scenarios(path: str | os.PathLike | None = None) -> ScenariosConfig:
    """Read and validate a scenarios file and every base config it names; one ConfigError lists every mistake
    (file and dotted key per line: unknown partner or field, duplicate name, missing baseline...)."""
    sc_path = Path(path) if path else DEFAULT_SCENARIOS
    errors: list[str] = []
    data = _read_yaml(sc_path, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if not isinstance(data, dict):
        raise ConfigError(f"{sc_path}: expected a mapping at the top level")
    try:
        doc = ScenariosConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_pydantic_messages(sc_path, exc))) from None
    doc.config_file = str(sc_path)
    bases: dict[str, PaceConfig | None] = {}
    for i, sc in enumerate(doc.scenarios):
        sc.config_path = str(sc_path.parent / sc.config)
        if sc.config_path not in bases:
            try:
                bases[sc.config_path] = load_config(sc.config_path)
            except ConfigError as exc:
                bases[sc.config_path] = None
                errors.extend(f"{sc_path}: scenarios.{i}.config: {line}" for line in str(exc).splitlines())
        base = bases[sc.config_path]
        if base is not None:
            errors.extend(_scenario_references(sc, base, f"{sc_path}: scenarios.{i}"))
    names = [s.name for s in doc.scenarios]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{sc_path}: scenarios: scenario name '{dup}' is used more than once")
    if doc.baseline not in names:
        errors.append(f"{sc_path}: baseline: '{doc.baseline}' is not a scenario (scenarios: {', '.join(names)})")
    elif doc.get(doc.baseline).mode != "linkage":
        errors.append(f"{sc_path}: baseline: '{doc.baseline}' must be a linkage scenario, not aggregates")
    if errors:
        raise ConfigError("\n".join(errors))
    return doc


def _scenario_references(sc: ScenarioSpec, base: PaceConfig, where: str) -> list[str]:
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
