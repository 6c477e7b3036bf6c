"""Comparison level types: one small class per type, all registered here in :data:`LEVEL_TYPES`.

A level of a comparison (:class:`pace_linkage.engine.settings.LevelSpec`) names its type. The type says what the
level needs (a threshold, a whole-number threshold, an ``other`` column), the level's default label in the
model and the report, and ``holds``: for arrays of record positions ``l`` and ``r``, whether the level holds
for each pair, computed over whole columns from a :class:`~pace_linkage.engine.columns.ColumnCache`. A level
whose own column is null on either side does not hold.

Adding a level type is one class in this module, decorated with :func:`register`: the settings validate
``type`` against the registry, compare dispatches through it, and labels come from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

if TYPE_CHECKING:
    from pace_linkage.engine.columns import ColumnCache


class Level(Protocol):
    """What a level type reads from a level's settings."""

    type: str
    column: str | None
    other: str | None
    threshold: float | None
    label: str | None


class LevelType:
    """A comparison level type. Subclasses set ``name`` and what a level of the type needs, and implement
    :meth:`holds`."""

    name: ClassVar[str]
    needs_threshold: ClassVar[bool] = False
    whole_threshold: ClassVar[bool] = False  # the threshold counts characters or edits
    max_threshold: ClassVar[float | None] = None  # 1 for a similarity score
    needs_other: ClassVar[bool] = False  # a second column (``other``)
    term_frequency: ClassVar[bool] = False  # ``tf: true`` allowed (the pair's value is one value)
    # whether a pair's verdict reads the pair's two records only (False: it also reads the other records'
    # values, e.g. word weights), so that comparing a sub-frame holding both records gives the same verdict
    pairwise: ClassVar[bool] = True

    def label(self, level: Level) -> str:
        """The level's own label, else the type and its threshold (``jaro_winkler 0.92``)."""
        return level.label or self.name + (f" {level.threshold:g}" if level.threshold is not None else "")

    def problems(self, level: Level) -> list[str]:
        """What the level lacks for its type, as ``<key>: <what is wrong>`` lines (none: it is complete)."""
        out = []
        if self.needs_threshold and level.threshold is None:
            out.append(f"threshold: required for type {self.name}")
        elif self.whole_threshold and level.threshold is not None and level.threshold != int(level.threshold):
            out.append(f"threshold: must be a whole number for type {self.name}")
        elif self.max_threshold is not None and level.threshold is not None and level.threshold > self.max_threshold:
            out.append(f"threshold: must be at most {self.max_threshold:g} for type {self.name} (a similarity)")
        if self.needs_other and not level.other:
            out.append(f"other: required for type {self.name}")
        return out

    def holds(self, cache: ColumnCache, level: Level, column: str, l_: np.ndarray, r_: np.ndarray) -> np.ndarray:
        """Boolean per pair (``l_[i]``, ``r_[i]``): does the level hold? ``column``: the level's column."""
        raise NotImplementedError


LEVEL_TYPES: dict[str, LevelType] = {}


def register(cls: type[LevelType]) -> type[LevelType]:
    """Class decorator: add a level type to :data:`LEVEL_TYPES` under its ``name``."""
    if cls.name in LEVEL_TYPES:
        raise ValueError(f"level type '{cls.name}' is registered twice")
    LEVEL_TYPES[cls.name] = cls()
    return cls


# --------------------------------------------------------------------------------------------------
# Equality of codes
# --------------------------------------------------------------------------------------------------
@register
class Exact(LevelType):
    """The two values are equal."""

    name = "exact"
    term_frequency = True

    def holds(self, cache, level, column, l_, r_):
        c = cache.codes(column)
        cl, cr = c[l_], c[r_]
        return (cl == cr) & (cl >= 0)


@register
class Prefix(LevelType):
    """The first ``threshold`` characters are equal."""

    name = "prefix"
    needs_threshold = True
    whole_threshold = True

    def holds(self, cache, level, column, l_, r_):
        c = cache.prefix_codes(column, int(level.threshold))
        cl, cr = c[l_], c[r_]
        return (cl == cr) & (cl >= 0)


@register
class Swapped(LevelType):
    """The values agree when ``column`` and ``other`` are crossed (l.column == r.other and l.other ==
    r.column), e.g. first name and surname swapped. With a ``threshold``, both crossed pairs need only be
    that alike by Jaro-Winkler (names swapped and mistyped)."""

    name = "swapped"
    needs_other = True
    max_threshold = 1.0
    # the pair's value is one value (l.column, equal to r.other): a swap of a common name is weak evidence,
    # as the same names entered the right way round are
    term_frequency = True

    def holds(self, cache, level, column, l_, r_):
        ca, cb = cache.joint_codes(column, level.other)
        x, y, u, v = ca[l_], cb[r_], cb[l_], ca[r_]
        present = (x >= 0) & (y >= 0) & (u >= 0) & (v >= 0)
        out = present & (x == y) & (u == v)
        if level.threshold is None:
            return out
        t = level.threshold
        rest = np.flatnonzero(present & ~out)
        if len(rest):
            first = cache.joint_scores(column, level.other, x[rest], y[rest], JaroWinkler.similarity,
                                       score_cutoff=t) >= t
            keep = rest[first]
            second = cache.joint_scores(column, level.other, u[keep], v[keep], JaroWinkler.similarity,
                                        score_cutoff=t) >= t
            out[keep[second]] = True
        return out


# --------------------------------------------------------------------------------------------------
# Dates and numbers
# --------------------------------------------------------------------------------------------------
@register
class DateSwap(LevelType):
    """Same year, day and month crossed (and day != month): a date written the American way round."""

    name = "date_swap"

    def holds(self, cache, level, column, l_, r_):
        y, m, d, _ = cache.date_parts(column)
        return (y[l_] >= 0) & (y[l_] == y[r_]) & (m[l_] == d[r_]) & (d[l_] == m[r_]) & (m[l_] != d[l_])


@register
class DateDiff(LevelType):
    """The dates are at most ``threshold`` days apart."""

    name = "date_diff"
    needs_threshold = True

    def holds(self, cache, level, column, l_, r_):
        days = cache.date_parts(column)[3]
        diff = np.abs(days[l_] - days[r_])
        return np.nan_to_num(diff, nan=np.inf) <= level.threshold


@register
class NumericDiff(LevelType):
    """The numbers differ by at most ``threshold``."""

    name = "numeric_diff"
    needs_threshold = True

    def holds(self, cache, level, column, l_, r_):
        x = cache.numbers(column)
        return np.nan_to_num(np.abs(x[l_] - x[r_]), nan=np.inf) <= level.threshold


# --------------------------------------------------------------------------------------------------
# Similarities of the distinct values (equal values always hold)
# --------------------------------------------------------------------------------------------------
class SimilarityLevel(LevelType):
    """A level that scores the pairs whose values are both present and differ (:meth:`similar`); equal
    values hold whatever the score."""

    needs_threshold = True
    max_threshold = 1.0

    def similar(self, cache: ColumnCache, column: str, cl: np.ndarray, cr: np.ndarray, t: float) -> np.ndarray:
        """Boolean per code pair (both >= 0): is the pair similar enough at threshold ``t``?"""
        raise NotImplementedError

    def holds(self, cache, level, column, l_, r_):
        c = cache.codes(column)
        cl, cr = c[l_], c[r_]
        out = np.zeros(len(l_), dtype=bool)
        ok = (cl >= 0) & (cr >= 0)
        if not ok.any():
            return out
        cl, cr = cl[ok], cr[ok]
        same = cl == cr
        res = self.similar(cache, column, cl, cr, level.threshold)
        out[ok] = res | same
        return out


@register
class JaroWinklerLevel(SimilarityLevel):
    """Jaro-Winkler similarity >= ``threshold``."""

    name = "jaro_winkler"

    def similar(self, cache, column, cl, cr, t):
        return cache.string_scores(column, cl, cr, JaroWinkler.similarity, score_cutoff=t) >= t


@register
class LevenshteinLevel(SimilarityLevel):
    """Edit distance (insertions, deletions, substitutions) <= ``threshold``."""

    name = "levenshtein"
    whole_threshold = True
    max_threshold = None

    def similar(self, cache, column, cl, cr, t):
        return cache.string_scores(column, cl, cr, Levenshtein.distance, score_cutoff=int(t)) <= t


@register
class DamerauLevel(SimilarityLevel):
    """True Damerau-Levenshtein distance (a transposition of neighbours counts 1) <= ``threshold``."""

    name = "damerau"
    whole_threshold = True
    max_threshold = None

    def similar(self, cache, column, cl, cr, t):
        return cache.string_scores(column, cl, cr, DamerauLevenshtein.distance, score_cutoff=int(t)) <= t


@register
class TokenSetLevel(SimilarityLevel):
    """rapidfuzz ``token_set_ratio`` / 100 >= ``threshold`` (word order and repeated words do not matter)."""

    name = "token_set"

    def similar(self, cache, column, cl, cr, t):
        return cache.string_scores(column, cl, cr, fuzz.token_set_ratio) >= 100 * t


@register
class JaccardLevel(SimilarityLevel):
    """Jaccard similarity of the word sets >= ``threshold``."""

    name = "jaccard"

    def similar(self, cache, column, cl, cr, t):
        return cache.jaccard(column, cl, cr) >= t


@register
class WeightedJaccardLevel(SimilarityLevel):
    """Jaccard of the word sets with each word weighted by ``log(N / df)`` (N records with a value in the
    column, df of them holding the word) >= ``threshold``: common words such as THE or LTD count little."""

    name = "weighted_jaccard"
    pairwise = False  # the word weights come from every record's value

    def similar(self, cache, column, cl, cr, t):
        return cache.weighted_jaccard(column, cl, cr) >= t


@register
class DiceLevel(SimilarityLevel):
    """Dice coefficient ``2|A&B| / (|A|+|B|)`` of two Bloom-filter encodings (base64 text) >= ``threshold``."""

    name = "dice"

    def similar(self, cache, column, cl, cr, t):
        return cache.dice(column, cl, cr) >= t
