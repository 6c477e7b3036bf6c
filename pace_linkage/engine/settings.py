"""Linkage settings: the models of a config's ``linkage:`` section, usable on their own from Python.

Blocking rules, comparisons and their levels, EM training, clustering and thresholds. Every model forbids
unknown keys. The engine reads only these (never the rest of a config), so a caller may build them in code::

    LinkageSettings(blocking=[BlockingRule(name="dob", on=["dob"])],
                    comparisons=[ComparisonSpec(name="surname", column="surname",
                                                levels=[LevelSpec(type="exact")])])
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pace_linkage.engine.levels import LEVEL_TYPES


class Strict(BaseModel):
    """A settings model that refuses unknown keys (a misspelt key is an error, never silently ignored). No
    number of a setting is NaN or infinite."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


# Limits: a value past one of these passes no sensible run, only a crash or a silent non-result (a MemoryError
# sampling 10^12 pairs, every record its own person at a threshold of 5). Each is far above any real use.
MAX_PAIRS = 1_000_000_000  # candidate pairs a blocking rule, a partition or u sampling may reach
MAX_U_SAMPLE_PAIRS = 100_000_000
MAX_ITERATIONS = 10_000
MAX_WINDOW = 10_000
MAX_CLUSTER_SIZE = 1_000_000
MAX_EDITS = 10
_LABEL = re.compile(r"[a-z0-9_]{1,63}")


def _probability(value: float) -> float:
    if not (math.isfinite(value) and 0 < value < 1):
        raise ValueError("must be a probability strictly between 0 and 1")
    return value


Probability = Annotated[float, AfterValidator(_probability)]  # a match probability threshold: 0 < t < 1


KeyTransform = Literal["exact", "prefix", "soundex", "set", "year", "month", "day", "month_day", "day_month_set"]
MAX_PREFIX = 100


class BlockingKey(Strict):
    """One part of a blocking key: a transform of a column (``column``), or of several for ``set`` (``columns``).
    The transforms (:mod:`pace_linkage.engine.keys`): ``exact`` (the value), ``prefix`` (its first ``length``
    characters), ``soundex`` (phonetic code), ``set`` (the columns' values in any order: first and last names
    swapped agree), ``year`` / ``month`` / ``day`` / ``month_day`` (parts of a date) and ``day_month_set`` (day and
    month in either order)."""

    transform: KeyTransform = "exact"
    column: str | None = None
    columns: list[str] | None = Field(default=None, min_length=2)
    length: int | None = Field(default=None, ge=1, le=MAX_PREFIX)

    @model_validator(mode="after")
    def _what_the_transform_needs(self) -> BlockingKey:
        if self.transform == "set":
            if self.columns is None or self.column is not None:
                raise ValueError("transform 'set' takes 'columns' (two or more), not 'column'")
        elif self.column is None or self.columns is not None:
            raise ValueError(f"transform '{self.transform}' takes one 'column', not 'columns'")
        if (self.length is not None) != (self.transform == "prefix"):
            raise ValueError("'length' goes with transform 'prefix' (and only there)")
        return self

    def source_columns(self) -> list[str]:
        """The record columns this key part reads."""
        return list(self.columns) if self.columns is not None else [str(self.column)]


class BlockingRule(Strict):
    """Candidate pairs are record pairs that agree on every key part in ``on`` (nulls never agree), or, with
    ``window``, that sit within ``window`` places of each other when records are sorted by those parts (sorted
    neighbourhood). A part is a column name (its exact value) or a :class:`BlockingKey` (a transform of a
    column: a prefix, a phonetic code, a year, names in any order ...)."""

    name: str
    on: list[str | BlockingKey] = Field(min_length=1)
    window: int | None = Field(default=None, ge=2, le=MAX_WINDOW)
    # a key value shared by more than this many records is too common to block on: those records get no pair
    # from this rule (other rules still pair them); bounds a broad rule's pairs by records x max_group / 2
    max_group: int | None = Field(default=None, ge=2, le=MAX_WINDOW)

    @model_validator(mode="after")
    def _group_limit_needs_groups(self) -> BlockingRule:
        if self.window and self.max_group:
            raise ValueError("max_group applies to exact-key rules, not to a sorted-neighbourhood window")
        return self

    def columns(self) -> list[str]:
        """Every record column the rule reads, in order, once each."""
        cols = [c for part in self.on for c in ([part] if isinstance(part, str) else part.source_columns())]
        return list(dict.fromkeys(cols))


class LevelSpec(Strict):
    """One comparison level. ``type`` names a registered level type (:data:`pace_linkage.engine.levels.LEVEL_TYPES`;
    each type's class there states its rule and what a level of it needs: a threshold, an ``other`` column)."""

    type: str
    column: str | None = None  # defaults to the comparison's column
    other: str | None = None  # for "swapped"
    threshold: float | None = Field(default=None, ge=0, le=1_000)  # a similarity (0..1), or characters/edits/days
    label: str | None = None
    tf: bool = False  # term-frequency adjust this level (exact and swapped levels only)

    @field_validator("type")
    @classmethod
    def _registered_type(cls, v: str) -> str:
        if v not in LEVEL_TYPES:
            raise ValueError(f"unknown level type '{v}' (known: {', '.join(LEVEL_TYPES)})")
        return v


class ComparisonSpec(Strict):
    """A multi-level comparison of one field. Levels are tried in order; the first that holds is
    the pair's level. A null on either side is the ``null`` level (no evidence); if no level holds
    the pair is at the ``else`` level."""

    name: str
    column: str
    levels: list[LevelSpec]
    null_columns: list[str] | None = None  # null if any of these is null (default: [column])

    def columns(self) -> list[str]:
        """Every record column the comparison reads (its column, null columns, level columns and others)."""
        cols = [self.column, *(self.null_columns or [])]
        cols += [lv.column for lv in self.levels if lv.column] + [lv.other for lv in self.levels if lv.other]
        return list(dict.fromkeys(cols))

    def level_problems(self) -> list[str]:
        """What the levels lack for their types, as ``levels.<j>.<key>: <what is wrong>`` lines."""
        return [f"levels.{j}.{p}" for j, lv in enumerate(self.levels) for p in LEVEL_TYPES[lv.type].problems(lv)]


class PriorRules(Strict):
    """The prior from deterministic rules (Splink's ``estimate_probability_two_random_records_match``): the
    record pairs agreeing on at least one of ``rules`` are taken as matches, and ``recall`` is the share of all
    true matches the user believes they find; lambda = those pairs / ``recall`` / all record pairs."""

    rules: list[BlockingRule] = Field(min_length=1)
    recall: float = Field(gt=0, le=1)


class EMSettings(Strict):
    # rules: Splink-style, m by EM per training session (each blocking rule, or each of ``sessions``) with that
    # rule's own comparisons left out, u from random pairs; candidates: one EM over all candidate pairs
    # estimating m and u (fastLink/ECM style)
    method: Literal["rules", "candidates"] = "rules"
    max_iterations: int = Field(default=50, ge=1, le=MAX_ITERATIONS)
    tolerance: float = Field(default=1e-5, gt=0, lt=1)
    u_sample_pairs: int = Field(default=1_000_000, ge=1000, le=MAX_U_SAMPLE_PAIRS)
    prior: float | None = Field(default=None, gt=0, lt=1)  # fixed lambda; None = estimate
    # the prior from deterministic rules with a stated recall, instead of EM (None: EM, or ``prior`` if set)
    prior_rules: PriorRules | None = None
    # training rules apart from the prediction rules: one EM session on the pairs each rule blocks among ALL the
    # records (not only the candidate pairs); None = one session per blocking rule on the candidates it holds
    sessions: list[BlockingRule] | None = Field(default=None, min_length=1)
    # a session is dropped (with a warning naming it) when its lambda runs to the edge: EM left fewer than this
    # many expected pairs in one class, e.g. lambda above 1 - 1/pairs (every pair of the block a match: a broad,
    # household-like rule collapses so, and EM cannot tell it from a block of matches only); 0 turns it off
    min_class_pairs: float = Field(default=1.0, ge=0, le=MAX_PAIRS)
    # ... or when the m of a comparison's first (strictest) agreement level falls below its u: the "match"
    # class agrees less than random pairs do, so EM separated something else than matches
    check_m_above_u: bool = True

    @model_validator(mode="after")
    def _one_prior(self) -> EMSettings:
        if self.prior is not None and self.prior_rules is not None:
            raise ValueError("give either a fixed 'prior' or 'prior_rules', not both")
        return self

    def rules(self) -> list[BlockingRule]:
        """The rules training reads besides the blocking rules: the sessions', then the prior's."""
        return [*(self.sessions or []), *(self.prior_rules.rules if self.prior_rules else [])]


class ClusteringSettings(Strict):
    max_cluster_size: int = Field(default=50, ge=2, le=MAX_CLUSTER_SIZE)
    conflict_fields: list[str] = Field(default_factory=list)  # two different values => conflict
    # values of a conflict field within this many edits (Damerau-Levenshtein) of each other are one value
    # keyed twice, not two people (e.g. nino: 1 -- a mistyped digit or transposition)
    conflict_tolerance: dict[str, Annotated[int, Field(ge=0, le=MAX_EDITS)]] = Field(default_factory=dict)
    conflict_resolution: Literal["split", "flag"] = "split"


class LinkageSettings(Strict):
    link_type: Literal["link_and_dedupe", "link_only", "dedupe_only"] = "link_and_dedupe"
    max_pairs_per_rule: int = Field(default=50_000_000, ge=1, le=MAX_PAIRS)
    blocking: list[BlockingRule]
    comparisons: list[ComparisonSpec]
    em: EMSettings = Field(default_factory=EMSettings)
    # unsupervised: EM without labels (the default); supervised: m and u counted from candidate pairs
    # labelled by a truth file (synthetic truth or clerical review), when one is given
    training: Literal["unsupervised", "supervised"] = "unsupervised"
    threshold: float = Field(default=0.9, gt=0, lt=1)  # match probability for the chosen pace_id
    # more ids at other thresholds, each a column <id column>_<name>: e.g. strict: 0.99
    named_thresholds: dict[str, Probability] = Field(default_factory=dict)
    clustering: ClusteringSettings = Field(default_factory=ClusteringSettings)
    # compare and score run on partitions of at most this many candidate pairs (pace_linkage.engine.partition),
    # one task each; results do not depend on it, so it is left out of config_hash (exclude=True)
    partition_pairs: int = Field(default=2_000_000, ge=100, le=MAX_PAIRS, exclude=True)

    @field_validator("named_thresholds")
    @classmethod
    def _threshold_names(cls, v: dict[str, float]) -> dict[str, float]:
        for name in v:
            if not _LABEL.fullmatch(name):
                raise ValueError(f"name '{name[:63]}': must be lower-case letters, digits and underscores "
                                 "(it names a column)")
        return v

    def problems(self) -> list[str]:
        """What the comparisons' levels lack for their types, as ``comparisons.<i>.levels.<j>.<key>: <what is
        wrong>`` lines (a loaded config reports them with its file name; the engine refuses such settings)."""
        return [f"comparisons.{i}.{p}" for i, comp in enumerate(self.comparisons) for p in comp.level_problems()]
