"""What the feasibility study adds to a run's settings: keyed pseudonymisation (``pseudonymise:``),
aggregate-only sharing (``aggregates:``), linking people to employers (``people_link:``) and the sharing
scenarios file (``config/scenarios.yaml``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pace_linkage.config.fields import NAME_RULE, Name, is_name
from pace_linkage.engine.settings import Strict
from pace_linkage.errors import ConfigError

# a small-count threshold hides counts below it: past this, it hides every count a report could show
MAX_SMALL_COUNT = 1_000


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
        if not is_name(v):
            raise ValueError(f"must be a data item name: {NAME_RULE}")
        return v


def _default_dimensions() -> dict[str, AggregateDimension]:
    return {"month": AggregateDimension(item="service_date", kind="month"),
            "service": AggregateDimension(item="services", kind="multi"),
            "outcome": AggregateDimension(item="outcome", kind="category"),
            "council_area": AggregateDimension(item="postcode", kind="council_area")}


class AggregatesSettings(Strict):
    """Aggregate-only sharing: the dimensions counted and the small-count threshold (cells 1..k-1 shown as
    ``*``, with secondary suppression so that totals cannot give them away)."""

    small_count_threshold: int = Field(default=10, ge=0, le=MAX_SMALL_COUNT)
    dimensions: dict[str, AggregateDimension] = Field(default_factory=_default_dimensions, min_length=1)

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, v: dict[str, AggregateDimension]) -> dict[str, AggregateDimension]:
        for name in v:
            if not is_name(name):
                raise ValueError(f"dimension '{name}': must be {NAME_RULE}")
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
    max_word_employers: int = Field(default=200, ge=1, le=1_000_000)  # a word in more names proposes no candidates
    small_count_threshold: int = Field(default=10, ge=0, le=MAX_SMALL_COUNT)  # people counts 1..k-1 shown as "*"
    top_employers: int = Field(default=50, ge=1, le=100_000)  # employers listed in the report (all in the CSV)


# --------------------------------------------------------------------------------------------------
# Sharing scenarios (config/scenarios.yaml): named variations of a base config, compared in one report.
# pace_linkage.study.scenarios.apply_scenario applies them; flows/scenarios.py runs them.
# --------------------------------------------------------------------------------------------------
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

    name: Name  # [a-z0-9_]; also the scenario's output folder OUT/<name>
    label: str
    description: str | None = None
    config: str = "pace.yaml"  # base config, relative to the scenarios file
    mode: Literal["linkage", "aggregates"] = "linkage"
    partners: list[str] | None = Field(default=None, min_length=1)
    withhold_fields: dict[str, list[str]] = Field(default_factory=dict)
    only_fields: list[str] | None = Field(default=None, min_length=1)
    consent: Literal["as_configured", "required"] = "as_configured"
    config_path: str | None = Field(default=None, exclude=True)  # the base config, resolved by load_scenarios


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

